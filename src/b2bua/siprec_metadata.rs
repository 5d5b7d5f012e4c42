//! The bodies of a SIPREC recording session (RFC 7866 §8, RFC 7865): the SDP offer with one
//! `sendonly` m-line per direction, labelled; the `application/rs-metadata+xml` document that
//! says who sends which stream; both in one `multipart/mixed` body; and reading the recording
//! server's answer (an SDP, bare or inside a multipart body) back into a destination per label.
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::sip::sdp::{Attribute, Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription};

/// The media type of the metadata part (RFC 7866 §12.1).
pub const METADATA_TYPE: &str = "application/rs-metadata+xml";
/// The XML namespace of RFC 7865 metadata.
const RS_NS: &str = "urn:ietf:params:xml:ns:recording:1";
/// Our own namespace for what RFC 7865 has no element for (the call's id).
const NCGW_NS: &str = "urn:x-ncgw:recording:1";

/// The labels of the two streams: 1 carries what the caller sends, 2 what the callee sends.
pub const LABELS: [&str; 2] = ["1", "2"];

/// One direction of the call as the recording server is offered it.
#[derive(Debug, Clone)]
pub struct StreamFormat {
    /// Payload types with their `rtpmap`/`fmtp` lines, from the SDP of the side that sends.
    pub formats: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl StreamFormat {
    /// The formats of the relayed m-line `m` of a side's SDP and the lines that describe them.
    pub fn of(m: &MediaDescription) -> StreamFormat {
        let keep = |a: &Attribute| match a.name.as_str() {
            "rtpmap" | "fmtp" => a.value.as_deref().and_then(|v| v.split_whitespace().next()).is_some_and(|pt| m.formats.iter().any(|f| f == pt)),
            "ptime" | "maxptime" => true,
            _ => false,
        };
        StreamFormat { formats: m.formats.clone(), attributes: m.attributes.iter().filter(|a| keep(a)).cloned().collect() }
    }

    /// PCMA alone: what a call whose SDP is unknown to us is offered as.
    pub fn fallback() -> StreamFormat {
        StreamFormat { formats: vec!["8".into()], attributes: vec![Attribute::new("rtpmap", "8 PCMA/8000")] }
    }
}

/// Who the recorded call is between, for the metadata.
#[derive(Debug, Clone)]
pub struct Participants<'a> {
    /// The call's id (our label), never a SIP Call-ID or an address of a leg.
    pub call_label: &'a str,
    /// The customer's number as the dialplan normalised it.
    pub caller: &'a str,
    /// The callee's number, or the agent's id for a queued call.
    pub callee: &'a str,
    /// Our host toward the recording server, for AORs that are not numbers.
    pub domain: &'a str,
    /// Wall-clock time of the answer.
    pub unix_ms: i64,
}

/// The SDP offer: one `sendonly` audio m-line per direction at our fork addresses.
pub fn offer(local: [SocketAddr; 2], streams: &[StreamFormat; 2], session_id: u64) -> SessionDescription {
    let ip = local[0].ip();
    let addrtype = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = SessionDescription::new(Origin { addrtype: addrtype.into(), ..Origin::new("ncgw", session_id, ip.to_string()) }, "SIPREC");
    sdp.connection = Some(Connection { addrtype: addrtype.into(), ..Connection::new(ip.to_string()) });
    for (i, s) in streams.iter().enumerate() {
        let mut m = MediaDescription::new(MediaKind::Audio, local[i].port(), Proto::from_token("RTP/AVP"), s.formats.clone());
        if local[i].ip() != ip {
            m.connections.push(Connection { addrtype: addrtype.into(), ..Connection::new(local[i].ip().to_string()) });
        }
        m.attributes.extend(s.attributes.iter().cloned());
        m.attributes.push(Attribute::new("label", LABELS[i]));
        m.attributes.push(Attribute::flag("sendonly"));
        sdp.media.push(m);
    }
    sdp
}

/// A stable identifier for the metadata (RFC 7865 §6: a UUID in base64), derived from the call
/// so the same call always gets the same ids and nothing of its addresses shows.
fn id(call: &str, what: &str) -> String {
    let digest = Sha256::digest(format!("ncgw-siprec|{call}|{what}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..16])
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A participant's address of record: `tel:` for a global number, a SIP URI on our domain else.
fn aor(who: &str, domain: &str) -> String {
    let digits = who.strip_prefix('+').unwrap_or(who);
    if who.starts_with('+') && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("tel:{who}")
    } else if who.is_empty() {
        "sip:anonymous@anonymous.invalid".to_owned()
    } else {
        let user: String = who.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(*c)).collect();
        format!("sip:{user}@{domain}")
    }
}

/// RFC 3339 UTC time of a Unix time in milliseconds.
pub fn utc(unix_ms: i64) -> String {
    crate::civil_time::utc(unix_ms)
}

/// The RFC 7865 metadata: one group and session, the two participants, the two streams by
/// label, and who sends and receives which.
pub fn metadata(p: &Participants<'_>) -> String {
    let call = p.call_label;
    let (group, session) = (id(call, "group"), id(call, "session"));
    let parts = [id(call, "participant-caller"), id(call, "participant-callee")];
    let streams = [id(call, "stream-1"), id(call, "stream-2")];
    let at = utc(p.unix_ms);
    let mut x = String::with_capacity(2048);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
    x.push_str(&format!("<recording xmlns=\"{RS_NS}\">\r\n  <datamode>complete</datamode>\r\n"));
    x.push_str(&format!("  <group group_id=\"{group}\">\r\n    <associate-time>{at}</associate-time>\r\n  </group>\r\n"));
    x.push_str(&format!("  <session session_id=\"{session}\">\r\n    <group-ref>{group}</group-ref>\r\n    <start-time>{at}</start-time>\r\n"));
    x.push_str(&format!("    <ncgw:call-id xmlns:ncgw=\"{NCGW_NS}\">{}</ncgw:call-id>\r\n  </session>\r\n", xml_escape(call)));
    x.push_str(&format!("  <sessionrecordingassoc session_id=\"{session}\">\r\n    <associate-time>{at}</associate-time>\r\n  </sessionrecordingassoc>\r\n"));
    for (pid, who) in parts.iter().zip([p.caller, p.callee]) {
        x.push_str(&format!("  <participant participant_id=\"{pid}\">\r\n    <nameID aor=\"{}\"/>\r\n  </participant>\r\n", xml_escape(&aor(who, p.domain))));
        x.push_str(&format!(
            "  <participantsessionassoc participant_id=\"{pid}\" session_id=\"{session}\">\r\n    <associate-time>{at}</associate-time>\r\n  </participantsessionassoc>\r\n"
        ));
    }
    for (sid, label) in streams.iter().zip(LABELS) {
        x.push_str(&format!("  <stream stream_id=\"{sid}\" session_id=\"{session}\">\r\n    <label>{label}</label>\r\n  </stream>\r\n"));
    }
    for (i, pid) in parts.iter().enumerate() {
        x.push_str(&format!(
            "  <participantstreamassoc participant_id=\"{pid}\">\r\n    <send>{}</send>\r\n    <recv>{}</recv>\r\n  </participantstreamassoc>\r\n",
            streams[i],
            streams[1 - i]
        ));
    }
    x.push_str("</recording>\r\n");
    x
}

/// `multipart/mixed` (RFC 2046 §5.1) of the SDP offer and the metadata; returns the body and
/// the Content-Type value with its boundary.
pub fn multipart(sdp: &SessionDescription, metadata: &str, boundary: &str) -> (Vec<u8>, String) {
    let mut body = Vec::with_capacity(4096);
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/sdp\r\n\r\n").as_bytes());
    body.extend_from_slice(&sdp.to_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: {METADATA_TYPE}\r\nContent-Disposition: recording-session\r\n\r\n").as_bytes());
    body.extend_from_slice(metadata.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/mixed;boundary={boundary}"))
}

/// The parts of a `multipart/*` body: each part's Content-Type (lower case, without parameters)
/// and content. Malformed input gives fewer parts, never a panic.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<(String, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d && (i == 0 || body[i - 1] == b'\n') {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        // The line break before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        let part = part.strip_suffix(b"\r\n").or_else(|| part.strip_suffix(b"\n")).unwrap_or(part);
        let Some(text_end) = find(part, b"\r\n\r\n").map(|p| (p, 4)).or_else(|| find(part, b"\n\n").map(|p| (p, 2))) else { continue };
        let head = String::from_utf8_lossy(&part[..text_end.0]);
        let content = &part[text_end.0 + text_end.1..];
        let ctype = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_else(|| "text/plain".to_owned());
        out.push((ctype, content));
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The SDP of the recording server's answer: the body itself, or the `application/sdp` part of
/// a multipart body. `None` when there is none or it does not parse.
pub fn answer_sdp(content_type: Option<&crate::sip::message::MediaType>, body: &[u8]) -> Option<SessionDescription> {
    let ct = content_type?;
    if ct.is_sdp() {
        return SessionDescription::parse(body).ok();
    }
    if ct.mtype.eq_ignore_ascii_case("multipart") {
        let boundary = ct.params.get("boundary").flatten()?.trim_matches('"').to_owned();
        let (_, sdp) = parts(body, &boundary).into_iter().find(|(t, _)| t == "application/sdp")?;
        return SessionDescription::parse(sdp).ok();
    }
    None
}

/// Where the recording server wants each stream (by `a=label`, else by m-line order); `None` for
/// a stream it declined with port 0 or left out.
pub fn destinations(answer: &SessionDescription) -> [Option<SocketAddr>; 2] {
    let mut out = [None, None];
    for (i, m) in answer.media.iter().enumerate() {
        let label = m.attributes.iter().find(|a| a.name == "label").and_then(|a| a.value.as_deref()).map(str::trim);
        let slot = match label {
            Some(l) => LABELS.iter().position(|x| *x == l),
            None => (i < 2).then_some(i),
        };
        let Some(slot) = slot else { continue };
        if m.port == 0 {
            out[slot] = None;
            continue;
        }
        let ip = answer.connection_for(m).and_then(|c| c.address.parse::<IpAddr>().ok());
        out[slot] = ip.filter(|ip| !ip.is_unspecified()).map(|ip| SocketAddr::new(ip, m.port));
    }
    out
}

#[cfg(test)]
#[path = "siprec_metadata_tests.rs"]
mod tests;

//! Codec offer/answer through the B2BUA: the offer we relay carries the offerer's codecs plus
//! those we can transcode to; the answer we return carries exactly one audio codec the offerer
//! offered (and its telephone-event), and [`plan_call`] decides copy or transcode per call.
//!
//! Sans-IO: SDP in, SDP and a [`MediaPlan`] out. Payload types, fmtp and ptime stay per leg.
use crate::b2bua::call::Side;
use crate::media::codec::{CodecConfig, CodecKind};
use crate::media::transcode::{plan_call, LegFormat, MediaPlan, OfferedCodec};
use crate::sip::sdp::{Attribute, AttributeSet, MediaDescription};

/// Cause code of a call refused or ended because the legs share no codec we can bridge.
pub const NO_COMMON_CODEC: &str = "media.no_common_codec";

/// Codecs we add to a relayed offer, each with the fmtp we ask for; ordered per offer by
/// [`extras_for`].
const EXTRAS: &[(CodecKind, &str)] = &[
    (CodecKind::Pcmu, ""),
    (CodecKind::Pcma, ""),
    (CodecKind::G722, ""),
    (CodecKind::Opus, "useinbandfec=1"),
    (CodecKind::AmrWb, ""),
    (CodecKind::Amr, ""),
];

/// Codec CPU per 20 ms frame, encode + decode, µs (the same figures `plan_call` uses).
fn cost(kind: CodecKind) -> u32 {
    match kind {
        CodecKind::Pcmu | CodecKind::Pcma => 2,
        CodecKind::G722 => 25,
        CodecKind::Amr => 125,
        CodecKind::Opus => 257,
        _ => 360,
    }
}

/// The payload types of an audio m-line as [`OfferedCodec`]s (static types resolved).
pub fn offered_codecs(m: &MediaDescription) -> Vec<OfferedCodec> {
    m.payload_types()
        .filter_map(|pt| {
            let map = m.codec(pt)?;
            let fmtp = m
                .fmtp(&pt.to_string())
                .map(|f| f.params.into_iter().map(|p| (p.name, p.value.unwrap_or_default())).collect())
                .unwrap_or_default();
            Some(OfferedCodec {
                pt,
                name: map.encoding,
                clock_rate: map.clock_rate,
                channels: map.channels.and_then(|c| u8::try_from(c).ok()),
                fmtp,
            })
        })
        .collect()
}

fn kind_of(c: &OfferedCodec) -> Option<CodecKind> {
    CodecKind::from_rtp_name(&c.name)
}

/// Whether a codec can be built (decoded and encoded) from what the SDP says.
fn buildable(c: &OfferedCodec) -> bool {
    CodecConfig::from_sdp(&c.name, c.clock_rate, c.channels, &c.fmtp).is_ok_and(|cfg| cfg.kind.is_supported())
}

/// What an offer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    /// At least one codec we can decode and encode: we add what we can transcode to.
    Transcodable,
    /// Only codecs we do not know (iLBC, GSM …): relayed untouched, the callee decides.
    PassThrough,
    /// Nothing usable at all (only EVS, or no audio codec): refused with 488.
    NoCommonCodec,
}

/// Classifies an offer's audio m-line.
pub fn classify(m: &MediaDescription) -> OfferKind {
    let codecs = offered_codecs(m);
    if codecs.iter().any(buildable) {
        return OfferKind::Transcodable;
    }
    let unknown_audio = codecs.iter().any(|c| kind_of(c).is_none());
    if unknown_audio {
        OfferKind::PassThrough
    } else {
        OfferKind::NoCommonCodec
    }
}

/// The codecs to add to an offer whose best codec runs at `rate` Hz: no resampling first, then
/// the widest common band, then the least CPU.
fn extras_for(rate: u32) -> Vec<(CodecKind, &'static str)> {
    let mut v = EXTRAS.to_vec();
    v.sort_by_key(|(k, _)| (k.sample_rate() != rate, std::cmp::Reverse(k.sample_rate().min(rate)), cost(*k)));
    v
}

fn free_pt(m: &MediaDescription) -> Option<u8> {
    (96u8..=127).find(|pt| !m.formats.iter().any(|f| f == &pt.to_string()))
}

fn add_format(m: &mut MediaDescription, pt: u8, rtpmap: String, fmtp: &str) {
    m.formats.push(pt.to_string());
    m.attributes.push(Attribute::new("rtpmap", format!("{pt} {rtpmap}")));
    if !fmtp.is_empty() {
        m.attributes.push(Attribute::new("fmtp", format!("{pt} {fmtp}")));
    }
}

/// Adds to a relayed offer's audio m-line every codec we can transcode to (and a
/// telephone-event on each clock they need), after the offerer's own codecs so copying stays
/// first. EVS is dropped (no open implementation; AMR-WB is offered in its place).
pub fn extend_offer(m: &mut MediaDescription) {
    let codecs = offered_codecs(m);
    // Drop EVS: nobody can transcode it and a callee choosing it would leave the caller mute.
    for c in codecs.iter().filter(|c| kind_of(c) == Some(CodecKind::Evs)) {
        let pt = c.pt.to_string();
        m.formats.retain(|f| f != &pt);
        m.attributes.retain(|a| !(matches!(a.name.as_str(), "rtpmap" | "fmtp") && a.value.as_deref().is_some_and(|v| v.split(' ').next() == Some(pt.as_str()))));
    }
    let Some(best) = codecs.iter().find(|c| buildable(c)).and_then(kind_of) else { return };
    let mut have: Vec<CodecKind> = codecs.iter().filter(|c| buildable(c)).filter_map(kind_of).collect();
    for (kind, fmtp) in extras_for(best.sample_rate()) {
        if have.contains(&kind) {
            continue;
        }
        let pt = match kind.static_payload_type() {
            Some(pt) if !m.formats.iter().any(|f| f == &pt.to_string()) => pt,
            _ => match free_pt(m) {
                Some(pt) => pt,
                None => break,
            },
        };
        let rtpmap = match kind.rtp_channels() {
            1 => format!("{}/{}", kind.rtp_name(), kind.rtp_clock_rate()),
            n => format!("{}/{}/{n}", kind.rtp_name(), kind.rtp_clock_rate()),
        };
        add_format(m, pt, rtpmap, fmtp);
        have.push(kind);
    }
    let te_clocks: Vec<u32> = codecs.iter().filter(|c| kind_of(c) == Some(CodecKind::TelephoneEvent)).map(|c| c.clock_rate).collect();
    let mut needed: Vec<u32> = have.iter().map(|k| k.telephone_event_clock()).collect();
    needed.sort_unstable();
    needed.dedup();
    for clock in needed.into_iter().filter(|c| !te_clocks.contains(c)) {
        let Some(pt) = free_pt(m) else { break };
        add_format(m, pt, format!("telephone-event/{clock}"), "0-16");
    }
}

/// The media path of a call after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copy or transcode, with each side's format (side A in `a`).
    Plan(MediaPlan),
    /// The answer chose a codec we do not know but the offerer offered: relay it untouched.
    PassThrough,
    /// The answer leaves no path between the legs.
    NoCommonCodec,
}

/// The path between an offer from `offerer` and the answer to it.
pub fn plan(offer: &MediaDescription, answer: &MediaDescription, offerer: Side) -> Outcome {
    let (o, a) = (offered_codecs(offer), offered_codecs(answer));
    match plan_call(&o, offer.ptime(), &a, answer.ptime()) {
        Ok(p) => Outcome::Plan(match (p, offerer) {
            (p, Side::A) => p,
            (MediaPlan::Copy { a, b }, Side::B) => MediaPlan::Copy { a: b, b: a },
            (MediaPlan::Transcode { a, b }, Side::B) => MediaPlan::Transcode { a: b, b: a },
        }),
        Err(_) => {
            let first = a.iter().find(|c| kind_of(c) != Some(CodecKind::TelephoneEvent));
            let offered = first.is_some_and(|f| o.iter().any(|c| c.name.eq_ignore_ascii_case(&f.name) && c.clock_rate == f.clock_rate));
            if offered {
                Outcome::PassThrough
            } else {
                Outcome::NoCommonCodec
            }
        }
    }
}

/// The format of `side` in a plan.
pub fn format_of(plan: &MediaPlan, side: Side) -> &LegFormat {
    let (MediaPlan::Copy { a, b } | MediaPlan::Transcode { a, b }) = plan;
    match side {
        Side::A => a,
        Side::B => b,
    }
}

/// Narrows the answer we return to the offerer (already rewritten from the other side's
/// answer) to the one codec chosen from the offerer's offer, its telephone-event and ptime.
/// On a copy path, telephone-event stays only when the answerer took the offerer's own.
pub fn restrict_answer(m: &mut MediaDescription, offer: &MediaDescription, chosen: &LegFormat, copy: bool) {
    let offered = offered_codecs(offer);
    let answered_te: Vec<u8> = offered_codecs(m).iter().filter(|c| kind_of(c) == Some(CodecKind::TelephoneEvent)).map(|c| c.pt).collect();
    let te = chosen.telephone_event.filter(|(pt, _)| !copy || answered_te.contains(pt));
    m.formats.clear();
    m.attributes.retain(|a| !matches!(a.name.as_str(), "rtpmap" | "fmtp" | "ptime" | "maxptime"));
    let keep = [Some(chosen.pt), te.map(|(pt, _)| pt)];
    for pt in keep.into_iter().flatten() {
        let Some(c) = offered.iter().find(|c| c.pt == pt) else { continue };
        let rtpmap = match c.channels {
            Some(n) => format!("{}/{}/{n}", c.name, c.clock_rate),
            None => format!("{}/{}", c.name, c.clock_rate),
        };
        let fmtp: Vec<String> = c.fmtp.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect();
        add_format(m, pt, rtpmap, &fmtp.join(";"));
    }
    if offer.ptime().is_some() {
        m.attributes.push(Attribute::new("ptime", chosen.ptime_ms.to_string()));
    }
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;

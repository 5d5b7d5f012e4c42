//! Typed access to `a=` lines, shared by the session level and each media description.
//!
//! The attribute list stays the source of truth (so order and unknown attributes survive); these
//! helpers read it through the typed values in `attributes`, `ice` and `datachannel`. Attributes
//! whose value does not parse are skipped, not reported: one odd line from a peer must not fail
//! a call. Where a value may sit at either level (ICE credentials, fingerprint, setup), the
//! media-level accessor reads only the media level; `SessionDescription` has the fallbacks.

use super::attributes::{
    Crypto, Direction, Extmap, Fingerprint, Fmtp, Group, Rtcp, RtcpFb, Rtpmap, Setup, Ssrc,
};
use super::datachannel::{Dcmap, Dcsa};
use super::ice::Candidate;
use super::model::{Attribute, MediaDescription, SessionDescription};
use super::parse::{digits_u16, digits_u32, digits_u64};
use super::precondition::{Precondition, PreconditionKind};

/// Read and edit access to an ordered list of attributes.
pub trait AttributeSet {
    fn attributes(&self) -> &[Attribute];
    fn attributes_mut(&mut self) -> &mut Vec<Attribute>;

    /// The value of the first attribute with this name (`None` also for a flag).
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes()
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// Whether an attribute with this name is present (flag or property).
    fn has_attribute(&self, name: &str) -> bool {
        self.attributes().iter().any(|a| a.name == name)
    }

    /// The values of all attributes with this name, in order.
    fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .iter()
            .filter(move |a| a.name == name)
            .filter_map(|a| a.value.as_deref())
    }

    /// Appends an attribute.
    fn add_attribute(&mut self, attribute: Attribute) {
        self.attributes_mut().push(attribute);
    }

    /// Removes every attribute with this name; returns how many were removed.
    fn remove_attributes(&mut self, name: &str) -> usize {
        let list = self.attributes_mut();
        let before = list.len();
        list.retain(|a| a.name != name);
        before - list.len()
    }

    /// Replaces the first attribute with this name (removing the others), or appends it.
    fn set_attribute(&mut self, attribute: Attribute) {
        let list = self.attributes_mut();
        match list.iter().position(|a| a.name == attribute.name) {
            Some(i) => {
                let name = attribute.name.clone();
                list[i] = attribute;
                let mut seen = 0usize;
                list.retain(|a| {
                    if a.name != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => list.push(attribute),
        }
    }

    /// The direction attribute at this level, if any (the last one wins if a peer sent several).
    fn explicit_direction(&self) -> Option<Direction> {
        self.attributes().iter().rev().find_map(|a| {
            if a.value.is_none() {
                Direction::from_name(&a.name)
            } else {
                None
            }
        })
    }

    /// The direction at this level alone, sendrecv if none is given. For a media description
    /// inside a session use `SessionDescription::media_direction`, which also looks at the
    /// session level.
    fn direction(&self) -> Direction {
        self.explicit_direction().unwrap_or_default()
    }

    /// Replaces any direction attribute by `direction`, keeping the position of the first one.
    fn set_direction(&mut self, direction: Direction) {
        let list = self.attributes_mut();
        let is_dir = |a: &Attribute| a.value.is_none() && Direction::from_name(&a.name).is_some();
        let new = Attribute::flag(direction.as_str());
        match list.iter().position(is_dir) {
            Some(i) => {
                list[i] = new;
                let mut index = 0usize;
                list.retain(|a| {
                    index += 1;
                    index - 1 == i || !is_dir(a)
                });
            }
            None => list.push(new),
        }
    }

    fn rtpmaps(&self) -> Vec<Rtpmap> {
        self.attribute_values("rtpmap")
            .filter_map(|v| Rtpmap::parse(v).ok())
            .collect()
    }

    /// The rtpmap of one payload type.
    fn rtpmap(&self, pt: u8) -> Option<Rtpmap> {
        self.attribute_values("rtpmap")
            .filter_map(|v| Rtpmap::parse(v).ok())
            .find(|r| r.payload_type == pt)
    }

    /// The format parameters of one format (payload type as text, e.g. `"97"`).
    fn fmtp(&self, format: &str) -> Option<Fmtp> {
        self.attribute_values("fmtp")
            .filter_map(|v| Fmtp::parse(v).ok())
            .find(|f| f.format == format)
    }

    fn ptime(&self) -> Option<u32> {
        self.attribute("ptime").and_then(|v| digits_u32(v.trim()))
    }

    fn maxptime(&self) -> Option<u32> {
        self.attribute("maxptime")
            .and_then(|v| digits_u32(v.trim()))
    }

    fn rtcp(&self) -> Option<Rtcp> {
        self.attribute("rtcp").and_then(|v| Rtcp::parse(v).ok())
    }

    fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    fn rtcp_rsize(&self) -> bool {
        self.has_attribute("rtcp-rsize")
    }

    fn mid(&self) -> Option<&str> {
        self.attribute("mid").map(str::trim)
    }

    fn ssrcs(&self) -> Vec<Ssrc> {
        self.attribute_values("ssrc")
            .filter_map(|v| Ssrc::parse(v).ok())
            .collect()
    }

    /// `a=ssrc-group` lines (`FID` pairs a stream with its RTX stream).
    fn ssrc_groups(&self) -> Vec<Group> {
        self.attribute_values("ssrc-group")
            .filter_map(|v| Group::parse(v).ok())
            .collect()
    }

    /// `a=group` lines; BUNDLE lives at session level.
    fn groups(&self) -> Vec<Group> {
        self.attribute_values("group")
            .filter_map(|v| Group::parse(v).ok())
            .collect()
    }

    fn ice_ufrag(&self) -> Option<&str> {
        self.attribute("ice-ufrag").map(str::trim)
    }

    fn ice_pwd(&self) -> Option<&str> {
        self.attribute("ice-pwd").map(str::trim)
    }

    fn ice_lite(&self) -> bool {
        self.has_attribute("ice-lite")
    }

    /// `a=ice-options` tokens (`trickle`, `ice2`, …).
    fn ice_options(&self) -> Vec<&str> {
        self.attribute_values("ice-options")
            .flat_map(str::split_ascii_whitespace)
            .collect()
    }

    fn candidates(&self) -> Vec<Candidate> {
        self.attribute_values("candidate")
            .filter_map(|v| Candidate::parse(v).ok())
            .collect()
    }

    fn end_of_candidates(&self) -> bool {
        self.has_attribute("end-of-candidates")
    }

    fn fingerprints(&self) -> Vec<Fingerprint> {
        self.attribute_values("fingerprint")
            .filter_map(|v| Fingerprint::parse(v).ok())
            .collect()
    }

    fn setup(&self) -> Option<Setup> {
        self.attribute("setup").and_then(|v| Setup::parse(v).ok())
    }

    /// `a=tls-id` (RFC 8842).
    fn tls_id(&self) -> Option<&str> {
        self.attribute("tls-id").map(str::trim)
    }

    fn cryptos(&self) -> Vec<Crypto> {
        self.attribute_values("crypto")
            .filter_map(|v| Crypto::parse(v).ok())
            .collect()
    }

    /// All `curr`, `des` and `conf` lines, in order.
    fn preconditions(&self) -> Vec<Precondition> {
        self.attributes()
            .iter()
            .filter_map(|a| {
                let kind = match a.name.as_str() {
                    "curr" => PreconditionKind::Current,
                    "des" => PreconditionKind::Desired,
                    "conf" => PreconditionKind::Confirm,
                    _ => return None,
                };
                Precondition::parse(kind, a.value.as_deref()?).ok()
            })
            .collect()
    }

    fn rtcp_fbs(&self) -> Vec<RtcpFb> {
        self.attribute_values("rtcp-fb")
            .filter_map(|v| RtcpFb::parse(v).ok())
            .collect()
    }

    fn extmaps(&self) -> Vec<Extmap> {
        self.attribute_values("extmap")
            .filter_map(|v| Extmap::parse(v).ok())
            .collect()
    }

    fn sctp_port(&self) -> Option<u16> {
        self.attribute("sctp-port")
            .and_then(|v| digits_u16(v.trim()))
    }

    fn max_message_size(&self) -> Option<u64> {
        self.attribute("max-message-size")
            .and_then(|v| digits_u64(v.trim()))
    }

    fn dcmaps(&self) -> Vec<Dcmap> {
        self.attribute_values("dcmap")
            .filter_map(|v| Dcmap::parse(v).ok())
            .collect()
    }

    fn dcsas(&self) -> Vec<Dcsa> {
        self.attribute_values("dcsa")
            .filter_map(|v| Dcsa::parse(v).ok())
            .collect()
    }
}

impl AttributeSet for SessionDescription {
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    fn attributes_mut(&mut self) -> &mut Vec<Attribute> {
        &mut self.attributes
    }
}

impl AttributeSet for MediaDescription {
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    fn attributes_mut(&mut self) -> &mut Vec<Attribute> {
        &mut self.attributes
    }
}

impl MediaDescription {
    /// The formats that are RTP payload types (0..=127), in m-line order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| digits_u16(f))
            .filter_map(|v| u8::try_from(v).ok())
            .filter(|&v| v < 128)
    }

    /// The codec of a payload type: its `a=rtpmap`, else the RFC 3551 static assignment.
    pub fn codec(&self, pt: u8) -> Option<Rtpmap> {
        self.rtpmap(pt).or_else(|| Rtpmap::static_payload_type(pt))
    }
}

impl SessionDescription {
    /// The BUNDLE group's mids, if the session has one (RFC 9143).
    pub fn bundle(&self) -> Option<Vec<String>> {
        self.groups()
            .into_iter()
            .find(|g| g.semantics.eq_ignore_ascii_case("BUNDLE"))
            .map(|g| g.ids)
    }

    /// ICE ufrag for a media description: its own, else the session's.
    pub fn ice_ufrag_for<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a str> {
        media.ice_ufrag().or_else(|| self.ice_ufrag())
    }

    /// ICE password for a media description: its own, else the session's.
    pub fn ice_pwd_for<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a str> {
        media.ice_pwd().or_else(|| self.ice_pwd())
    }

    /// DTLS fingerprints for a media description: its own, else the session's.
    pub fn fingerprints_for(&self, media: &MediaDescription) -> Vec<Fingerprint> {
        let own = media.fingerprints();
        if own.is_empty() {
            self.fingerprints()
        } else {
            own
        }
    }

    /// DTLS setup role for a media description: its own, else the session's.
    pub fn setup_for(&self, media: &MediaDescription) -> Option<Setup> {
        media.setup().or_else(|| self.setup())
    }
}

//! Fuzz target for the SDP parser: no panics, writing is a fixed point, accessors never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::{Debug, Display};

use ncgw::sip::sdp::{
    AttributeSet, Candidate, Crypto, Dcmap, Dcsa, Extmap, Fingerprint, Fmtp, Group, Precondition,
    RtcpFb, Rtpmap, SessionDescription, Ssrc,
};

/// A typed value printed and parsed again is the same value (answers are built from them).
fn reprint<T, E>(values: Vec<T>, parse: impl Fn(&str) -> Result<T, E>)
where
    T: Display + Debug + PartialEq,
    E: Debug,
{
    for v in values {
        let text = v.to_string();
        let again = parse(&text).expect("a printed typed value parses");
        assert_eq!(again, v, "typed value changed when printed: {text:?}");
    }
}

fn exercise<A: AttributeSet>(a: &A) {
    reprint(a.rtpmaps(), Rtpmap::parse);
    reprint(a.candidates(), Candidate::parse);
    reprint(a.cryptos(), Crypto::parse);
    reprint(a.fingerprints(), Fingerprint::parse);
    reprint(a.groups(), Group::parse);
    reprint(a.ssrcs(), Ssrc::parse);
    reprint(a.rtcp_fbs(), RtcpFb::parse);
    reprint(a.extmaps(), Extmap::parse);
    reprint(a.dcmaps(), Dcmap::parse);
    reprint(a.dcsas(), Dcsa::parse);
    for p in a.preconditions() {
        reprint(vec![p.clone()], |t| Precondition::parse(p.kind, t));
    }
    let fmtps: Vec<Fmtp> = a.attribute_values("fmtp").filter_map(|v| Fmtp::parse(v).ok()).collect();
    reprint(fmtps, Fmtp::parse);
    for f in a.attribute_values("fmtp") {
        let format = f.split(' ').next().unwrap_or_default();
        let _ = a.fmtp(format);
    }
    let _ = (a.explicit_direction(), a.ptime(), a.maxptime(), a.rtcp(), a.rtcp_mux(), a.mid());
    let _ = (a.ssrcs(), a.ssrc_groups(), a.groups(), a.ice_ufrag(), a.ice_pwd(), a.ice_lite());
    let _ = (a.ice_options(), a.setup(), a.tls_id(), a.cryptos(), a.preconditions());
    let _ = (a.rtcp_fbs(), a.extmaps(), a.sctp_port(), a.max_message_size(), a.dcmaps(), a.dcsas());
    for c in a.candidates() {
        let _ = c.to_string();
    }
    for f in a.fingerprints() {
        let _ = f.bytes();
    }
    for c in a.cryptos() {
        let _ = c.inline_key();
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let first = sdp.to_bytes();
    let again = SessionDescription::parse(&first).expect("our own output must parse");
    let second = again.to_bytes();
    assert_eq!(first, second, "writing must be a fixed point");

    exercise(&sdp);
    let _ = sdp.bundle();
    for m in &sdp.media {
        exercise(m);
        let _ = (sdp.media_direction(m), sdp.connection_for(m), sdp.setup_for(m));
        let _ = (sdp.ice_ufrag_for(m), sdp.ice_pwd_for(m), sdp.fingerprints_for(m));
    }

    // Editing must keep the output parseable.
    let mut edited = sdp;
    edited.set_direction(ncgw::sip::sdp::Direction::SendOnly);
    if let Some(m) = edited.media.first_mut() {
        m.reject();
        m.set_direction(ncgw::sip::sdp::Direction::Inactive);
    }
    SessionDescription::parse(&edited.to_bytes()).expect("edited output must parse");
});

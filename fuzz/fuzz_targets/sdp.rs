//! Fuzz target for the SDP parser: no panics, writing is a fixed point, accessors never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncgw::sip::sdp::{AttributeSet, SessionDescription};

fn exercise<A: AttributeSet>(a: &A) {
    let _ = a.rtpmaps();
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

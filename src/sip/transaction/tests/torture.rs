//! Real and hostile traffic: the RFC 4475 torture messages and a captured IMS INVITE, fed to the
//! layer through the parser. Nothing may panic; what the layer refuses it refuses with a typed error.
use super::*;
use crate::sip::transaction::TxError;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn rfc4475_messages_never_panic_the_layer() {
    let dir = format!("{}/tests/fixtures/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("RFC 4475 corpus present")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "corpus has {} messages", files.len());
    let mut h = Harness::new();
    let (mut fed, mut refused) = (0, 0);
    for path in files {
        let buf = std::fs::read(&path).expect("readable fixture");
        let Ok(message) = Message::parse(&buf) else {
            continue;
        };
        fed += 1;
        // Twice: the second is a retransmission and must be absorbed or answered, not passed up.
        for _ in 0..2 {
            let now = h.now;
            let result = match message.clone() {
                Message::Request(r) => h.layer.handle_request(now, r, udp()),
                Message::Response(r) => h.layer.handle_response(now, r, udp()),
            };
            match result {
                Ok(()) => {}
                Err(
                    e @ (TxError::BadHeader(_)
                    | TxError::MethodMismatch { .. }
                    | TxError::InvalidStatus(_)),
                ) => {
                    assert!(e.is_bad_message());
                    refused += 1;
                }
                Err(e) => panic!("{}: unexpected {e}", path.display()),
            }
        }
        h.flush();
    }
    assert!(fed > 20 && refused > 0, "fed {fed}, refused {refused}");
    let passed_up = h
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Request { .. }))
        .count();
    assert_eq!(
        passed_up,
        h.layer.stats().server_invite + h.layer.stats().server_non_invite
    );
    // Everything the layer sent is a message that parses again.
    for (_, t) in &h.sent {
        Message::parse(&t.message.to_bytes()).expect("our responses parse");
    }
    // Unanswered server transactions wait for the TU; nothing else is left after every timer.
    h.run_until(secs(120.0));
    let stats = h.layer.stats();
    assert_eq!(stats.active(), passed_up);
    assert_eq!(stats.client_invite + stats.client_non_invite, 0);
}

#[test]
fn a_captured_ims_invite_gets_100_trying_with_its_vias() {
    let Ok(Message::Request(invite)) = Message::parse(&fixture("sip/ims_invite.sip")) else {
        panic!("fixture is a request")
    };
    let mut h = Harness::new();
    h.recv_request(invite.clone(), udp());
    let sent = h.take_sent();
    let [Transmit {
        message: Message::Response(trying),
        ..
    }] = &sent[..]
    else {
        panic!("expected 100 Trying, got {sent:?}")
    };
    assert_eq!(trying.status, 100);
    assert_eq!(
        trying.headers.vias().unwrap(),
        invite.headers.vias().unwrap()
    );
    assert_eq!(trying.headers.to_addr().unwrap().tag(), None);
    assert!(matches!(h.take_events()[..], [TxEvent::Request { .. }]));
}

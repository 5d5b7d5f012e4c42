//! Every RFC 4475 torture message sent over UDP to a running node: each request gets the right
//! final response, nothing gets an answer it should not, and the node still answers OPTIONS.
//! A Via of the test's own loopback socket (with rport) is put above the message's own Vias, so
//! every response stays on loopback: the corpus' documentation-range addresses get nothing.
use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use super::harness::{status_of, udp_exchange, TestNode};

/// The final status each file must get from this node, or `None` for no answer (responses, and
/// messages too broken to answer).
fn expected(file: &str) -> Option<u16> {
    Some(match file {
        // Well-formed (RFC 4475 §3.1.1): answered by method — an unauthenticated INVITE to a
        // number that is not public is challenged (407: the demo agents are SIP users from the
        // first start), a REGISTER without credentials is challenged (401), MESSAGE outside a
        // dialog is 405, an unknown method is 501, OPTIONS is 200.
        "TC_ESC01_V.dat" | "TC_LONGREQ_V.dat" | "TC_INV2543_I.dat" | "TC_SDP01_V.dat" => 407,
        // An escaped method (RE%47IST%45R) is not REGISTER: methods are never unescaped.
        "TC_INTMETH.dat" | "TC_ESC02_V.dat" => 501,
        // Its To carries a tag: a re-INVITE for a dialog we do not have (RFC 3261 §12.2.2).
        "TC_WSINV.dat" => 481,
        "TC_MPART01.dat" => 405,
        "TC_ESCNULL_V.dat" | "TC_DBLREQ.dat" => 401,
        "TC_LWSDISP_V.dat" | "TC_SEMIURI_V.dat" | "TC_TRANSPORTS_V.dat" => 200,
        // Responses are never answered.
        "TC_UNREASON_V.dat" | "TC_NOREASON_V.dat" | "TC_BCAST_V.dat" | "TC_BIGCODE_V.dat" | "TC_SCALARLG_V.dat" => return None,
        // Invalid (§3.1.2): 400, or 505 for the unknown version.
        "TC_BADVERS_V.dat" => 505,
        "TC_TEST_I.dat" => return None,
        "TC_BADINV01_I.dat" | "TC_CLERR_I.dat" | "TC_NCL_I.dat" | "TC_SCALAR02_V.dat" | "TC_QUOTBAL_I.dat"
        | "TC_LTGTRURI_I.dat" | "TC_LWSRURI_I.dat" | "TC_LWSSTART_V.dat" | "TC_TRWS_I.dat" | "TC_ESCRURI_V.dat"
        | "TC_BADDATE_V.dat" | "TC_REGBADCT_I.dat" | "TC_BADASPEC_I.dat" | "TC_BADDN_I.dat" | "TC_MISMATCH01_V.dat"
        | "TC_MISMATCH02_V.dat" => 400,
        // Semantically odd but parseable (§3.3): the application's answer.
        "TC_BADBRANCH_V.dat" | "TC_ZEROMF_V.dat" => 200,
        "TC_INSUF_I.dat" | "TC_MULTI01_I.dat" | "TC_MCL01_I.dat" => 400,
        // Request-URI schemes we cannot serve (nobodyKnowsThisScheme:, soap.beep:).
        "TC_UNKSCM_V.dat" | "TC_NOVELSC_V.dat" => 416,
        "TC_UNKSM2_V.dat" | "TC_REGAUT01_V.dat" | "TC_CPARAM01_V.dat" | "TC_CPARAM02_V.dat" | "TC_REGESCRT_V.dat" => 401,
        "TC_BEXT01_V.dat" => 420,
        "TC_INVUT_V.dat" => 415,
        other => panic!("no expectation for {other}"),
    })
}

/// Inserts our Via after the start line, keeping every other byte as it is.
fn with_our_via(data: &[u8], port: u16, n: usize) -> Vec<u8> {
    let end = data.windows(2).position(|w| w == b"\r\n").map_or(data.len(), |p| p + 2);
    let mut out = data[..end].to_vec();
    if end == data.len() && !data.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-torture-{n};rport\r\n").as_bytes());
    out.extend_from_slice(&data[end..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_corpus_over_udp() {
    // The 480s to the corpus INVITEs are never ACKed (we do not build ACKs for torture messages),
    // so their transactions would hold the drain; stop after one second instead.
    let node = TestNode::start_with(|s| s.drain_timeout = Duration::from_secs(1)).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rfc4475");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "dat")).collect();
    files.sort();
    assert_eq!(files.len(), 50, "the corpus has 50 messages");
    let target = node.sip;
    let results = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        // Every socket stays open to the end: a closed one's port could be reused and receive a
        // retransmission (Timer G) meant for an earlier file.
        let mut sockets = Vec::new();
        for (n, path) in files.iter().enumerate() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = sock.local_addr().unwrap().port();
            let data = with_our_via(&std::fs::read(path).unwrap(), port, n);
            let want = expected(&name);
            let wait = if want.is_some() { Duration::from_millis(600) } else { Duration::from_millis(250) };
            let replies = udp_exchange(&sock, target, &data, wait);
            let branch = format!("branch=z9hG4bK-torture-{n};");
            let got = replies
                .iter()
                .filter(|r| String::from_utf8_lossy(r).contains(&branch))
                .filter_map(|r| status_of(r))
                .find(|s| *s >= 200);
            results.push((name, want, got));
            sockets.push(sock);
        }
        results
    })
    .await
    .unwrap();
    let wrong: Vec<_> = results.iter().filter(|(_, want, got)| want != got).collect();
    assert!(wrong.is_empty(), "files whose answer differs (file, expected, got):\n{wrong:#?}");
    // The node is still up and answering.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let opt = format!("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKafter;rport\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: after@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    let replies = udp_exchange(&sock, target, opt.as_bytes(), Duration::from_millis(500));
    assert_eq!(replies.iter().filter_map(|r| status_of(r)).next(), Some(200));
    node.stop().await;
}

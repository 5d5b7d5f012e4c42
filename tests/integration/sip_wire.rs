//! SIP on the wire: SIPp OPTIONS over UDP and TCP, INVITE → 100 + 480 + ACK, and raw checks of
//! the node's answers, TCP framing and keepalives.
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use super::harness::{status_of, udp_exchange, TestNode};
use super::sipp::Sipp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_options_over_udp_and_tcp_get_200() {
    let node = TestNode::start().await;
    Sipp::new(Some(node.sip), "options.xml").args(&["-m", "5", "-t", "u1"]).run().await.assert_ok();
    Sipp::new(Some(node.sip), "options.xml").args(&["-m", "5", "-t", "t1"]).run().await.assert_ok();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_invite_gets_100_then_480_and_ack_absorbs_it() {
    let node = TestNode::start().await;
    // 95555 goes to the general queue in the shipped dialplan; with no agent logged in (or
    // outside its hours) and no G.711 in the offer to play the overflow prompt in: 480.
    let run = Sipp::new(Some(node.sip), "invite_480.xml").args(&["-m", "3", "-t", "u1", "-s", "95555"]).run().await;
    run.assert_ok();
    let trace = run.trace();
    let received: Vec<&str> = trace.iter().filter(|t| t.1 == "received").map(|t| t.2.as_str()).collect();
    // Per call: 100 then 480, and no 480 retransmission after our ACK (the scenario pauses 1.5 s).
    assert_eq!(received.iter().filter(|l| l.starts_with("SIP/2.0 100")).count(), 3, "{received:?}");
    assert_eq!(received.iter().filter(|l| l.starts_with("SIP/2.0 480")).count(), 3, "{received:?}");
    Sipp::new(Some(node.sip), "invite_480.xml").args(&["-m", "2", "-t", "t1", "-s", "95555"]).run().await.assert_ok();
    node.stop().await;
}

fn request(method: &str, extra: &str, port: u16, branch: &str) -> Vec<u8> {
    format!(
        "{method} sip:95555@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch};rport\r\nFrom: <sip:a@127.0.0.1>;tag=t1\r\nTo: <sip:95555@127.0.0.1>\r\nCall-ID: {branch}@test\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn final_status(replies: &[Vec<u8>]) -> Option<u16> {
    replies.iter().filter_map(|r| status_of(r)).find(|s| *s >= 200)
}

fn header<'a>(reply: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(reply).ok()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_per_rfc3261_section_8_2() {
    let node = TestNode::start().await;
    let to = node.sip;
    /// (method, extra headers, expected status, a header the answer must carry and a part of it)
    type Case<'a> = (&'a str, &'a str, u16, Option<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("OPTIONS", "", 200, Some(("Allow", "INVITE"))),
        ("FOO", "", 501, Some(("Allow", "OPTIONS"))),
        ("REGISTER", "", 401, Some(("WWW-Authenticate", "Digest"))),
        ("SUBSCRIBE", "", 405, None),
        ("OPTIONS", "Require: 100rel, foo\r\n", 420, Some(("Unsupported", "100rel, foo"))),
        ("BYE", "", 481, None),
        ("CANCEL", "", 481, None),
        // 95555 is a queue; a queued caller is answered with our SDP, so an offer is required.
        ("INVITE", "", 488, None),
    ];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    for (i, (method, extra, want, hdr)) in cases.into_iter().enumerate() {
        let replies = udp_exchange(&sock, to, &request(method, extra, port, &format!("case{i}")), Duration::from_millis(400));
        assert_eq!(final_status(&replies), Some(want), "{method} {extra:?}");
        if let Some((name, contains)) = hdr {
            let last = replies.iter().find(|r| status_of(r) == Some(want)).unwrap();
            let v = header(last, name).unwrap_or_else(|| panic!("{name} missing for {method}"));
            assert!(v.contains(contains), "{name}: {v}");
        }
        if method == "INVITE" {
            assert_eq!(status_of(&replies[0]), Some(100), "100 Trying first");
            // ACK the 480 (same branch) so the transaction ends cleanly.
            sock.send_to(&request("ACK", "", port, &format!("case{i}")), to).unwrap();
        }
    }
    // Max-Forwards: 0 on anything but OPTIONS is 483.
    let mut msg = String::from_utf8(request("INVITE", "", port, "mf0")).unwrap();
    msg = msg.replace("Max-Forwards: 70", "Max-Forwards: 0");
    let replies = udp_exchange(&sock, to, msg.as_bytes(), Duration::from_millis(400));
    assert_eq!(final_status(&replies), Some(483));
    // Garbage with a readable Via gets 400 naming the fault; pure garbage gets nothing.
    let mut bad = String::from_utf8(request("OPTIONS", "", port, "bad")).unwrap();
    bad = bad.replace("CSeq: 7 OPTIONS", "CSeq: x OPTIONS");
    let replies = udp_exchange(&sock, to, bad.as_bytes(), Duration::from_millis(400));
    assert_eq!(final_status(&replies), Some(400));
    assert!(udp_exchange(&sock, to, b"\x00\x01garbage\r\n\r\n", Duration::from_millis(300)).is_empty());
    // Still alive.
    let replies = udp_exchange(&sock, to, &request("OPTIONS", "", port, "alive"), Duration::from_millis(400));
    assert_eq!(final_status(&replies), Some(200));
    node.stop().await;
}

fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let text = String::from_utf8_lossy(&buf).to_string();
        if text.matches("SIP/2.0 ").count() >= count {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).split("SIP/2.0 ").skip(1).map(|s| s.lines().next().unwrap_or("").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_framing_keepalive_and_connection_reuse() {
    let node = TestNode::start().await;
    let addr = node.sip;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let port = s.local_addr().unwrap().port();
        let tcp = |m: Vec<u8>| String::from_utf8(m).unwrap().replace("SIP/2.0/UDP", "SIP/2.0/TCP").into_bytes();
        // Two messages in one write.
        let mut both = tcp(request("OPTIONS", "", port, "one"));
        both.extend(tcp(request("FOO", "", port, "two")));
        s.write_all(&both).unwrap();
        let got = read_responses(&mut s, 2);
        assert_eq!(got, vec!["200 OK", "501 Not Implemented"]);
        // One message split across writes, with a keepalive ping in front (RFC 5626 §4.4.1).
        s.write_all(b"\r\n\r\n").unwrap();
        let mut pong = [0u8; 2];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"\r\n", "double-CRLF ping gets a CRLF pong");
        let msg = tcp(request("OPTIONS", "", port, "three"));
        let (a, b) = msg.split_at(37);
        s.write_all(a).unwrap();
        s.flush().unwrap();
        std::thread::yield_now();
        s.write_all(b).unwrap();
        assert_eq!(read_responses(&mut s, 1), vec!["200 OK"]);
        // An unreadable Content-Length cannot be framed: 400 naming the fault, then the stream is
        // closed because it cannot be re-synchronised.
        let bad = String::from_utf8(tcp(request("OPTIONS", "", port, "four"))).unwrap().replace("Content-Length: 0", "Content-Length: abc");
        s.write_all(bad.as_bytes()).unwrap();
        let got = read_responses(&mut s, 1);
        assert_eq!(got, vec!["400 Bad Request (bad Content-Length)"]);
        let mut rest = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "connection closed after the framing error");
    })
    .await
    .unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_node_refuses_new_invites_and_stops_when_transactions_end() {
    let node = TestNode::start_with(|s| s.t4 = Duration::from_millis(100)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    // An INVITE answered 488 (no offer) but not yet ACKed keeps a server transaction open (Timer G/H).
    let replies = udp_exchange(&sock, node.sip, &request("INVITE", "", port, "open1"), Duration::from_millis(300));
    assert_eq!(final_status(&replies), Some(488));
    let handle = node.handle.as_ref().unwrap();
    handle.commands().send(ncgw::runtime::Command::Shutdown).await.unwrap();
    let (code, body) = super::harness::admin_get(node.admin, "/healthz").await;
    assert_eq!((code, body.trim()), (503, "draining"));
    let replies = udp_exchange(&sock, node.sip, &request("INVITE", "", port, "new1"), Duration::from_millis(300));
    assert_eq!(final_status(&replies), Some(503), "a draining node refuses new calls");
    let refused = replies.iter().find(|r| status_of(r) == Some(503)).unwrap();
    assert_eq!(header(refused, "Retry-After"), Some("30"));
    // ACK both; with T4 = 100 ms Timer I ends them and the node stops without the drain timeout.
    for b in ["open1", "new1"] {
        sock.send_to(&request("ACK", "", port, b), node.sip).unwrap();
    }
    let TestNode { handle, .. } = node;
    tokio::time::timeout(Duration::from_secs(4), handle.unwrap().wait()).await.expect("node stopped once its transactions ended, before the 5 s drain timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_over_udp_and_tcp() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let node = TestNode::start_with(|s| s.sip_listen = vec!["[::1]:0".parse().unwrap()]).await;
    assert!(node.sip.is_ipv6());
    let addr = node.sip;
    tokio::task::spawn_blocking(move || {
        let sock = UdpSocket::bind("[::1]:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let msg = String::from_utf8(request("OPTIONS", "", port, "v6")).unwrap().replace("127.0.0.1", "[::1]");
        let replies = udp_exchange(&sock, addr, msg.as_bytes(), Duration::from_millis(500));
        assert_eq!(final_status(&replies), Some(200), "UDP over IPv6");
        let mut s = TcpStream::connect(addr).unwrap();
        let port = s.local_addr().unwrap().port();
        let msg = String::from_utf8(request("OPTIONS", "", port, "v6t")).unwrap().replace("127.0.0.1", "[::1]").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        s.write_all(msg.as_bytes()).unwrap();
        assert_eq!(read_responses(&mut s, 1), vec!["200 OK"], "TCP over IPv6");
    })
    .await
    .unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed() {
    let node = TestNode::start_with(|s| s.tcp_idle_timeout = Duration::from_secs(1)).await;
    let addr = node.sip;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = std::time::Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        // Blocks until the node closes the silent connection (EOF), at most 10 s.
        let n = s.read_to_end(&mut rest).expect("closed by the node, not timed out");
        (n, started.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(closed_after.0, 0);
    assert!(closed_after.1 >= Duration::from_millis(900) && closed_after.1 < Duration::from_secs(5), "closed after {:?}", closed_after.1);
    node.stop().await;
}

//! The registrar and digest authentication against SIPp's own digest client: a small UDP loop
//! drives `Registrar` directly (the node does not route REGISTER to it yet).
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ncgw::registrar::{Registrar, RegistrarConfig, RegistrarEvent};
use ncgw::sip::auth::{Algorithm, AuthConfig, Authenticator, Credentials};
use ncgw::sip::message::Message;
use ncgw::sip::peer::Peer;

use super::sipp::Sipp;

/// Serves REGISTER on a loopback UDP socket until `stop` is set; returns the events seen.
fn serve(sock: UdpSocket, config: AuthConfig, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<RegistrarEvent>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut reg = Registrar::new(RegistrarConfig::default());
        let mut auth = Authenticator::with_config([5; 32], config, start);
        let lookup = |user: &str| (user == "1001").then(|| Credentials::from_password("1001", "ncgw", "pw1001"));
        let mut events = Vec::new();
        let mut buf = vec![0u8; 65536];
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("set timeout");
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
            let Ok(Message::Request(req)) = Message::parse(&buf[..n]) else { continue };
            let out = reg.handle_register(Instant::now(), &req, Peer::udp(from), &mut auth, lookup);
            events.extend(out.events);
            let _ = sock.send_to(&Message::Response(out.response).to_bytes(), from);
        }
        events
    })
}

fn run_against(config: AuthConfig) -> (Option<i32>, String, Vec<RegistrarEvent>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = sock.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(sock, config, stop.clone());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let run = rt.block_on(
        Sipp::new(Some(addr), "register_auth.xml").args(&["-m", "1", "-t", "u1", "-s", "1001", "-au", "1001", "-ap", "pw1001"]).run(),
    );
    stop.store(true, Ordering::Relaxed);
    let events = server.join().expect("server thread");
    (run.code, format!("{}\n{}", run.errors, run.messages), events)
}

#[test]
fn sipp_registers_and_unregisters_with_md5_digest() {
    let md5_only = AuthConfig { algorithms: vec![Algorithm::Md5], ..AuthConfig::default() };
    let (code, log, events) = run_against(md5_only);
    assert_eq!(code, Some(0), "{log}");
    assert!(matches!(&events[..], [RegistrarEvent::BindingAdded { .. }, RegistrarEvent::BindingRemoved { .. }]), "{events:?}");
}

/// SIPp 3.6.1 reads only the first WWW-Authenticate and knows only MD5: with the default
/// SHA-256-first challenge (RFC 8760 §2.4) it stops with "authentication must use MD5 or
/// AKAv1-MD5". Offering MD5 first keeps such clients working while SHA-256 stays available.
#[test]
fn sipp_registers_when_md5_is_offered_first() {
    let md5_first = AuthConfig { algorithms: vec![Algorithm::Md5, Algorithm::Sha256], ..AuthConfig::default() };
    let (code, log, events) = run_against(md5_first);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(events.len(), 2, "{events:?}");
}

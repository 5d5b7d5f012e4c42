//! Starts an in-process node on free loopback ports with a temporary data directory, and small
//! raw-socket helpers for the tests that speak SIP themselves.
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use ncgw::config::{self, Overrides, Settings};
use ncgw::runtime::{self, NodeHandle};

pub struct TestNode {
    pub handle: Option<NodeHandle>,
    pub sip: SocketAddr,
    pub admin: SocketAddr,
    /// Kept so the data directory lives as long as the node.
    pub _data: tempfile::TempDir,
}

/// Settings for a test node: loopback, port 0 everywhere, a fresh data dir.
pub fn test_settings(data: &tempfile::TempDir) -> Settings {
    let o = Overrides {
        sip_listen: vec!["127.0.0.1:0".into()],
        admin_listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data.path().display().to_string()),
        rtp_ports: None,
    };
    let mut s = config::load(None, &o).expect("test settings are valid");
    s.dialplan_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans"));
    s.drain_timeout = Duration::from_secs(5);
    // The suite shares two cores with SIPp processes: a new INVITE held up by a busy machine must
    // not be shed as overload (503), which a SIPp caller reports as a failed call. Shedding has
    // its own unit tests.
    s.overload_delay = Duration::from_secs(10);
    s
}

impl TestNode {
    pub async fn start() -> TestNode {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestNode {
        let data = tempfile::tempdir().expect("temp dir");
        let mut s = test_settings(&data);
        tweak(&mut s);
        let handle = runtime::start(s).await.expect("node starts");
        TestNode { sip: handle.sip_addrs[0], admin: handle.admin_addr, handle: Some(handle), _data: data }
    }

    /// A node whose dialplan is `plan` (TOML text).
    pub async fn with_plan(plan: &str, tweak: impl FnOnce(&mut Settings)) -> TestNode {
        let data = tempfile::tempdir().expect("temp dir");
        let plans = data.path().join("plans");
        std::fs::create_dir_all(&plans).expect("plans dir");
        std::fs::write(plans.join("test.toml"), plan).expect("plan written");
        let mut s = test_settings(&data);
        s.dialplan_dir = plans;
        tweak(&mut s);
        let handle = runtime::start(s).await.expect("node starts");
        TestNode { sip: handle.sip_addrs[0], admin: handle.admin_addr, handle: Some(handle), _data: data }
    }

    /// The call records, waiting (bounded) until there are `n`.
    pub async fn cdrs(&self, n: usize) -> Vec<serde_json::Value> {
        let admin = self.admin;
        wait_until(&format!("{n} call records"), Duration::from_secs(10), || async move {
            let (_, body) = admin_get(admin, "/api/v1/cdr?limit=10000").await;
            let v: serde_json::Value = serde_json::from_str(&body).expect("cdr json");
            let list = v["cdr"].as_array().cloned().unwrap_or_default();
            (list.len() >= n).then_some(list)
        })
        .await
    }

    /// Drains and waits (bounded) for the node to stop.
    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
            tokio::time::timeout(Duration::from_secs(10), h.wait()).await.expect("node stops within 10 s");
        }
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair found");
}

/// Sends one datagram from a fresh socket and collects what comes back until `wait` passes
/// without a new datagram.
pub fn udp_exchange(sock: &UdpSocket, to: SocketAddr, data: &[u8], wait: Duration) -> Vec<Vec<u8>> {
    sock.send_to(data, to).expect("send");
    let mut out = Vec::new();
    sock.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = vec![0u8; 65_535];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// The status code of a response datagram, if it is one.
pub fn status_of(msg: &[u8]) -> Option<u16> {
    let line = msg.split(|&b| b == b'\r').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(3, ' ');
    (parts.next()? == "SIP/2.0").then_some(())?;
    parts.next()?.parse().ok()
}

/// A blocking admin GET from a test (runs on a blocking thread).
pub async fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let url = format!("http://{admin}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
        let mut resp = agent.get(&url).call().expect("admin reachable");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().expect("body"))
    })
    .await
    .expect("admin task")
}

/// A blocking admin POST from a test.
pub async fn admin_post(admin: SocketAddr, path: &str, timeout: Duration) -> (u16, String) {
    let url = format!("http://{admin}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into();
        let mut resp = agent.post(&url).send_empty().expect("admin reachable");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().expect("body"))
    })
    .await
    .expect("admin task")
}

/// Whether something listens on UDP `port` (IPv4), read from /proc so the port is not disturbed.
pub fn udp_port_bound(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| t.lines().skip(1).any(|l| l.split_whitespace().nth(1).is_some_and(|local| format!("{local} ").contains(&needle))))
}

/// Waits (bounded) until a peer listens on UDP `port`.
pub async fn wait_udp_bound(port: u16) {
    wait_until(&format!("a listener on udp {port}"), Duration::from_secs(5), || async move { udp_port_bound(port).then_some(()) }).await
}

/// Waits for an observable condition: `probe` is asked every 20 ms until it returns `Some`, for at
/// most `timeout`; then the test fails naming `what`. Never a fixed "let things settle" delay.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let found = tokio::time::timeout(timeout, async {
        loop {
            tick.tick().await;
            if let Some(v) = probe().await {
                return v;
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Runs the `ncgw` binary from the repository root (no `NCGW_ADMIN` from the environment):
/// exit code, stdout, stderr.
pub fn ncgw(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ncgw"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NCGW_ADMIN")
        .output()
        .expect("ncgw runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

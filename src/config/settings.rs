//! Validated settings: every default resolved, every value checked, ready for the runtime.
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, ConfigErrors};
use super::raw::RawConfig;
use super::Overrides;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the node needs to run, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sip_listen: Vec<SocketAddr>,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub timer_d: Duration,
    pub max_transactions: usize,
    pub tcp_idle_timeout: Duration,
    pub max_tcp_connections: usize,
    pub drain_timeout: Duration,
    /// New INVITEs that waited longer than this before the core handled them get 503.
    pub overload_delay: Duration,
    /// Worker threads of the signalling runtime (SIP transports, the core, admin API, CDR writer);
    /// `sip.threads`, 0 in the file = one per two cores, at most 2.
    pub sip_threads: usize,
    pub server_name: String,
    /// Digest realm for registrations and callers.
    pub realm: String,
    /// Digest algorithms offered, most preferred first.
    pub auth_algorithms: Vec<crate::sip::auth::Algorithm>,
    pub admin_listen: SocketAddr,
    pub rtp_ports: RangeInclusive<u16>,
    /// Address the media relay binds; unspecified = every interface, announced per peer.
    pub media_bind: std::net::IpAddr,
    /// No RTP from a side for this long ends the call (`media.timeout`).
    pub media_timeout: Duration,
    /// `[media] kernel_fast_path`: let the kernel forward the steady RTP of plain relayed calls
    /// (on by default; without the privilege the relay forwards everything itself).
    pub kernel_fast_path: bool,
    /// How long a callee may ring.
    pub no_answer: Duration,
    pub max_call_duration: Duration,
    pub data_dir: PathBuf,
    pub dialplan_dir: PathBuf,
    /// Queues and agents (`[acd] queues`); checked by `ncgw check`.
    pub queues_file: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub redact: bool,
    /// `[recording]`: on by default.
    pub recording: crate::recording::RecordingConfig,
    /// `[recording] siprec_server`: a `sip:` URI with an IP-literal host; `None` = no SIPREC.
    pub siprec_server: Option<String>,
}

pub const DEFAULT_SIP_LISTEN: &str = "0.0.0.0:5060";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9060";
pub const DEFAULT_RTP_PORTS: &str = "20000-29999";
pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_DIALPLAN_DIR: &str = "dialplans";

/// Collects errors so all are reported at once.
struct Checker<'a> {
    source: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn err(&mut self, at: Option<usize>, field: &str, message: String, fix: &str) {
        self.errors.push(ConfigError::at(self.source, self.text, at, field, message, fix));
    }

    fn flag_err(&mut self, flag: &str, message: String, fix: &str) {
        self.errors.push(ConfigError {
            source: "command line".to_owned(),
            line: None,
            field: flag.to_owned(),
            message,
            fix: fix.to_owned(),
        });
    }

    fn addr(&mut self, value: &str, at: Option<usize>, field: &str) -> Option<SocketAddr> {
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let msg = format!("'{value}' is not an IP:port address");
                let fix = "write it as 0.0.0.0:5060, 127.0.0.1:9060 or [::1]:5060 (an IP literal, not a name)";
                if at.is_some() || !field.starts_with("--") {
                    self.err(at, field, msg, fix);
                } else {
                    self.flag_err(field, msg, fix);
                }
                None
            }
        }
    }

    fn millis(&mut self, v: &Option<Spanned<u64>>, field: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        let Some(v) = v else { return Duration::from_millis(default) };
        if !range.contains(v.get_ref()) {
            self.err(
                Some(v.span().start),
                field,
                format!("{} is out of range", v.get_ref()),
                &format!("use a value from {} to {}", range.start(), range.end()),
            );
            return Duration::from_millis(default);
        }
        Duration::from_millis(*v.get_ref())
    }

    fn count(&mut self, v: &Option<Spanned<u64>>, field: &str, default: u64, range: RangeInclusive<u64>) -> u64 {
        let Some(v) = v else { return default };
        if !range.contains(v.get_ref()) {
            self.err(
                Some(v.span().start),
                field,
                format!("{} is out of range", v.get_ref()),
                &format!("use a value from {} to {}", range.start(), range.end()),
            );
            return default;
        }
        *v.get_ref()
    }
}

/// Parses `LOW-HIGH` into an even-aligned RTP port range with room for at least one RTP/RTCP pair.
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s.split_once('-').ok_or_else(|| format!("'{s}' is not LOW-HIGH"))?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("'{lo}' is not a port number"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("'{hi}' is not a port number"))?;
    if lo < 1024 || hi <= lo || hi - lo < 1 {
        return Err(format!("'{s}' must be LOW-HIGH with 1024 <= LOW < HIGH"));
    }
    Ok(lo..=hi)
}

impl Settings {
    /// Resolves defaults, applies command-line overrides and checks every value.
    pub fn validate(source: &str, text: &str, raw: RawConfig, o: &Overrides) -> Result<Settings, ConfigErrors> {
        let mut c = Checker { source, text, errors: Vec::new() };

        let mut sip_listen = Vec::new();
        if !o.sip_listen.is_empty() {
            for a in &o.sip_listen {
                sip_listen.extend(c.addr(a, None, "--sip-listen"));
            }
        } else if let Some(list) = &raw.sip.listen {
            if list.get_ref().is_empty() {
                c.err(Some(list.span().start), "sip.listen", "is empty".into(), "give at least one address, e.g. [\"0.0.0.0:5060\"]");
            }
            for a in list.get_ref() {
                sip_listen.extend(c.addr(a.get_ref(), Some(a.span().start), "sip.listen"));
            }
        } else {
            sip_listen.push(DEFAULT_SIP_LISTEN.parse().expect("constant address parses"));
        }

        let t1 = c.millis(&raw.sip.t1_ms, "sip.t1_ms", 500, 10..=10_000);
        let t2 = c.millis(&raw.sip.t2_ms, "sip.t2_ms", 4_000, 100..=60_000);
        let t4 = c.millis(&raw.sip.t4_ms, "sip.t4_ms", 5_000, 100..=60_000);
        let timer_d = c.millis(&raw.sip.timer_d_ms, "sip.timer_d_ms", 32_000, 32_000..=300_000);
        if t2 < t1 {
            let at = raw.sip.t2_ms.as_ref().map(|v| v.span().start);
            c.err(at, "sip.t2_ms", format!("T2 ({t2:?}) is below T1 ({t1:?})"), "T2 must be at least T1 (RFC 3261 §17.1.2.2)");
        }
        let max_transactions = c.count(&raw.sip.max_transactions, "sip.max_transactions", 300_000, 10..=10_000_000) as usize;
        let tcp_idle_timeout = Duration::from_secs(c.count(&raw.sip.tcp_idle_timeout_s, "sip.tcp_idle_timeout_s", 600, 1..=86_400));
        let max_tcp_connections = c.count(&raw.sip.max_tcp_connections, "sip.max_tcp_connections", 10_000, 1..=1_000_000) as usize;
        let overload_delay = c.millis(&raw.sip.overload_delay_ms, "sip.overload_delay_ms", 500, 50..=30_000);
        let sip_threads = match c.count(&raw.sip.threads, "sip.threads", 0, 0..=64) as usize {
            0 => auto_sip_threads(),
            n => n,
        };
        let drain_timeout = Duration::from_secs(c.count(&raw.sip.drain_timeout_s, "sip.drain_timeout_s", 32, 0..=3_600));
        let server_name = match &raw.sip.server_name {
            Some(s) if s.get_ref().trim().is_empty() || s.get_ref().contains(['\r', '\n']) => {
                c.err(Some(s.span().start), "sip.server_name", "must be one non-empty line".into(), "e.g. \"ncgw\"");
                String::new()
            }
            Some(s) => s.get_ref().clone(),
            None => format!("ncgw/{}", env!("CARGO_PKG_VERSION")),
        };

        let realm = match &raw.sip.realm {
            Some(r) if r.get_ref().is_empty() || r.get_ref().contains(['"', '\\']) || r.get_ref().chars().any(char::is_control) => {
                c.err(Some(r.span().start), "sip.realm", format!("'{}' cannot be a digest realm", r.get_ref()), "use a plain name, e.g. \"bank.example\"");
                String::new()
            }
            Some(r) => r.get_ref().clone(),
            None => "ncgw".to_owned(),
        };
        let mut auth_algorithms = Vec::new();
        match &raw.sip.auth_algorithms {
            None => auth_algorithms = vec![crate::sip::auth::Algorithm::Sha256, crate::sip::auth::Algorithm::Md5],
            Some(list) => {
                for a in list.get_ref() {
                    match a.get_ref().to_ascii_lowercase().as_str() {
                        "sha256" | "sha-256" => auth_algorithms.push(crate::sip::auth::Algorithm::Sha256),
                        "md5" => auth_algorithms.push(crate::sip::auth::Algorithm::Md5),
                        other => c.err(Some(a.span().start), "sip.auth_algorithms", format!("'{other}' is not an algorithm"), "use \"sha256\" and/or \"md5\""),
                    }
                }
                if list.get_ref().is_empty() {
                    c.err(Some(list.span().start), "sip.auth_algorithms", "is empty".into(), "offer at least one, e.g. [\"sha256\", \"md5\"]");
                }
            }
        }
        let admin_listen = match (&o.admin_listen, &raw.admin.listen) {
            (Some(a), _) => c.addr(a, None, "--admin-listen"),
            (None, Some(a)) => c.addr(a.get_ref(), Some(a.span().start), "admin.listen"),
            (None, None) => DEFAULT_ADMIN_LISTEN.parse().ok(),
        };

        let rtp_ports = match (&o.rtp_ports, &raw.media.rtp_ports) {
            (Some(s), _) => parse_port_range(s).map_err(|m| c.flag_err("--rtp-ports", m, "e.g. --rtp-ports 20000-29999")).ok(),
            (None, Some(s)) => parse_port_range(s.get_ref())
                .map_err(|m| c.err(Some(s.span().start), "media.rtp_ports", m, "e.g. rtp_ports = \"20000-29999\""))
                .ok(),
            (None, None) => parse_port_range(DEFAULT_RTP_PORTS).ok(),
        };

        let media_timeout = Duration::from_secs(c.count(&raw.media.timeout_s, "media.timeout_s", 30, 1..=3_600));
        let no_answer = Duration::from_secs(c.count(&raw.call.no_answer_s, "call.no_answer_s", 90, 1..=3_600));
        let max_call_duration = Duration::from_secs(c.count(&raw.call.max_duration_s, "call.max_duration_s", 14_400, 10..=86_400 * 7));
        let media_bind = match &raw.media.bind {
            None => sip_listen.first().map(|a| a.ip()).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            Some(b) => b.get_ref().parse().unwrap_or_else(|_| {
                c.err(Some(b.span().start), "media.bind", format!("'{}' is not an IP address", b.get_ref()), "e.g. bind = \"0.0.0.0\"");
                std::net::IpAddr::from([0, 0, 0, 0])
            }),
        };
        let data_dir = PathBuf::from(match (&o.data_dir, &raw.storage.data_dir) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d.get_ref().clone(),
            (None, None) => DEFAULT_DATA_DIR.to_owned(),
        });
        let queues_file = PathBuf::from(raw.acd.queues.as_ref().map_or("config/queues.toml", |q| q.get_ref()));
        let dialplan_dir = PathBuf::from(raw.dialplan.dir.as_ref().map_or(DEFAULT_DIALPLAN_DIR, |d| d.get_ref()));

        let log_level = match &raw.log.level {
            Some(l) if !["error", "warn", "info", "debug", "trace"].contains(&l.get_ref().as_str()) => {
                c.err(Some(l.span().start), "log.level", format!("'{}' is not a level", l.get_ref()), "use error, warn, info, debug or trace");
                "info".to_owned()
            }
            Some(l) => l.get_ref().clone(),
            None => "info".to_owned(),
        };
        let log_format = match raw.log.format.as_ref().map(|f| (f.get_ref().as_str(), f.span().start)) {
            None | Some(("text", _)) => LogFormat::Text,
            Some(("json", _)) => LogFormat::Json,
            Some((other, at)) => {
                c.err(Some(at), "log.format", format!("'{other}' is not a log format"), "use \"text\" or \"json\"");
                LogFormat::Text
            }
        };
        let redact = raw.log.redact.as_ref().is_none_or(|r| *r.get_ref());
        let recording = crate::recording::RecordingConfig {
            enabled: raw.recording.enabled.as_ref().is_none_or(|e| *e.get_ref()),
            key_file: raw.recording.key_file.as_ref().map(|k| PathBuf::from(k.get_ref())),
            segment: Duration::from_secs(c.count(&raw.recording.segment_s, "recording.segment_s", 4, 1..=30)),
            queue: c.count(&raw.recording.queue_packets, "recording.queue_packets", 1024, 16..=65_536) as usize,
        };
        let siprec_server = raw.recording.siprec_server.as_ref().and_then(|v| match siprec_target(v.get_ref()) {
            Ok(()) => Some(v.get_ref().clone()),
            Err(why) => {
                c.err(Some(v.span().start), "recording.siprec_server", format!("'{}' {why}", v.get_ref()), "e.g. siprec_server = \"sip:srs@127.0.0.1:5080\" (an IP literal, UDP or TCP), or remove it");
                None
            }
        });

        if !c.errors.is_empty() {
            return Err(ConfigErrors(c.errors));
        }
        Ok(Settings {
            sip_listen,
            t1,
            t2,
            t4,
            timer_d,
            max_transactions,
            tcp_idle_timeout,
            max_tcp_connections,
            drain_timeout,
            overload_delay,
            sip_threads,
            server_name,
            realm,
            auth_algorithms,
            admin_listen: admin_listen.expect("an invalid address was reported as an error above"),
            rtp_ports: rtp_ports.expect("an invalid range was reported as an error above"),
            media_bind,
            media_timeout,
            kernel_fast_path: raw.media.kernel_fast_path.as_ref().is_none_or(|e| *e.get_ref()),
            no_answer,
            max_call_duration,
            data_dir,
            dialplan_dir,
            queues_file,
            log_level,
            log_format,
            redact,
            recording,
            siprec_server,
        })
    }
}

/// Whether a SIPREC server URI can be reached the way route targets are: `sip:` with an IP
/// literal host and UDP or TCP (no DNS yet).
fn siprec_target(uri: &str) -> Result<(), &'static str> {
    let Ok(crate::sip::message::Uri::Sip(u)) = crate::sip::message::Uri::parse(uri) else { return Err("is not a sip: URI") };
    if u.secure {
        return Err("is a sips: URI (TLS is not supported yet)");
    }
    if matches!(u.host, crate::sip::message::Host::Domain(_)) {
        return Err("has a host name, not an IP address (DNS is not supported yet)");
    }
    match u.transport().map(str::to_ascii_lowercase).as_deref() {
        None | Some("udp") | Some("tcp") => Ok(()),
        Some(_) => Err("names a transport other than udp or tcp"),
    }
}

/// One signalling worker per two cores, at most two: the SIP core is one task, and a second worker
/// on a small machine mostly parks and unparks (measured on 2 cores at 2,000 calls/s: one worker
/// used ~7 % less CPU per call than two, and the relay has its own threads).
fn auto_sip_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 2)
}

#[cfg(test)]
mod tests {
    use super::super::{load, Overrides};
    use super::*;

    fn from_text(text: &str) -> Result<Settings, ConfigErrors> {
        let raw = RawConfig::parse("t.toml", text).map_err(ConfigErrors::one)?;
        Settings::validate("t.toml", text, raw, &Overrides::default())
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let s = load(None, &Overrides::default()).unwrap();
        assert_eq!(s.sip_listen, vec!["0.0.0.0:5060".parse().unwrap()]);
        assert_eq!(s.admin_listen, "127.0.0.1:9060".parse().unwrap());
        assert_eq!(s.t1, Duration::from_millis(500));
        assert!(s.redact);
    }

    #[test]
    fn unknown_field_names_line() {
        let e = from_text("[sip]\nt1_ms = 500\nlisten_udp = [\"1.2.3.4:5\"]\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("t.toml:3:"), "{text}");
        assert!(text.contains("unknown field"), "{text}");
    }

    #[test]
    fn bad_values_name_field_and_line_all_at_once() {
        let e = from_text("[sip]\nlisten = [\"0.0.0.0:99999\"]\nt1_ms = 5\n[media]\nrtp_ports = \"30000-20000\"\n").unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
        assert_eq!(e.0[0].line.map(|l| l.0), Some(2));
        assert_eq!(e.0[0].field, "sip.listen");
        assert_eq!(e.0[1].field, "sip.t1_ms");
        assert_eq!(e.0[2].field, "media.rtp_ports");
        assert_eq!(e.0[2].line.map(|l| l.0), Some(5));
    }

    #[test]
    fn overrides_win_and_are_checked() {
        let o = Overrides { sip_listen: vec!["[::1]:5070".into(), "127.0.0.1:5070".into()], rtp_ports: Some("bad".into()), ..Default::default() };
        let e = Settings::validate("t", "", RawConfig::default(), &o).unwrap_err();
        assert_eq!(e.0[0].field, "--rtp-ports");
        let o = Overrides { sip_listen: vec!["[::1]:5070".into()], ..Default::default() };
        let s = Settings::validate("t", "", RawConfig::default(), &o).unwrap();
        assert_eq!(s.sip_listen, vec!["[::1]:5070".parse().unwrap()]);
    }

    #[test]
    fn recording_section_defaults_and_checks() {
        let s = from_text("").unwrap();
        assert!(s.recording.enabled);
        assert_eq!(s.recording.segment, Duration::from_secs(4));
        let s = from_text("[recording]\nenabled = false\nkey_file = \"/k\"\nsegment_s = 2\n").unwrap();
        assert!(!s.recording.enabled);
        assert_eq!(s.recording.key_file.as_deref(), Some(std::path::Path::new("/k")));
        let e = from_text("[recording]\nsegment_s = 0\n").unwrap_err();
        assert_eq!(e.0[0].field, "recording.segment_s");
    }

    #[test]
    fn siprec_server_is_checked_like_a_route_target() {
        assert_eq!(from_text("").unwrap().siprec_server, None);
        let s = from_text("[recording]\nsiprec_server = \"sip:srs@127.0.0.1:5080\"\n").unwrap();
        assert_eq!(s.siprec_server.as_deref(), Some("sip:srs@127.0.0.1:5080"));
        for bad in ["srs.example.com", "sip:srs@srs.example.com", "sips:srs@10.0.0.1", "sip:srs@10.0.0.1;transport=sctp"] {
            let e = from_text(&format!("[recording]\nenabled = true\nsiprec_server = \"{bad}\"\n")).unwrap_err();
            assert_eq!((e.0[0].field.as_str(), e.0[0].line.map(|l| l.0)), ("recording.siprec_server", Some(3)), "{bad}: {e}");
            assert!(e.to_string().contains("fix"), "{e}");
        }
    }

    #[test]
    fn t2_below_t1_refused() {
        let e = from_text("[sip]\nt1_ms = 2000\nt2_ms = 1000\n").unwrap_err();
        assert!(e.to_string().contains("sip.t2_ms"), "{e}");
    }
}

//! Prometheus metrics: names are constants, described once, labels low-cardinality (no ids or numbers).
use std::sync::OnceLock;

use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub const SIP_MESSAGES: &str = "ncgw_sip_messages_total";
pub const SIP_PARSE_FAILURES: &str = "ncgw_sip_parse_failures_total";
pub const SIP_TRANSACTIONS_ACTIVE: &str = "ncgw_sip_transactions_active";
pub const SIP_RETRANSMISSIONS: &str = "ncgw_sip_retransmissions_total";
pub const SIP_TRANSACTION_OUTCOMES: &str = "ncgw_sip_transaction_outcomes_total";
pub const SIP_DROPPED: &str = "ncgw_sip_dropped_total";
pub const TRANSPORT_CONNECTIONS: &str = "ncgw_transport_connections";
pub const TRANSPORT_CONNECTIONS_OPENED: &str = "ncgw_transport_connections_opened_total";
pub const RTP_PACKETS: &str = "ncgw_rtp_packets_total";
pub const RTP_PORTS_IN_USE: &str = "ncgw_rtp_ports_in_use";
pub const RTP_PORTS_WARM: &str = "ncgw_rtp_ports_warm";
pub const RTP_KERNEL_FORWARDED: &str = "ncgw_rtp_kernel_forwarded_total";
pub const CALLS_ACTIVE: &str = "ncgw_calls_active";
pub const CALLS_ENDED: &str = "ncgw_calls_total";
pub const CALL_SETUP_SECONDS: &str = "ncgw_call_setup_seconds";
pub const SIP_INBOUND_WAIT_SECONDS: &str = "ncgw_sip_inbound_wait_seconds";
pub const CDR_PENDING: &str = "ncgw_cdr_pending";
pub const CORE_TURN_SECONDS: &str = "ncgw_core_turn_seconds";

/// Every metric the node exports, registered once.
pub struct Metrics {
    pub registry: Registry,
    /// direction (in|out), transport (udp|tcp), kind (method name, or status class 1xx…6xx).
    pub sip_messages: IntCounterVec,
    /// reason: a stable code from the parser error.
    pub sip_parse_failures: IntCounterVec,
    /// kind: client_invite, client_non_invite, server_invite, server_non_invite.
    pub sip_transactions_active: IntGaugeVec,
    pub sip_retransmissions: IntCounter,
    /// kind (server|client), method, outcome (status class, or timeout).
    pub sip_transaction_outcomes: IntCounterVec,
    /// reason: inbound_queue_full, send_would_block, overload, …
    pub sip_dropped: IntCounterVec,
    /// transport (tcp).
    pub transport_connections: IntGaugeVec,
    pub transport_connections_opened: IntCounterVec,
    pub up: IntGauge,
    /// direction (a_to_b|b_to_a), result (relayed, dropped_foreign, dropped_malformed,
    /// dropped_not_latched, dropped_no_destination, send_failed).
    pub rtp_packets: IntCounterVec,
    /// direction: the part of `rtp_packets{result="relayed"}` the kernel fast path forwarded.
    pub rtp_kernel_forwarded: IntCounterVec,
    /// RTP and RTCP ports held by media sessions (two per leg).
    pub rtp_ports_in_use: IntGauge,
    /// Ports of ended calls whose sockets stay bound for the next calls (`media::warm`).
    pub rtp_ports_warm: IntGauge,
    /// Calls not yet ended.
    pub calls_active: IntGauge,
    /// cause: the stable cause code of each ended call.
    pub calls_ended: IntCounterVec,
    /// From INVITE to answer, for answered calls.
    pub call_setup_seconds: prometheus::Histogram,
    /// From a request read off its socket to the core taking it (the core's lag; new calls are
    /// shed past `sip.overload_delay_ms`).
    pub sip_inbound_wait_seconds: prometheus::Histogram,
    /// Wall time of one turn of the core's loop, by what woke it (inbound, timer, media,
    /// command, snapshot, drain): the SIP core is one task, so a long turn delays every call.
    pub core_turn_seconds: prometheus::HistogramVec,
    /// Call records journalled but not yet in the database.
    pub cdr_pending: IntGauge,
    /// Agent queues (`ncgw_acd_*`).
    pub acd: AcdMetrics,
}

const METHOD_LABELS: &[&str] = &[
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO", "MESSAGE", "REFER", "NOTIFY",
    "SUBSCRIBE", "PUBLISH",
];

/// A method as a metric label: the known ones by name, anything else as `other` (bounded cardinality).
pub fn method_label(method: &str) -> &'static str {
    METHOD_LABELS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// A status code as its class label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "6xx",
    }
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let m = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition is valid");
            registry.register(Box::new(m.clone())).expect("metric registered once");
            m
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let m = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric definition is valid");
            registry.register(Box::new(m.clone())).expect("metric registered once");
            m
        };
        let sip_messages = counter_vec(SIP_MESSAGES, "SIP messages by direction, transport and method or status class", &["direction", "transport", "kind"]);
        let sip_parse_failures = counter_vec(SIP_PARSE_FAILURES, "Received SIP messages that failed to parse, by reason", &["reason"]);
        let sip_transactions_active = gauge_vec(SIP_TRANSACTIONS_ACTIVE, "Live SIP transactions by kind", &["kind"]);
        let sip_transaction_outcomes = counter_vec(SIP_TRANSACTION_OUTCOMES, "Finished SIP transactions by side, method and outcome", &["side", "method", "outcome"]);
        let sip_dropped = counter_vec(SIP_DROPPED, "SIP messages dropped before processing, by reason", &["reason"]);
        let transport_connections = gauge_vec(TRANSPORT_CONNECTIONS, "Open SIP transport connections", &["transport"]);
        let transport_connections_opened = counter_vec(TRANSPORT_CONNECTIONS_OPENED, "SIP transport connections opened, by transport and direction", &["transport", "direction"]);
        let gauge = |name: &str, help: &str| {
            let m = IntGauge::new(name, help).expect("metric definition is valid");
            registry.register(Box::new(m.clone())).expect("metric registered once");
            m
        };
        let sip_retransmissions = IntCounter::new(SIP_RETRANSMISSIONS, "SIP retransmissions sent by our transactions").expect("metric definition is valid");
        registry.register(Box::new(sip_retransmissions.clone())).expect("metric registered once");
        let up = gauge("ncgw_up", "1 while the node accepts new work, 0 while draining");
        let rtp_packets = counter_vec(RTP_PACKETS, "RTP and RTCP datagrams received by the media relay, by direction and result", &["direction", "result"]);
        let rtp_kernel_forwarded = counter_vec(RTP_KERNEL_FORWARDED, "RTP packets the kernel fast path forwarded for the relay (also counted as relayed in ncgw_rtp_packets_total)", &["direction"]);
        let rtp_ports_in_use = gauge(RTP_PORTS_IN_USE, "RTP and RTCP ports held by media sessions");
        let rtp_ports_warm = gauge(RTP_PORTS_WARM, "RTP and RTCP ports of ended calls kept bound for the next calls");
        let calls_active = gauge(CALLS_ACTIVE, "Calls not yet ended");
        let calls_ended = counter_vec(CALLS_ENDED, "Ended calls by stable cause code", &["cause"]);
        let cdr_pending = gauge(CDR_PENDING, "Call records journalled on disk but not yet in the database");
        let call_setup_seconds = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(CALL_SETUP_SECONDS, "Time from INVITE to answer for answered calls")
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0]),
        )
        .expect("metric definition is valid");
        registry.register(Box::new(call_setup_seconds.clone())).expect("metric registered once");
        let sip_inbound_wait_seconds = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(SIP_INBOUND_WAIT_SECONDS, "Time a SIP request waited between its socket and the core")
                .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )
        .expect("metric definition is valid");
        registry.register(Box::new(sip_inbound_wait_seconds.clone())).expect("metric registered once");
        let core_turn_seconds = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(CORE_TURN_SECONDS, "Wall time of one turn of the SIP core's loop, by what woke it")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
            &["wake"],
        )
        .expect("metric definition is valid");
        registry.register(Box::new(core_turn_seconds.clone())).expect("metric registered once");
        let acd = AcdMetrics::new(&registry);
        Metrics {
            registry,
            sip_messages,
            sip_parse_failures,
            sip_transactions_active,
            sip_retransmissions,
            sip_transaction_outcomes,
            sip_dropped,
            transport_connections,
            transport_connections_opened,
            up,
            rtp_packets,
            rtp_kernel_forwarded,
            rtp_ports_in_use,
            rtp_ports_warm,
            calls_active,
            calls_ended,
            call_setup_seconds,
            sip_inbound_wait_seconds,
            core_turn_seconds,
            cdr_pending,
            acd,
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text encoder writes UTF-8")
    }
}

/// Agent-queue metrics. Gauges and counters are set from the ACD's per-queue summaries by the
/// core (`runtime::acd_admin::refresh_metrics`) before each scrape and after each agent command;
/// the offer latency is observed by the call path.
pub struct AcdMetrics {
    /// queue: calls waiting (not ringing).
    pub waiting: IntGaugeVec,
    /// queue: how long the longest-waiting call has waited.
    pub longest_wait_seconds: GaugeVec,
    /// queue, each since start: calls that entered the queue, and how they left it.
    pub offered: IntCounterVec,
    pub answered: IntCounterVec,
    pub abandoned: IntCounterVec,
    pub overflowed: IntCounterVec,
    pub timed_out: IntCounterVec,
    /// queue, state: logged-in agents serving the queue by state.
    pub agents: IntGaugeVec,
    /// queue: answered within the target / calls that left the queue, 0 to 1, since start.
    pub service_level: GaugeVec,
    /// queue: from an agent becoming available to the offer of a waiting call.
    pub offer_latency_seconds: HistogramVec,
}

impl AcdMetrics {
    fn new(registry: &Registry) -> AcdMetrics {
        fn reg<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: M) -> M {
            registry.register(Box::new(m.clone())).expect("metric registered once");
            m
        }
        let counter = |name: &str, help: &str| reg(registry, IntCounterVec::new(Opts::new(name, help), &["queue"]).expect("metric definition is valid"));
        AcdMetrics {
            waiting: reg(registry, IntGaugeVec::new(Opts::new("ncgw_acd_waiting_calls", "Calls waiting in the queue (not ringing at an agent)"), &["queue"]).expect("metric definition is valid")),
            longest_wait_seconds: reg(registry, GaugeVec::new(Opts::new("ncgw_acd_longest_wait_seconds", "Wait so far of the call waiting longest in the queue"), &["queue"]).expect("metric definition is valid")),
            offered: counter("ncgw_acd_offered_total", "Calls that entered the queue"),
            answered: counter("ncgw_acd_answered_total", "Queued calls answered by an agent"),
            abandoned: counter("ncgw_acd_abandoned_total", "Queued calls whose caller hung up before an agent answered"),
            overflowed: counter("ncgw_acd_overflowed_total", "Queued calls sent to the queue's overflow target"),
            timed_out: counter("ncgw_acd_timed_out_total", "Queued calls that waited max_wait with no overflow target"),
            agents: reg(registry, IntGaugeVec::new(Opts::new("ncgw_acd_agents", "Logged-in agents serving the queue, by state"), &["queue", "state"]).expect("metric definition is valid")),
            service_level: reg(registry, GaugeVec::new(Opts::new("ncgw_acd_service_level", "Share of calls that left the queue answered within its target (0-1), since start"), &["queue"]).expect("metric definition is valid")),
            offer_latency_seconds: reg(
                registry,
                HistogramVec::new(
                    HistogramOpts::new("ncgw_acd_offer_latency_seconds", "Time from an agent becoming available to the offer of a waiting call")
                        .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
                    &["queue"],
                )
                .expect("metric definition is valid"),
            ),
        }
    }
}

/// Records one agent-available → offer latency for `queue`.
pub fn acd_offer_latency(queue: &str, secs: f64) {
    metrics().acd.offer_latency_seconds.with_label_values(&[queue]).observe(secs);
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

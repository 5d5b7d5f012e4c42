//! A sans-IO test bench for the B2BUA: a `SipNode`, a fake environment, scripted peers and a
//! virtual clock. Messages travel as bytes (serialise → parse) like on the wire.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::b2bua::inbound::InboundPolicy;
use crate::b2bua::{AuthCheck, B2buaConfig, B2buaEvent, CallSummary, Env, LegStats, MediaControl, MediaId, NodeEvent, Now, PromptCodec, PromptRef, RemoteMedia, Side, SipNode};
use crate::dialplan::Dialplan;
use crate::sip::message::{HeaderName, Message, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::TimerConfig;

pub const CALLER: &str = "10.0.0.1:5060";
pub const CALLEE: &str = "10.0.0.2:5070";
pub const US: &str = "10.0.0.100:5060";

pub const PLAN: &str = r#"
[[rule]]
name = "agents"
to = "95555"
route = "sip:agent@10.0.0.2:5070"
[[rule]]
name = "queue"
to = "96666"
queue = "general"
[[rule]]
name = "deny"
reject = 404
"#;

/// One `play`: session, side, codec, prompts, background.
pub type Play = (MediaId, Side, PromptCodec, Vec<PromptRef>, Option<PromptRef>);

#[derive(Default)]
pub struct FakeMedia {
    pub next: u64,
    pub open: HashMap<MediaId, Vec<(Side, Option<RemoteMedia>)>>,
    pub closed: Vec<MediaId>,
    pub fail: bool,
    /// Every `play`: (session, side, codec, prompts, background), and every `stop_play`.
    pub plays: Vec<Play>,
    pub stops: Vec<(MediaId, Side)>,
    /// Every `set_codecs`, in order.
    pub codecs: Vec<(MediaId, Option<crate::media::transcode::MediaPlan>)>,
    /// Every `codecs_changed`: per side, the relayed m-line's formats.
    pub codec_changes: Vec<(MediaId, [Option<Vec<String>>; 2])>,
    /// Fork sockets opened for an external recorder, and every `set_fork`.
    pub forks: Vec<MediaId>,
    pub fork_to: Vec<(MediaId, [Option<SocketAddr>; 2])>,
}

impl MediaControl for FakeMedia {
    fn open(&mut self, _label: &str) -> Result<(MediaId, SocketAddr, SocketAddr), String> {
        if self.fail {
            return Err("no ports".into());
        }
        self.next += 1;
        let id = MediaId(self.next);
        self.open.insert(id, Vec::new());
        let base = 20000 + 4 * self.next as u16;
        Ok((id, SocketAddr::new("10.0.0.100".parse().unwrap(), base), SocketAddr::new("10.0.0.100".parse().unwrap(), base + 2)))
    }
    fn set_remote(&mut self, id: MediaId, side: Side, remote: Option<RemoteMedia>) {
        self.open.get_mut(&id).expect("set_remote on an open session").push((side, remote));
    }
    fn set_codecs(&mut self, id: MediaId, plan: Option<&crate::media::transcode::MediaPlan>) {
        self.codecs.push((id, plan.cloned()));
    }
    fn close(&mut self, id: MediaId) -> Vec<LegStats> {
        assert!(self.open.remove(&id).is_some(), "close of an unknown or closed session");
        self.closed.push(id);
        vec![LegStats { leg: "a".into(), ..Default::default() }, LegStats { leg: "b".into(), ..Default::default() }]
    }
    fn play(&mut self, id: MediaId, side: Side, codec: PromptCodec, prompts: Vec<PromptRef>, then: Option<PromptRef>) -> Duration {
        assert!(self.open.contains_key(&id), "play on an open session");
        // Every prompt lasts one second here.
        let length = Duration::from_secs(prompts.len() as u64);
        self.plays.push((id, side, codec, prompts, then));
        length
    }
    fn stop_play(&mut self, id: MediaId, side: Side) {
        self.stops.push((id, side));
    }
    fn codecs_changed(&mut self, id: MediaId, sdp: [Option<(&crate::sip::sdp::SessionDescription, usize)>; 2]) {
        self.codec_changes.push((id, sdp.map(|s| s.and_then(|(d, i)| Some(d.media.get(i)?.formats.clone())))));
    }
    fn open_fork(&mut self, id: MediaId) -> Result<[SocketAddr; 2], String> {
        assert!(self.open.contains_key(&id), "open_fork on an open session");
        self.forks.push(id);
        let base = 30000 + 4 * id.0 as u16;
        Ok([SocketAddr::new("0.0.0.0".parse().unwrap(), base), SocketAddr::new("0.0.0.0".parse().unwrap(), base + 2)])
    }
    fn set_fork(&mut self, id: MediaId, to: [Option<SocketAddr>; 2]) {
        assert!(self.open.contains_key(&id), "set_fork on an open session");
        self.fork_to.push((id, to));
    }
}

pub struct FakeEnv {
    pub plan: Dialplan,
    pub media: FakeMedia,
    /// Registered users: user → (contact, peer).
    pub users: HashMap<String, (String, Peer)>,
}

impl Env for FakeEnv {
    fn dialplan(&self) -> &Dialplan {
        &self.plan
    }
    fn locate(&self, user: &str) -> Option<(String, Peer)> {
        self.users.get(user).cloned()
    }
    fn authenticate(&mut self, _now: Instant, _req: &Request) -> AuthCheck {
        AuthCheck::Absent
    }
    fn challenge(&mut self, _now: Instant) -> Option<Vec<String>> {
        None
    }
    fn local_sip_addr(&self, _peer: &Peer) -> SocketAddr {
        US.parse().unwrap()
    }
    fn resolve(&self, uri: &str) -> Option<Peer> {
        let hostport = uri.split('@').nth(1)?.split(';').next()?;
        Some(Peer::udp(hostport.parse().ok()?))
    }
    fn media(&mut self) -> &mut dyn MediaControl {
        &mut self.media
    }
    fn register(&mut self, _now: Instant, req: &Request, _source: Peer) -> (Response, &'static str) {
        (Response::for_request(req, 403), "test.no_registrar")
    }
}

pub struct Bench {
    pub node: SipNode,
    pub env: FakeEnv,
    pub now: Instant,
    pub start: Instant,
    /// Everything the node sent, in order: (destination, message).
    pub sent: Vec<(SocketAddr, Message)>,
    pub records: Vec<CallSummary>,
    /// Call events other than `CallEnded`, in order.
    pub events: Vec<B2buaEvent>,
}

impl Bench {
    pub fn new() -> Bench {
        Self::with_config(B2buaConfig { server_name: "ncgw-test".into(), ..Default::default() })
    }

    pub fn with_config(config: B2buaConfig) -> Bench {
        let policy = InboundPolicy::new("ncgw-test".into(), 7);
        let node = SipNode::new(TimerConfig::default(), policy, config, 42).unwrap();
        let start = crate::testing::epoch();
        Bench {
            node,
            env: FakeEnv { plan: Dialplan::from_text("plan", PLAN).unwrap(), media: FakeMedia::default(), users: HashMap::new() },
            now: start,
            start,
            sent: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn clock(&self) -> Now {
        Now { instant: self.now, unix_ms: 1_800_000_000_000 + self.now.duration_since(self.start).as_millis() as i64 }
    }

    pub fn collect(&mut self) {
        let now = self.clock();
        self.node.process(now, &mut self.env);
        while let Some(t) = self.node.poll_transmit() {
            // Through the wire format, as a peer would see it.
            let bytes = t.message.to_bytes();
            let msg = Message::parse(&bytes).expect("everything we send parses");
            self.sent.push((t.to.addr, msg));
        }
        while let Some(ev) = self.node.poll_event() {
            match ev {
                NodeEvent::Call(B2buaEvent::CallEnded(s)) => self.records.push(*s),
                NodeEvent::Call(e) => self.events.push(e),
                _ => {}
            }
        }
    }

    /// Delivers `text` (LF line ends are turned into CRLF) from `from` over UDP.
    pub fn deliver(&mut self, from: &str, msg: Message) {
        let bytes = msg.to_bytes();
        let msg = Message::parse(&bytes).expect("test message parses");
        let peer = Peer::udp(from.parse().unwrap());
        let now = self.clock();
        match msg {
            Message::Request(r) => self.node.handle_request(now, r, peer, &mut self.env).unwrap(),
            Message::Response(r) => self.node.handle_response(now, r, peer, &mut self.env).unwrap(),
        }
        self.collect();
    }

    /// Moves the virtual clock forward, firing every timer on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(t) = self.node.poll_timeout() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            let now = self.clock();
            self.node.handle_timeout(now, &mut self.env);
            self.collect();
        }
        self.now = until;
    }

    /// Takes what was sent to `to` since the last call.
    pub fn take_to(&mut self, to: &str) -> Vec<Message> {
        let to: SocketAddr = to.parse().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(d, _)| *d == to);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }
}

pub fn parse_req(text: &str) -> Request {
    match Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub const OFFER: &str = "v=0\r\no=caller 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
pub const ANSWER: &str = "v=0\r\no=callee 9 9 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

/// The caller's INVITE to `to`.
pub fn invite(to: &str, call_id: &str, body: &str) -> Message {
    let mut r = parse_req(&format!(
        "INVITE sip:{to}@10.0.0.100 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call_id}-1
Max-Forwards: 70
From: \"Customer\" <sip:+8613800138000@10.0.0.1>;tag=caller1
To: <sip:{to}@10.0.0.100>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: <sip:caller@10.0.0.1:5060>
Content-Type: application/sdp
Content-Length: 0

"
    ));
    r.body = bytes::Bytes::from(body.to_owned());
    Message::Request(r)
}

/// A response to `req` as a peer would build it.
pub fn answer(req: &Request, status: u16, to_tag: &str, contact: &str, body: Option<&str>) -> Message {
    let mut r = Response::for_request(req, status);
    if status > 100 {
        r.set_to_tag(to_tag);
        r.headers.push(HeaderName::Contact, format!("<{contact}>"));
    }
    if let Some(b) = body {
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = bytes::Bytes::from(b.to_owned());
    }
    Message::Response(r)
}

pub fn req_of(m: &Message) -> &Request {
    match m {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {} {}", r.status, r.reason),
    }
}

pub fn statuses(msgs: &[Message]) -> Vec<u16> {
    msgs.iter().filter_map(|m| if let Message::Response(r) = m { Some(r.status) } else { None }).collect()
}

pub fn methods(msgs: &[Message]) -> Vec<String> {
    msgs.iter().filter_map(|m| if let Message::Request(r) = m { Some(r.method.to_string()) } else { None }).collect()
}

/// The CANCEL for an INVITE (RFC 3261 §9.1: same Request-URI, Via branch, Call-ID, From, To and
/// CSeq number; no body).
pub fn cancel_of(invite: &Request) -> Message {
    let mut cancel = invite.clone();
    cancel.method = crate::sip::message::Method::Cancel;
    let seq = invite.headers.cseq().map_or(1, |c| c.seq);
    cancel.headers.set(HeaderName::CSeq, format!("{seq} CANCEL"));
    cancel.body = bytes::Bytes::new();
    cancel.headers.remove(&HeaderName::ContentType);
    Message::Request(cancel)
}

//! The first answer to every request outside a transaction: checks a UAS must make (RFC 3261 §8.2),
//! then the method's answer. Pure: a request in, a decision out.
use crate::sip::message::{check_request, HeaderName, Method, Request, Response};
use crate::sip::message::Uri;

/// Methods this node accepts; sent in Allow.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY";
/// Option tags this node implements; sent in Supported. Only what really works is listed.
pub const SUPPORTED: &[&str] = &[];
/// Body types we understand.
pub const ACCEPT: &str = "application/sdp";

/// What to do with a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer with this final response; `cause` is a stable code for logs and metrics.
    Respond { response: Response, cause: &'static str },
    /// Nothing to send (a stray ACK).
    Absorb { cause: &'static str },
    /// A new INVITE that passed every check: the call logic takes it.
    Call,
    /// A REGISTER that passed the checks: the registrar answers it.
    Register,
}

/// Node-level state the policy needs.
#[derive(Debug, Clone)]
pub struct InboundPolicy {
    pub server_name: String,
    /// False while draining: new work is refused with 503.
    pub accepting: bool,
    /// True while the node is behind (a request waited too long before it was handled): new
    /// calls are refused with 503 + Retry-After instead of piling up (load shedding).
    pub shedding: bool,
    /// Seeds To tags; the runtime passes a random value so tags differ across restarts.
    pub tag_seed: u64,
    counter: u64,
}

impl InboundPolicy {
    pub fn new(server_name: String, tag_seed: u64) -> Self {
        InboundPolicy { server_name, accepting: true, shedding: false, tag_seed, counter: 0 }
    }

    fn next_tag(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        // splitmix64 of seed + counter: unique per response, unpredictable enough for a To tag.
        let mut z = self.tag_seed.wrapping_add(self.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016x}", z ^ (z >> 31))
    }

    fn respond(&mut self, req: &Request, status: u16, reason: Option<String>, cause: &'static str) -> Decision {
        let mut response = Response::for_request(req, status);
        if let Some(r) = reason {
            response.reason = r;
        }
        let tag = self.next_tag();
        response.set_to_tag(&tag);
        response.headers.push(HeaderName::Server, self.server_name.clone());
        Decision::Respond { response, cause }
    }

    /// Decides the answer to a new request (never called for CANCEL or retransmissions: the
    /// transaction layer handles those).
    pub fn decide(&mut self, req: &Request) -> Decision {
        if req.method == Method::Ack {
            // An ACK with no transaction: for a 2xx we never sent, or a late retransmission.
            return Decision::Absorb { cause: "sip.stray_ack" };
        }
        if let Err(fault) = check_request(req) {
            return self.respond(req, fault.status(), Some(fault.reason()), "sip.bad_request");
        }
        if !matches!(Uri::parse(&req.uri), Ok(Uri::Sip(_)) | Ok(Uri::Tel(_))) {
            return self.respond(req, 416, None, "sip.unsupported_uri_scheme");
        }
        if req.method != Method::Options {
            if let Ok(Some(0)) = req.headers.max_forwards() {
                return self.respond(req, 483, None, "sip.too_many_hops");
            }
        }
        let unsupported: Vec<String> = req
            .headers
            .require()
            .unwrap_or_default()
            .into_iter()
            .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .collect();
        if !unsupported.is_empty() {
            let mut d = self.respond(req, 420, None, "sip.bad_extension");
            if let Decision::Respond { response, .. } = &mut d {
                response.headers.push(HeaderName::Unsupported, unsupported.join(", "));
            }
            return d;
        }
        let in_dialog = req.headers.to_addr().ok().and_then(|t| t.tag().map(str::to_owned)).is_some();
        match &req.method {
            Method::Options => {
                let mut d = self.respond(req, 200, None, "normal");
                if let Decision::Respond { response, .. } = &mut d {
                    response.headers.push(HeaderName::Allow, ALLOW);
                    response.headers.push(HeaderName::Accept, ACCEPT);
                    response.headers.push(HeaderName::Supported, SUPPORTED.join(", "));
                    response.headers.push(HeaderName::Other("Accept-Encoding".into()), "identity");
                    response.headers.push(HeaderName::Other("Accept-Language".into()), "en");
                }
                d
            }
            Method::Bye | Method::Prack | Method::Update => {
                self.respond(req, 481, None, "sip.no_dialog")
            }
            Method::Invite if in_dialog => self.respond(req, 481, None, "sip.no_dialog"),
            _ if in_dialog => self.respond(req, 481, None, "sip.no_dialog"),
            Method::Invite => {
                if self.shedding {
                    let mut d = self.respond(req, 503, Some("Service Unavailable (overload)".into()), "node.overload");
                    if let Decision::Respond { response, .. } = &mut d {
                        response.headers.push(HeaderName::RetryAfter, "5");
                    }
                    return d;
                }
                if !self.accepting {
                    let mut d = self.respond(req, 503, None, "node.draining");
                    if let Decision::Respond { response, .. } = &mut d {
                        response.headers.push(HeaderName::RetryAfter, "30");
                    }
                    return d;
                }
                match req.headers.content_type() {
                    Ok(Some(ct)) if !ct.is("application", "sdp") && !ct.is("multipart", "mixed") => {
                        let mut d = self.respond(req, 415, None, "sip.unsupported_media_type");
                        if let Decision::Respond { response, .. } = &mut d {
                            response.headers.push(HeaderName::Accept, ACCEPT);
                        }
                        d
                    }
                    _ => Decision::Call,
                }
            }
            Method::Register => Decision::Register,
            Method::Other(_) => {
                let mut d = self.respond(req, 501, None, "sip.method_not_implemented");
                if let Decision::Respond { response, .. } = &mut d {
                    response.headers.push(HeaderName::Allow, ALLOW);
                }
                d
            }
            _ => {
                let mut d = self.respond(req, 405, None, "sip.method_not_allowed");
                if let Decision::Respond { response, .. } = &mut d {
                    response.headers.push(HeaderName::Allow, ALLOW);
                }
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;

    fn req(method: &str, to_tag: bool) -> Request {
        let to = if to_tag { "<sip:95555@gw>;tag=x" } else { "<sip:95555@gw>" };
        let text = format!("{method} sip:95555@gw SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!("a request was written"),
        }
    }

    #[test]
    fn shedding_refuses_new_calls_only() {
        let mut p = InboundPolicy::new("ncgw".into(), 1);
        assert_eq!(p.decide(&req("INVITE", false)), Decision::Call);
        p.shedding = true;
        match p.decide(&req("INVITE", false)) {
            Decision::Respond { response, cause } => {
                assert_eq!((response.status, cause), (503, "node.overload"));
                assert_eq!(response.headers.get(&HeaderName::RetryAfter), Some("5"));
            }
            other => panic!("{other:?}"),
        }
        // Keepalives and requests for dialogs are still answered normally.
        assert!(matches!(p.decide(&req("OPTIONS", false)), Decision::Respond { response, .. } if response.status == 200));
        assert!(matches!(p.decide(&req("BYE", true)), Decision::Respond { response, .. } if response.status == 481));
    }
}

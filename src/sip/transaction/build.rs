//! Requests the layer writes itself from a client INVITE: the hop-by-hop ACK for a non-2xx final
//! (RFC 3261 §17.1.1.3) and the CANCEL (§9.1). Both reuse the INVITE's branch.
use crate::sip::message::{HeaderName, Method, Request};

/// Max-Forwards for requests the layer originates (RFC 3261 §8.1.1.6).
const MAX_FORWARDS: &str = "70";

/// The ACK for a non-2xx final, but for its To header, which the response supplies: the
/// INVITE's Request-URI, top Via, From, Call-ID and Route set, CSeq number with method ACK.
pub(crate) fn ack_template(invite: &Request, top_via: &str, seq: u32) -> Request {
    same_hop(invite, Method::Ack, top_via, seq)
}

/// The CANCEL for an INVITE: like the ACK but To is the INVITE's, plus an optional Reason
/// (RFC 3326) such as `Q.850;cause=16;text="Normal call clearing"`.
pub(crate) fn cancel(invite: &Request, top_via: &str, seq: u32, reason: Option<&str>) -> Request {
    let mut cancel = same_hop(invite, Method::Cancel, top_via, seq);
    if let Some(reason) = reason {
        cancel.headers.push(HeaderName::Reason, reason);
    }
    cancel
}

fn same_hop(invite: &Request, method: Method, top_via: &str, seq: u32) -> Request {
    let mut req = Request::new(method.clone(), invite.uri.clone());
    let h = &mut req.headers;
    h.push(HeaderName::Via, top_via);
    h.push(HeaderName::MaxForwards, MAX_FORWARDS);
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(value) = invite.headers.get(&name) {
            h.push(name, value);
        }
    }
    h.push(HeaderName::CSeq, format!("{seq} {method}"));
    for route in invite.headers.get_all(&HeaderName::Route) {
        h.push(HeaderName::Route, route);
    }
    h.push(HeaderName::ContentLength, "0");
    req
}

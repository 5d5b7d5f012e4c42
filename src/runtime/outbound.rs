//! Addressing at the edge of the runtime: Via stamping on receipt (RFC 3261 §18.2.1, RFC 3581),
//! where a response goes (§18.2.2), which local address we speak from, and the OPTIONS we send.
use std::net::{IpAddr, SocketAddr};

use crate::sip::message::{Host, HeaderName, Method, Request, Via};
use crate::sip::peer::Transport;

/// Adds `received` when the top Via's host is not the packet's source IP, and fills an empty
/// `rport` with the source port (RFC 3581 §4), so the response finds its way back through NAT.
/// A request whose Via does not parse is left alone; the transaction layer refuses it.
pub fn stamp_via(req: &mut Request, source: SocketAddr) {
    let Ok(mut vias) = req.headers.vias() else { return };
    let Some(top) = vias.first_mut() else { return };
    let host_is_source = match &top.host {
        Host::V4(ip) => IpAddr::V4(*ip) == source.ip(),
        Host::V6(ip) => IpAddr::V6(*ip) == source.ip(),
        Host::Domain(_) => false,
    };
    let wants_rport = matches!(top.rport(), Some(None));
    if host_is_source && !wants_rport {
        return;
    }
    if !host_is_source || wants_rport {
        top.set_received(source.ip());
    }
    if wants_rport {
        top.set_rport(source.port());
    }
    req.headers.remove(&HeaderName::Via);
    for via in vias.iter().rev() {
        req.headers.push_front(HeaderName::Via, via.to_string());
    }
}

/// Where a UDP response goes: the `received` address (or the source) and the `rport` value, else
/// the sent-by port, else 5060 (RFC 3261 §18.2.2, RFC 3581 §4).
pub fn response_target(via: &Via, source: SocketAddr) -> SocketAddr {
    let ip = via.received().and_then(|r| r.trim_matches(['[', ']']).parse::<IpAddr>().ok()).unwrap_or(source.ip());
    let port = match via.rport() {
        Some(Some(p)) => p,
        Some(None) => source.port(),
        None => via.port.unwrap_or(5060),
    };
    SocketAddr::new(ip, port)
}

/// The local address to put in Via/Contact when talking to `target`: a bound listener of the
/// same family, with the wildcard replaced by the address the kernel would route from.
pub fn local_addr_for(target: SocketAddr, bound: &[SocketAddr]) -> SocketAddr {
    let listener = bound.iter().find(|a| a.is_ipv4() == target.is_ipv4()).or(bound.first()).copied();
    let Some(mut addr) = listener else { return SocketAddr::new(target.ip(), 5060) };
    if addr.ip().is_unspecified() {
        // connect() on UDP sends nothing; it only asks the kernel for the route's source address.
        let probe = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        if let Ok(sock) = std::net::UdpSocket::bind(probe) {
            if sock.connect(target).is_ok() {
                if let Ok(local) = sock.local_addr() {
                    addr.set_ip(local.ip());
                }
            }
        }
    }
    addr
}

fn host_of(ip: IpAddr) -> Host {
    match ip {
        IpAddr::V4(v4) => Host::V4(v4),
        IpAddr::V6(v6) => Host::V6(v6),
    }
}

fn uri_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// An out-of-dialog OPTIONS to `target` (RFC 3261 §11), as a keepalive/ping.
pub fn options_request(target: SocketAddr, transport: Transport, local: SocketAddr, branch: &str, server_name: &str, tag: &str) -> Request {
    let transport_param = if transport == Transport::Udp { String::new() } else { format!(";transport={}", transport.as_via_str().to_ascii_lowercase()) };
    let mut req = Request::new(Method::Options, format!("sip:{}{}", uri_host(target), transport_param));
    let mut via = Via::new(transport.as_via_str(), host_of(local.ip()), Some(local.port()), branch);
    via.params.push("rport", None);
    req.headers.push(HeaderName::Via, via.to_string());
    req.headers.push(HeaderName::MaxForwards, "70");
    req.headers.push(HeaderName::From, format!("<sip:ping@{}>;tag={}", uri_host(local), &tag[tag.len().saturating_sub(16)..]));
    req.headers.push(HeaderName::To, format!("<sip:{}>", uri_host(target)));
    req.headers.push(HeaderName::CallId, format!("{}@{}", &branch[branch.len().saturating_sub(20)..], local.ip()));
    req.headers.push(HeaderName::CSeq, "1 OPTIONS");
    req.headers.push(HeaderName::Accept, "application/sdp");
    req.headers.push(HeaderName::UserAgent, server_name);
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;

    fn request(via: &str) -> Request {
        let text = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!("a request was written"),
        }
    }

    #[test]
    fn rport_and_received_are_stamped_and_followed() {
        let mut req = request("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKa;rport");
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        stamp_via(&mut req, src);
        let vias = req.headers.vias().unwrap();
        assert_eq!(vias.len(), 2, "the second Via is kept");
        assert_eq!(vias[0].received(), Some("127.0.0.1"));
        assert_eq!(vias[0].rport(), Some(Some(40000)));
        assert_eq!(response_target(&vias[0], src), src);
        assert_eq!(vias[1].branch(), Some("z9hG4bKold"));
    }

    #[test]
    fn without_rport_the_sent_by_port_is_used_on_the_source_ip() {
        let mut req = request("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKa");
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        stamp_via(&mut req, src);
        let top = req.headers.top_via().unwrap();
        assert_eq!(top.received(), Some("127.0.0.1"));
        assert_eq!(response_target(&top, src), "127.0.0.1:5080".parse().unwrap());
    }

    #[test]
    fn matching_host_without_rport_is_untouched() {
        let mut req = request("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKa");
        let before = req.clone();
        stamp_via(&mut req, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(req, before);
    }

    #[test]
    fn options_request_is_well_formed() {
        let req = options_request("127.0.0.1:5070".parse().unwrap(), Transport::Udp, "127.0.0.1:5060".parse().unwrap(), "z9hG4bKabc123", "ncgw", "tag1");
        crate::sip::message::check_request(&req).unwrap();
        let bytes = Message::Request(req).to_bytes();
        assert!(Message::parse(&bytes).is_ok());
    }
}

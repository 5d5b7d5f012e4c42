//! SIP dialogs (RFC 3261 §12): what both ends of a dialog share, created from the request/response
//! that establishes it, and the requests sent inside it (route set, remote target, CSeq).

#[cfg(test)]
mod tests;

use crate::sip::message::{HeaderName, Method, NameAddr, Request, Response, Via};
use crate::sip::message::{ContactList, HeaderError};

/// The key that identifies a dialog at this end: Call-ID, our tag, their tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog id an incoming request names: its To tag is ours, its From tag is theirs.
    pub fn of_incoming(req: &Request) -> Option<DialogId> {
        let call_id = req.headers.call_id().ok()?.to_owned();
        let local_tag = req.headers.to_addr().ok()?.tag()?.to_owned();
        let remote_tag = req.headers.from_addr().ok()?.tag()?.to_owned();
        Some(DialogId { call_id, local_tag, remote_tag })
    }
}

/// Early (after a 1xx with a tag) or confirmed (after a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a dialog could not be created or used; the peer's message is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header needed for the dialog is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The message that would create the dialog has no tag where one is required.
    #[error("no {0} tag")]
    MissingTag(&'static str),
    /// The Contact (remote target) is missing, `*`, or more than one.
    #[error("the Contact must hold exactly one URI")]
    BadContact,
    /// An in-dialog request's CSeq is not above the last one seen (RFC 3261 §12.2.2: answer 500).
    #[error("CSeq {got} is not above {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
}

/// One end's view of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our identity (From in our requests), without tag.
    pub local: NameAddr,
    /// Theirs (To in our requests), without tag.
    pub remote: NameAddr,
    /// The CSeq of the last request we sent in the dialog.
    pub local_seq: u32,
    /// The CSeq of the last request they sent; `None` until they send one.
    pub remote_seq: Option<u32>,
    /// Where requests go (their Contact).
    pub remote_target: String,
    /// Route headers for our requests, in order.
    pub route_set: Vec<String>,
    pub state: DialogState,
}

fn single_contact(headers: &crate::sip::message::Headers) -> Result<String, DialogError> {
    match headers.contacts()? {
        ContactList::Addrs(list) if list.len() == 1 => Ok(list[0].uri.to_string()),
        _ => Err(DialogError::BadContact),
    }
}

fn without_tag(mut n: NameAddr) -> NameAddr {
    n.params.remove("tag");
    n
}

impl Dialog {
    /// The dialog a UAS creates when it answers `req` with a 1xx/2xx carrying `local_tag`
    /// (RFC 3261 §12.1.1): route set from Record-Route in order, target from Contact.
    pub fn as_uas(req: &Request, local_tag: &str, state: DialogState) -> Result<Dialog, DialogError> {
        let from = req.headers.from_addr()?;
        let remote_tag = from.tag().ok_or(DialogError::MissingTag("From"))?.to_owned();
        let route_set = req.headers.record_routes()?.iter().map(|r| r.to_string()).collect();
        Ok(Dialog {
            call_id: req.headers.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag,
            local: without_tag(req.headers.to_addr()?),
            remote: without_tag(from),
            local_seq: 0,
            remote_seq: Some(req.headers.cseq()?.seq),
            remote_target: single_contact(&req.headers)?,
            route_set,
            state,
        })
    }

    /// The dialog a UAC creates from a 1xx/2xx to its `req` (RFC 3261 §12.1.2): route set from
    /// the response's Record-Route reversed, target from the response's Contact.
    pub fn as_uac(req: &Request, resp: &Response) -> Result<Dialog, DialogError> {
        let to = resp.headers.to_addr()?;
        let remote_tag = to.tag().ok_or(DialogError::MissingTag("To"))?.to_owned();
        let from = req.headers.from_addr()?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag("From"))?.to_owned();
        let mut route_set: Vec<String> = resp.headers.record_routes()?.iter().map(|r| r.to_string()).collect();
        route_set.reverse();
        Ok(Dialog {
            call_id: req.headers.call_id()?.to_owned(),
            local_tag,
            remote_tag,
            local: without_tag(from),
            remote: without_tag(to),
            local_seq: req.headers.cseq()?.seq,
            remote_seq: None,
            remote_target: single_contact(&resp.headers)?,
            route_set,
            state: if resp.is_success() { DialogState::Confirmed } else { DialogState::Early },
        })
    }

    pub fn id(&self) -> DialogId {
        DialogId { call_id: self.call_id.clone(), local_tag: self.local_tag.clone(), remote_tag: self.remote_tag.clone() }
    }

    /// Checks and records an incoming request's CSeq (RFC 3261 §12.2.2). ACK and CANCEL reuse
    /// the CSeq of the request they belong to and are not checked.
    pub fn accept_remote_cseq(&mut self, req: &Request) -> Result<(), DialogError> {
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let got = req.headers.cseq()?.seq;
        if let Some(last) = self.remote_seq {
            if got <= last {
                return Err(DialogError::CSeqOutOfOrder { got, last });
            }
        }
        self.remote_seq = Some(got);
        Ok(())
    }

    /// Target refresh (RFC 3261 §12.2): a re-INVITE/UPDATE or its 2xx may carry a new Contact.
    pub fn refresh_target(&mut self, headers: &crate::sip::message::Headers) {
        if let Ok(target) = single_contact(headers) {
            self.remote_target = target;
        }
    }

    /// A new request inside the dialog (RFC 3261 §12.2.1.1), with the next CSeq. `via` carries
    /// a fresh branch. Loose routing when the first route has `lr`, strict routing otherwise.
    pub fn request(&mut self, method: Method, via: &Via) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.build(method, via, self.local_seq)
    }

    /// The ACK for a 2xx to our INVITE with CSeq `invite_seq` (RFC 3261 §13.2.2.4).
    pub fn ack(&self, invite_seq: u32, via: &Via) -> Request {
        self.build(Method::Ack, via, invite_seq)
    }

    fn build(&self, method: Method, via: &Via, seq: u32) -> Request {
        let loose = self.route_set.first().is_none_or(|r| r.contains(";lr"));
        let (ruri, routes): (String, Vec<String>) = if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            // Strict routing (RFC 3261 §12.2.1.1): the first route becomes the Request-URI and
            // the remote target goes last.
            let first = self.route_set[0].trim_start_matches('<').split('>').next().unwrap_or("").to_owned();
            let mut rest: Vec<String> = self.route_set[1..].to_vec();
            rest.push(format!("<{}>", self.remote_target));
            (first, rest)
        };
        let mut req = Request::new(method.clone(), ruri);
        req.headers.push(HeaderName::Via, via.to_string());
        req.headers.push(HeaderName::MaxForwards, "70");
        for r in routes {
            req.headers.push(HeaderName::Route, r);
        }
        req.headers.push(HeaderName::From, format!("{};tag={}", self.local, self.local_tag));
        req.headers.push(HeaderName::To, format!("{};tag={}", self.remote, self.remote_tag));
        req.headers.push(HeaderName::CallId, self.call_id.clone());
        req.headers.push(HeaderName::CSeq, format!("{seq} {method}"));
        req
    }
}

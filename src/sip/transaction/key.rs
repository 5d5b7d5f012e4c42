//! Transaction matching keys: responses to client transactions (RFC 3261 §17.1.3) and requests to
//! server transactions (§17.2.3, with the RFC 2543 fallback for branches without the magic cookie).
use super::TxError;
use crate::sip::message::{Method, Request, Response};

/// The RFC 3261 branch prefix that promises a globally unique branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A response matches a client transaction by the top Via branch and the CSeq method; the method
/// keeps a CANCEL's responses apart from the INVITE's, which share the branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    /// The key of an outgoing request, with its CSeq number and top Via (as written). The TU must
    /// have put a fresh RFC 3261 branch in the top Via.
    pub(crate) fn for_request(request: &Request) -> Result<(ClientKey, u32, String), TxError> {
        let via = request.headers.top_via()?;
        let branch = via
            .branch()
            .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len());
        let branch = branch.ok_or(TxError::MissingBranch)?.to_owned();
        let cseq = request.headers.cseq()?;
        if cseq.method != request.method {
            return Err(TxError::MethodMismatch {
                method: request.method.clone(),
                cseq: cseq.method,
            });
        }
        Ok((
            ClientKey {
                branch,
                method: cseq.method,
            },
            cseq.seq,
            via.to_string(),
        ))
    }

    /// The key a received response belongs to; `None` when its top Via has no branch, so it can
    /// match nothing we sent.
    pub(crate) fn for_response(response: &Response) -> Result<Option<ClientKey>, TxError> {
        let via = response.headers.top_via()?;
        let cseq = response.headers.cseq()?;
        Ok(via.branch().map(|branch| ClientKey {
            branch: branch.to_owned(),
            method: cseq.method,
        }))
    }

    /// The same branch with another method: the CANCEL for an INVITE.
    pub(crate) fn with_method(&self, method: Method) -> ClientKey {
        ClientKey {
            branch: self.branch.clone(),
            method,
        }
    }

    pub(crate) fn branch(&self) -> &str {
        &self.branch
    }
}

/// A request matches a server transaction by this key. ACK is keyed as the INVITE it acknowledges;
/// CANCEL has its own transaction and finds its INVITE through `with_method`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// Branch with the magic cookie, sent-by (host lowercased) and method.
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// RFC 2543 peers: Request-URI, From and To tags, Call-ID, CSeq and the whole top Via. An ACK
    /// carries the To tag of our response, which an initial INVITE lacked: see `without_to_tag`.
    Rfc2543 {
        uri: String,
        from_tag: Option<String>,
        to_tag: Option<String>,
        call_id: String,
        seq: u32,
        method: Method,
        top_via: String,
    },
}

impl ServerKey {
    /// The key of a received request. Fails on a request the runtime must answer with 400.
    pub(crate) fn for_request(request: &Request) -> Result<ServerKey, TxError> {
        let via = request.headers.top_via()?;
        let cseq = request.headers.cseq()?;
        if cseq.method != request.method {
            return Err(TxError::MethodMismatch {
                method: request.method.clone(),
                cseq: cseq.method,
            });
        }
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        if let Some(branch) = via.branch().filter(|b| b.starts_with(MAGIC_COOKIE)) {
            return Ok(ServerKey::Rfc3261 {
                branch: branch.to_owned(),
                sent_by: via.sent_by_string().to_ascii_lowercase(),
                method,
            });
        }
        let call_id = request.headers.call_id()?.to_owned();
        let from = request.headers.from_addr()?;
        let to = request.headers.to_addr()?;
        Ok(ServerKey::Rfc2543 {
            uri: request.uri.clone(),
            from_tag: from.tag().map(str::to_owned),
            to_tag: to.tag().map(str::to_owned),
            call_id,
            seq: cseq.seq,
            method,
            top_via: via.to_string(),
        })
    }

    /// The same transaction identity with another method: a CANCEL's INVITE.
    pub(crate) fn with_method(&self, method: Method) -> ServerKey {
        let mut key = self.clone();
        match &mut key {
            ServerKey::Rfc3261 { method: m, .. } | ServerKey::Rfc2543 { method: m, .. } => {
                *m = method
            }
        }
        key
    }

    /// For an RFC 2543 ACK with a To tag: the key of an INVITE that had none, whose final response
    /// must then have carried the ACK's tag (RFC 3261 §17.2.3).
    pub(crate) fn without_to_tag(&self) -> Option<(ServerKey, &str)> {
        match self {
            ServerKey::Rfc2543 {
                to_tag: Some(tag), ..
            } => {
                let mut key = self.clone();
                if let ServerKey::Rfc2543 { to_tag, .. } = &mut key {
                    *to_tag = None;
                }
                Some((key, tag))
            }
            _ => None,
        }
    }
}

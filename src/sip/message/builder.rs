//! Building responses from requests (RFC 3261 §8.2.6).
use super::{HeaderName, Request, Response};

impl Response {
    /// A response to `req`: copies every Via (in order), From, To, Call-ID and CSeq as received,
    /// with `Content-Length: 0` and the default reason phrase. The caller adds a To tag where the
    /// response needs one ([`Response::set_to_tag`]); tags are random and this layer has no RNG.
    pub fn for_request(req: &Request, status: u16) -> Response {
        let mut resp = Response::new(status);
        for h in &req.headers {
            if matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq) {
                resp.headers.push(h.name.clone(), h.value.clone());
            }
        }
        resp.headers.push(HeaderName::ContentLength, "0");
        resp
    }

    /// Adds `;tag=<tag>` to the To header, unless it already has a tag (or there is no To).
    pub fn set_to_tag(&mut self, tag: &str) {
        let has_tag = match self.headers.to_addr() {
            Ok(to) => to.tag().is_some(),
            // Unparsable To: look at the raw text so that we never add a second tag.
            Err(_) => self.headers.get(&HeaderName::To).is_none_or(|v| v.to_ascii_lowercase().contains("tag=")),
        };
        if has_tag {
            return;
        }
        if let Some(to) = self.headers.get(&HeaderName::To) {
            let value = format!("{to};tag={tag}");
            self.headers.set(HeaderName::To, value);
        }
    }
}

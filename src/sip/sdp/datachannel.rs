//! SDP-negotiated data channels (RFC 8864): `a=dcmap` and `a=dcsa` as typed values.
//!
//! TS 24.186 §9.3 gives stream ids meaning: 0 and 10 are the local bootstrap channel, 100 and 110
//! the remote one, 1000 and above application channels.

use super::error::AttributeError;
use super::model::Attribute;
use super::parse::{digits_u16, parse_attribute, split_unquoted};

/// `a=dcmap:<stream-id> [<param>[;<param>…]]`, e.g. `0 subprotocol="http"` or
/// `1000 label="form";max-retr=3;ordered=true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dcmap {
    pub stream_id: u16,
    /// Parameters in order; quoted values keep their quotes (use [`Dcmap::get`] to unquote).
    pub params: Vec<(String, Option<String>)>,
}

impl Dcmap {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let value = value.trim();
        let (id, rest) = match value.split_once(' ') {
            Some((id, rest)) => (id, rest),
            None => (value, ""),
        };
        let stream_id = digits_u16(id).ok_or(AttributeError::Invalid("stream id"))?;
        let params = split_unquoted(rest, ';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.trim().to_owned(), Some(v.trim().to_owned())),
                None => (p.to_owned(), None),
            })
            .collect();
        Ok(Dcmap { stream_id, params })
    }

    /// A parameter's value with surrounding double quotes removed.
    pub fn get(&self, name: &str) -> Option<&str> {
        let v = self
            .params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?
            .1
            .as_deref()?;
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        )
    }

    pub fn label(&self) -> Option<&str> {
        self.get("label")
    }

    pub fn subprotocol(&self) -> Option<&str> {
        self.get("subprotocol")
    }

    /// Whether this is a bootstrap channel (stream id 0, 10, 100 or 110; TS 24.186 §9.3.2).
    pub fn is_bootstrap(&self) -> bool {
        matches!(self.stream_id, 0 | 10 | 100 | 110)
    }
}

/// `a=dcsa:<stream-id> <attribute>`: an SDP attribute scoped to one data channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dcsa {
    pub stream_id: u16,
    pub attribute: Attribute,
}

impl Dcsa {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (id, rest) = value
            .trim()
            .split_once(' ')
            .ok_or(AttributeError::Missing("attribute"))?;
        let stream_id = digits_u16(id).ok_or(AttributeError::Invalid("stream id"))?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(AttributeError::Missing("attribute"));
        }
        Ok(Dcsa {
            stream_id,
            attribute: parse_attribute(rest),
        })
    }
}

impl std::fmt::Display for Dcmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.stream_id)?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ";" })?;
            f.write_str(name)?;
            if let Some(v) = value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Dcsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.stream_id, self.attribute)
    }
}

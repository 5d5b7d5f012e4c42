//! Resource-reservation preconditions (RFC 3312 §5, as VoLTE uses them): `a=curr`, `a=des`,
//! `a=conf` as a typed value.

use std::fmt::{self, Display, Formatter};

use super::error::AttributeError;

/// Which precondition attribute (RFC 3312 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreconditionKind {
    /// `a=curr:`: the current status.
    Current,
    /// `a=des:`: the desired status.
    Desired,
    /// `a=conf:`: the status the peer wants to be told about.
    Confirm,
}

/// Strength of a desired precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    Mandatory,
    Optional,
    None,
    Failure,
    Unknown,
}

/// Whose resources a precondition is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    E2e,
    Local,
    Remote,
}

/// Direction of a precondition (not the same vocabulary as media [`Direction`](super::Direction)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrecondDirection {
    None,
    Send,
    Recv,
    SendRecv,
}

/// `a=curr:qos local none`, `a=des:qos mandatory local sendrecv`, `a=conf:qos remote sendrecv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    pub kind: PreconditionKind,
    /// The precondition type, `qos` in practice.
    pub precondition_type: String,
    /// Only `a=des` has a strength.
    pub strength: Option<Strength>,
    pub status_type: StatusType,
    pub direction: PrecondDirection,
}

impl Precondition {
    /// Parses the value of a `curr`, `des` or `conf` attribute.
    pub fn parse(kind: PreconditionKind, value: &str) -> Result<Self, AttributeError> {
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let (ptype, strength, status, dir) = match (kind, &f[..]) {
            (PreconditionKind::Desired, [t, s, st, d]) => (*t, Some(parse_strength(s)?), *st, *d),
            (PreconditionKind::Current | PreconditionKind::Confirm, [t, st, d]) => {
                (*t, None, *st, *d)
            }
            _ => return Err(AttributeError::Invalid("precondition fields")),
        };
        let status_type = match status {
            "e2e" => StatusType::E2e,
            "local" => StatusType::Local,
            "remote" => StatusType::Remote,
            _ => return Err(AttributeError::Invalid("status-type")),
        };
        let direction = match dir {
            "none" => PrecondDirection::None,
            "send" => PrecondDirection::Send,
            "recv" => PrecondDirection::Recv,
            "sendrecv" => PrecondDirection::SendRecv,
            _ => return Err(AttributeError::Invalid("direction-tag")),
        };
        Ok(Precondition {
            kind,
            precondition_type: ptype.to_owned(),
            strength,
            status_type,
            direction,
        })
    }

    /// The attribute name for this kind.
    pub fn attribute_name(&self) -> &'static str {
        match self.kind {
            PreconditionKind::Current => "curr",
            PreconditionKind::Desired => "des",
            PreconditionKind::Confirm => "conf",
        }
    }
}

fn parse_strength(s: &str) -> Result<Strength, AttributeError> {
    match s {
        "mandatory" => Ok(Strength::Mandatory),
        "optional" => Ok(Strength::Optional),
        "none" => Ok(Strength::None),
        "failure" => Ok(Strength::Failure),
        "unknown" => Ok(Strength::Unknown),
        _ => Err(AttributeError::Invalid("strength-tag")),
    }
}

impl Display for Precondition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.precondition_type)?;
        if let Some(s) = self.strength {
            let s = match s {
                Strength::Mandatory => "mandatory",
                Strength::Optional => "optional",
                Strength::None => "none",
                Strength::Failure => "failure",
                Strength::Unknown => "unknown",
            };
            write!(f, " {s}")?;
        }
        let st = match self.status_type {
            StatusType::E2e => "e2e",
            StatusType::Local => "local",
            StatusType::Remote => "remote",
        };
        let d = match self.direction {
            PrecondDirection::None => "none",
            PrecondDirection::Send => "send",
            PrecondDirection::Recv => "recv",
            PrecondDirection::SendRecv => "sendrecv",
        };
        write!(f, " {st} {d}")
    }
}

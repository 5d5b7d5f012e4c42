//! Errors from parsing SDP: all of them mean the peer sent a broken description.
//!
//! Line numbers count from 1 and include blank lines, so they match what a person sees in a trace.

/// Why a session description was rejected. Every variant is the peer's fault (garbage in the
/// body); none of them is a bug of ours or a configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than we are willing to parse.
    #[error("SDP body is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    /// The body holds more media descriptions than we are willing to handle.
    #[error("line {line}: more than {max} media descriptions")]
    TooManyMedia { line: usize, max: usize },
    /// The body has no lines at all.
    #[error("SDP body is empty")]
    Empty,
    /// A line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 { line: usize },
    /// A line is not of the form `x=value` with `x` a single letter.
    #[error("line {line}: not a `<letter>=<value>` line")]
    MalformedLine { line: usize },
    /// The first line is not `v=`.
    #[error("line {line}: the description must start with `v=`")]
    VersionNotFirst { line: usize },
    /// A mandatory session-level line (`o=` or `s=`) is absent.
    #[error("the mandatory `{field}=` line is missing")]
    MissingField { field: char },
    /// A line that may appear once per section appears again.
    #[error("line {line}: duplicate `{field}=` line")]
    DuplicateField { line: usize, field: char },
    /// A line appears where RFC 8866 does not allow it (e.g. `r=` before `t=`, `o=` in a media
    /// section).
    #[error("line {line}: `{field}=` is not allowed here")]
    Misplaced { line: usize, field: char },
    /// A known line has a value that does not follow its grammar.
    #[error("line {line}: bad `{field}=` line: {reason}")]
    InvalidField {
        line: usize,
        field: char,
        reason: &'static str,
    },
}

/// Why the value of one attribute could not be read as its typed form. Typed accessors skip such
/// attributes (a peer's odd attribute must not fail the call); the `parse` functions return this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    /// A required part of the value is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A part of the value is present but does not follow its grammar.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

//! Configuration errors that say where (file:line:column), which field, what is wrong and the fix.
use std::fmt;
use std::path::Path;

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<embedded defaults>`, or `command line`).
    pub source: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub line: Option<(usize, usize)>,
    /// The dotted field name, e.g. `sip.listen`, or the flag, e.g. `--rtp-ports`.
    pub field: String,
    pub message: String,
    pub fix: String,
}

impl ConfigError {
    pub fn io(path: &Path, message: String, fix: &str) -> Self {
        ConfigError {
            source: path.display().to_string(),
            line: None,
            field: String::new(),
            message,
            fix: fix.to_owned(),
        }
    }

    /// An error at byte offset `at` of `text`.
    pub fn at(source: &str, text: &str, at: Option<usize>, field: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError {
            source: source.to_owned(),
            line: at.map(|offset| line_col(text, offset)),
            field: field.to_owned(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some((line, col)) = self.line {
            write!(f, ":{line}:{col}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All problems found; validation goes on after the first so an operator fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

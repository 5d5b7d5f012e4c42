//! Configuration in two stages: raw TOML (`raw`, unknown fields refused) → validated `Settings`.
//!
//! Every error names the file, the line and the field, and says how to fix it. Command-line
//! overrides are applied to the raw stage so they are validated by the same code.

mod error;
mod raw;
mod settings;

pub use error::{ConfigError, ConfigErrors};
pub use raw::RawConfig;
pub use settings::{LogFormat, Settings};

use std::path::Path;

/// Values given on the command line; they win over the file and the embedded defaults.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub sip_listen: Vec<String>,
    pub admin_listen: Option<String>,
    pub data_dir: Option<String>,
    pub rtp_ports: Option<String>,
}

/// Loads `path` (or the embedded defaults when `None`), applies the overrides and validates.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigErrors> {
    let (source, text) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigErrors::one(ConfigError::io(p, format!("cannot read: {e}"), "check the path given to --config"))
            })?;
            (p.display().to_string(), text)
        }
        None => ("<embedded defaults>".to_owned(), String::new()),
    };
    let raw = RawConfig::parse(&source, &text).map_err(ConfigErrors::one)?;
    Settings::validate(&source, &text, raw, overrides)
}

//! The error type of the reader: one line of the file, what is wrong and what would be valid.

use std::path::PathBuf;

/// Broad class of a [`HaproxyCfgError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Quoting, escaping or variable syntax.
    Syntax,
    /// A value that is not valid (address, port, time, number, ...).
    Invalid,
    /// Valid HAProxy that sentinel-proxy cannot honour (unix sockets, crl-file, crt-list, ...).
    Unsupported,
    /// Something the chart's file always has is missing.
    Missing,
    /// Two places disagree (master name, Sentinel password, duplicate names).
    Inconsistent,
}

/// `haproxy.cfg line 12: <what is wrong and what would be valid>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct HaproxyCfgError {
    pub kind: ErrorKind,
    /// The file, when parsing files (`None` for [`parse`], shown as `haproxy.cfg`).
    pub file: Option<PathBuf>,
    /// 1-based line number; 0 when the error is about the whole file.
    pub line: usize,
    pub message: String,
}

impl HaproxyCfgError {
    fn render(&self) -> String {
        let file = match &self.file {
            Some(p) => p.display().to_string(),
            None => "haproxy.cfg".to_string(),
        };
        if self.line == 0 {
            format!("{file}: {}", self.message)
        } else {
            format!("{file} line {}: {}", self.line, self.message)
        }
    }
}

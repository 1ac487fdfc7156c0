//! Names of environment variables: which variable a key is read from, and the closest known
//! name for one that is not read (the startup warning).

use std::fmt;

use super::{ENV_PREFIX, KEYS, PASSWORD_ENV};

/// A `SENTINEL_PROXY_*` variable that is not read ([`Config::unknown_env`]). Its `Display` is
/// the warning: `SENTINEL_PROXY_LISTN is not a sentinel-proxy setting (ignored); did you mean
/// SENTINEL_PROXY_LISTEN?`. The value is never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVar {
    pub name: String,
    /// The closest variable that is read, when one is close enough to be a likely typo.
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a sentinel-proxy setting (ignored)", self.name)?;
        match &self.suggestion {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => f.write_str("; a typo, or a Kubernetes service link?"),
        }
    }
}

/// The variable a key is read from: `SENTINEL_PROXY_<KEY>`, or the password's own name.
pub(super) fn env_name(key: &str) -> String {
    PASSWORD_ENV
        .iter()
        .find(|(_, k)| *k == key)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()))
}

/// The known name closest to `name`: `SENTINEL_PROXY_<KEY>` for a key that is read under a
/// name of its own (the passwords), else the nearest by edit distance, if it is within a third
/// of the length (at least 2 edits), so that a service link such as `SENTINEL_PROXY_PORT` is
/// not "corrected" into an unrelated setting.
pub(super) fn closest_name(name: &str, known: &[String]) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX).unwrap_or(name);
    if let Some(key) = KEYS.iter().find(|k| k.eq_ignore_ascii_case(rest)) {
        return Some(env_name(key));
    }
    let budget = (rest.len() / 3).max(2);
    known
        .iter()
        .filter_map(|k| {
            let d = edit_distance(rest, k.strip_prefix(ENV_PREFIX)?);
            (d <= budget).then_some((d, k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance (insertions, deletions, substitutions; bytes).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

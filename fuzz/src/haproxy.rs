//! `haproxy_cfg::parse` on arbitrary text (bytes decoded as lossy UTF-8) with a fixed
//! environment. Invariants:
//! - no panic, no hang (libFuzzer `-timeout`), no unbounded allocation (`-rss_limit_mb`);
//! - an error points at a line of the text: `1 <= line <= number of lines`, no file name, and
//!   its message reads `haproxy.cfg line <n>: ...`;
//! - on success, every `ignored` entry is on a line of the text and every warning names one;
//! - the passwords in the environment never show in `ignored` (keywords and sections only, by
//!   contract) unless the text itself contains them, and `Debug` does not depend on the
//!   password fields (redacted). Other fields may hold any variable's value, as written;
//! - errors and warnings never show a password that came from a variable: when one shows
//!   it, the same text with other passwords of the same length (same control flow) must
//!   show it too (the text spelled it out, with escapes or in pieces).

use sentinel_proxy_haproxy::cfg::{self as haproxy_cfg, HaproxyCfgError};

pub const REDIS_SECRET: &str = "Zq7redisSECRETkx9";
pub const SENTINEL_SECRET: &str = "Wp3sentinelSECRETjm2";

/// The fixed environment: the chart's two secrets, a list for `${VAR[*]}`, an empty variable,
/// and one whose value looks like an expansion (it must not be expanded again).
pub fn env(name: &str) -> Option<String> {
    Some(
        match name {
            "AUTH" => REDIS_SECRET,
            "SENTINELAUTH" => SENTINEL_SECRET,
            "HOSTS" => "10.0.0.1 10.0.0.2  [::1]",
            "PORT" => "6379",
            "EMPTY" => "",
            "NESTED" => "${AUTH}$AUTH",
            _ => return None,
        }
        .to_string(),
    )
}

/// [`env`] with the two passwords replaced by others of the same length.
fn other_env(name: &str) -> Option<String> {
    let v = env(name)?;
    Some(
        v.replace(REDIS_SECRET, "Hh4other0PASSWORD")
            .replace(SENTINEL_SECRET, "Kk5another0PASSWORDx"),
    )
}

fn shows_secret(s: &str) -> bool {
    s.contains(REDIS_SECRET) || s.contains(SENTINEL_SECRET)
}

/// Entry point of `haproxy_cfg`.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    let secret_in_text = text.contains(REDIS_SECRET) || text.contains(SENTINEL_SECRET);
    let parsed = haproxy_cfg::parse(&text, &env);
    let messages = |r: &Result<haproxy_cfg::HaproxyConfig, HaproxyCfgError>| match r {
        Err(e) => vec![e.to_string()],
        Ok(cfg) => cfg.warnings.clone(),
    };
    let shown = messages(&parsed);
    if shown.iter().any(|m| shows_secret(m)) {
        let again = messages(&haproxy_cfg::parse(&text, &other_env));
        for (i, m) in shown.iter().enumerate() {
            if shows_secret(m) {
                assert!(
                    again.get(i).is_some_and(|a| shows_secret(a)),
                    "a password from a variable in {m:?}"
                );
            }
        }
    }
    match parsed {
        Err(e) => check_error(&e, lines),
        Ok(cfg) => {
            for (line, what) in &cfg.ignored {
                assert!(
                    (1..=lines).contains(line),
                    "ignored entry on line {line} of {lines}: {what}"
                );
                if !secret_in_text {
                    assert!(
                        !what.contains(REDIS_SECRET) && !what.contains(SENTINEL_SECRET),
                        "secret in ignored entry {what:?}"
                    );
                }
            }
            for w in &cfg.warnings {
                let n = line_of(w).unwrap_or_else(|| panic!("warning without a line: {w:?}"));
                assert!(
                    (1..=lines).contains(&n),
                    "warning on line {n} of {lines}: {w}"
                );
            }
            // `Debug` redacts the passwords: it does not depend on them. (Other fields may
            // legitimately hold any variable's value, e.g. `monitor-uri "$AUTH"`.)
            let mut other = cfg.clone();
            for p in [&mut other.redis_password, &mut other.sentinel_password] {
                if p.is_some() {
                    *p = Some("another password".to_string());
                }
            }
            assert_eq!(
                format!("{cfg:?}"),
                format!("{other:?}"),
                "Debug shows a password"
            );
        }
    }
}

fn check_error(e: &HaproxyCfgError, lines: usize) {
    assert!(e.file.is_none(), "file in an error of parse(): {e:?}");
    assert!(
        (1..=lines).contains(&e.line),
        "error on line {} of {lines}: {e}",
        e.line
    );
    let shown = e.to_string();
    let prefix = format!("haproxy.cfg line {}: ", e.line);
    assert!(shown.starts_with(&prefix), "error text {shown:?}");
}

/// `haproxy.cfg line <n>: ...` → n.
fn line_of(w: &str) -> Option<usize> {
    let rest = w.strip_prefix("haproxy.cfg line ")?;
    let end = rest.find(':')?;
    rest[..end].parse().ok()
}

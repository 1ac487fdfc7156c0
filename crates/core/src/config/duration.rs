//! The one duration grammar of the TOML file, the environment and haproxy.cfg: a decimal
//! number and a unit, refused above [`MAX_DURATION`] with the key's name.

use std::time::Duration;

use super::ConfigError;

/// The unit of a duration: the suffix after its number, or what a bare number means in
/// [`parse_duration_with_unit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    /// `us`
    Micros,
    /// `ms`
    Millis,
    /// `s`
    Secs,
    /// `m`
    Mins,
    /// `h`
    Hours,
    /// `d`
    Days,
}

impl DurationUnit {
    /// HAProxy's time units, taken everywhere.
    const ALL: [DurationUnit; 6] = [
        DurationUnit::Micros,
        DurationUnit::Millis,
        DurationUnit::Secs,
        DurationUnit::Mins,
        DurationUnit::Hours,
        DurationUnit::Days,
    ];

    fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Micros => "us",
            DurationUnit::Millis => "ms",
            DurationUnit::Secs => "s",
            DurationUnit::Mins => "m",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
        }
    }

    fn name(self) -> &'static str {
        match self {
            DurationUnit::Micros => "microseconds",
            DurationUnit::Millis => "milliseconds",
            DurationUnit::Secs => "seconds",
            DurationUnit::Mins => "minutes",
            DurationUnit::Hours => "hours",
            DurationUnit::Days => "days",
        }
    }

    /// `n` of this unit, `None` when that does not fit a `Duration` (checked, so that a huge
    /// value is refused instead of wrapping round to a short one).
    fn times(self, n: u64) -> Option<Duration> {
        let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs);
        match self {
            DurationUnit::Micros => Some(Duration::from_micros(n)),
            DurationUnit::Millis => Some(Duration::from_millis(n)),
            DurationUnit::Secs => Some(Duration::from_secs(n)),
            DurationUnit::Mins => secs(60),
            DurationUnit::Hours => secs(3600),
            DurationUnit::Days => secs(86_400),
        }
    }
}

/// The longest duration any setting takes: 2147483647 ms (about 24.8 days), HAProxy's limit
/// for its timers. Longer is refused rather than saturated: a deadline that far away no longer
/// fits a clock reading (`Instant + d` overflows), and no timeout of a proxy needs it.
pub const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// The file's and the environment's durations: [`parse_duration_with_unit`] without a default
/// unit (a bare number is refused because its unit would be a guess), spaces around trimmed.
pub fn parse_duration(key: &str, s: &str) -> Result<Duration, ConfigError> {
    parse_duration_with_unit(key, s.trim(), None)
}

/// The duration grammar of the file, the environment and haproxy.cfg, HAProxy's time syntax:
/// a whole number and a unit `us`, `ms`, `s`, `m`, `h` or `d`; a bare number is in
/// `default_unit` (HAProxy: milliseconds), or refused when that is `None`. Nothing else is
/// allowed around it (HAProxy refuses `4 s`), and a value above [`MAX_DURATION`] is an error
/// naming `key`, never wrapped or saturated.
pub fn parse_duration_with_unit(
    key: &str,
    s: &str,
    default_unit: Option<DurationUnit>,
) -> Result<Duration, ConfigError> {
    let units = DurationUnit::ALL;
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("'{s}' is not a duration; write e.g. 500ms, 2s, 1m"),
        ));
    }
    let too_large = || {
        ConfigError::invalid(
            key,
            format!(
                "'{s}' is too large; the longest duration is {}ms (about 24.8 days)",
                MAX_DURATION.as_millis()
            ),
        )
    };
    // Only digits: parsing fails on overflow alone.
    let n: u64 = num.parse().map_err(|_| too_large())?;
    let unit = if suffix.is_empty() {
        default_unit.ok_or_else(|| {
            ConfigError::invalid(key, format!("'{s}' has no unit; write {s}ms or {s}s"))
        })?
    } else {
        match units.iter().find(|u| u.suffix() == suffix) {
            Some(u) => *u,
            None => {
                let names: Vec<&str> = units.iter().map(|u| u.suffix()).collect();
                let (last, rest) = names.split_last().unwrap_or((&"", &[]));
                let bare = default_unit
                    .map(|u| format!(" (a bare number is in {})", u.name()))
                    .unwrap_or_default();
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "unknown unit '{suffix}' in '{s}'; use {} or {last}{bare}",
                        rest.join(", ")
                    ),
                ));
            }
        }
    };
    unit.times(n)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(too_large)
}

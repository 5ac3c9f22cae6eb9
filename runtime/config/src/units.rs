//! Durations ("500ms", "1h30m"), rates ("25/s", "100/min") and byte sizes ("32MiB") as written
//! in pipeline files.

use std::fmt;
use std::time::Duration;

/// Why a duration, rate or size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was written.
    #[error("is empty")]
    Empty,
    /// A number was expected.
    #[error("needs a whole number before `{0}`")]
    MissingNumber(String),
    /// The unit is not one of the accepted ones.
    #[error("has an unknown unit `{0}`")]
    UnknownUnit(String),
    /// A number without a unit.
    #[error("has no unit")]
    MissingUnit,
    /// Too large to represent.
    #[error("is too large")]
    Overflow,
    /// Zero, where only a positive amount makes sense.
    #[error("must be greater than zero")]
    Zero,
}

/// Accepted duration units, for hints.
pub const DURATION_HELP: &str =
    "write a whole number and a unit, e.g. 500ms, 30s, 5m, 24h or 1h30m (units: ms, s, m, h, d)";
/// Accepted rate forms, for hints.
pub const RATE_HELP: &str =
    "write requests per unit of time, e.g. 25/s, 100/min, 5000/h, or per a duration: 10/5s";
/// Accepted size units, for hints.
pub const SIZE_HELP: &str = "write a whole number and a unit, e.g. 32MiB, 512KiB, 1GiB (units: B, KB, MB, GB, KiB, MiB, GiB)";

/// Parses a positive duration made of whole-number segments: `500ms`, `30s`, `5m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(UnitError::MissingNumber(rest.to_owned()));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| UnitError::Overflow)?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" if rest.trim().is_empty() => return Err(UnitError::MissingUnit),
            "" => return Err(UnitError::UnknownUnit(rest.trim().to_owned())),
            other => return Err(UnitError::UnknownUnit(other.to_owned())),
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or(UnitError::Overflow)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or(UnitError::Overflow)?;
    }
    if total.is_zero() {
        return Err(UnitError::Zero);
    }
    Ok(total)
}

/// A request rate: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in each period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.count, self.per.as_millis())
    }
}

/// Parses `25/s`, `100/min`, `5000/h`, `1/d` or `10/5s`.
pub fn parse_rate(text: &str) -> Result<Rate, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let Some((count, per)) = text.split_once('/') else {
        return Err(UnitError::MissingUnit);
    };
    let count = count.trim();
    if count.is_empty() || !count.chars().all(|c| c.is_ascii_digit()) {
        return Err(UnitError::MissingNumber(format!("/{per}")));
    }
    let count: u32 = count.parse().map_err(|_| UnitError::Overflow)?;
    if count == 0 {
        return Err(UnitError::Zero);
    }
    let per = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3_600),
        "d" | "day" => Duration::from_secs(86_400),
        "" => return Err(UnitError::MissingUnit),
        other if other.starts_with(|c: char| c.is_ascii_digit()) => parse_duration(other)?,
        other => return Err(UnitError::UnknownUnit(other.to_owned())),
    };
    Ok(Rate { count, per })
}

/// Parses a byte size: `32MiB`, `512KiB`, `64MB`, `1024B`.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(UnitError::MissingNumber(text.to_owned()));
    }
    let number: u64 = text[..digits].parse().map_err(|_| UnitError::Overflow)?;
    let multiplier: u64 = match text[digits..].trim_start() {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "" => return Err(UnitError::MissingUnit),
        other => return Err(UnitError::UnknownUnit(other.to_owned())),
    };
    let bytes = number.checked_mul(multiplier).ok_or(UnitError::Overflow)?;
    if bytes == 0 {
        return Err(UnitError::Zero);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration("5 minutes"),
            Err(UnitError::UnknownUnit("minutes".into())),
        );
        assert_eq!(
            parse_duration("5min"),
            Err(UnitError::UnknownUnit("min".into()))
        );
        assert_eq!(parse_duration("30"), Err(UnitError::MissingUnit));
        assert_eq!(parse_duration("0s"), Err(UnitError::Zero));
        assert_eq!(parse_duration(""), Err(UnitError::Empty));
        assert_eq!(
            parse_duration("soon"),
            Err(UnitError::MissingNumber("soon".into()))
        );
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(UnitError::Overflow)
        );
    }

    #[test]
    fn rates() {
        let per_second = Rate {
            count: 25,
            per: Duration::from_secs(1),
        };
        assert_eq!(parse_rate("25/s"), Ok(per_second));
        assert_eq!(
            parse_rate("100/min").map(|r| r.per),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(
            parse_rate("10/5s").map(|r| r.per),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(
            parse_rate("25/fortnight"),
            Err(UnitError::UnknownUnit("fortnight".into()))
        );
        assert_eq!(parse_rate("25"), Err(UnitError::MissingUnit));
        assert_eq!(parse_rate("0/s"), Err(UnitError::Zero));
        assert!(matches!(
            parse_rate("many/s"),
            Err(UnitError::MissingNumber(_))
        ));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("32M"), Err(UnitError::UnknownUnit("M".into())));
        assert_eq!(parse_size("32"), Err(UnitError::MissingUnit));
        assert_eq!(parse_size("0B"), Err(UnitError::Zero));
    }
}

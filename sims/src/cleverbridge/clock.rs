//! The simulated clock (it runs with wall time or stands still, and moves when a test advances
//! it) and the UTC calendar arithmetic billing needs: intervals of months and days, RFC 3339.

use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

const DAY: i64 = 86_400;

/// Seconds since the Unix epoch on the simulated clock.
#[derive(Debug)]
pub struct Clock(Mutex<ClockState>);

#[derive(Debug)]
struct ClockState {
    /// The simulated second at `wall_origin`.
    origin: i64,
    wall_origin: i64,
    /// While frozen, the clock reads `origin` (plus what was advanced).
    frozen: bool,
}

impl Clock {
    /// Starts at `start` (or wall time), running or frozen.
    pub fn new(start: Option<i64>, frozen: bool) -> Self {
        let wall = wall_secs();
        Self(Mutex::new(ClockState {
            origin: start.unwrap_or(wall),
            wall_origin: wall,
            frozen,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now(&self) -> i64 {
        let s = self.state();
        if s.frozen {
            s.origin
        } else {
            s.origin + (wall_secs() - s.wall_origin)
        }
    }

    pub fn advance(&self, secs: i64) -> i64 {
        let mut s = self.state();
        s.origin += secs.max(0);
        drop(s);
        self.now()
    }

    /// Stops the clock at the current second; `advance` still moves it.
    pub fn freeze(&self) -> i64 {
        let now = self.now();
        let mut s = self.state();
        (s.origin, s.frozen) = (now, true);
        now
    }

    pub fn resume(&self) -> i64 {
        let now = self.now();
        let mut s = self.state();
        (s.origin, s.wall_origin, s.frozen) = (now, wall_secs(), false);
        now
    }
}

fn wall_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `anchor` plus `n` intervals of `months` months and `days` days. Months keep the anchor's day,
/// clamped to the month's end (Jan 31 -> Feb 28 -> Mar 31), so billing dates do not drift.
pub fn add_intervals(anchor: i64, months: u32, days: u32, n: u32) -> i64 {
    let (day, secs) = (anchor.div_euclid(DAY), anchor.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + (m - 1) + i64::from(months) * i64::from(n);
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    // The clamped day always exists; a date past the year 9999 keeps the anchor's day.
    let day = days_from_civil(y, m, d.min(days_in_month(y, m))).unwrap_or(anchor.div_euclid(DAY));
    (day + i64::from(days) * i64::from(n)) * DAY + secs
}

/// `2026-01-15T10:20:00Z`.
pub fn rfc3339(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(DAY));
    let s = ts.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The notification `meta.date` form of fact sheet §5's example, `2019-03-19T14:47:34.857671`:
/// no zone designator (the simulator's time is UTC).
pub fn meta_date(ts: i64) -> String {
    let mut s = rfc3339(ts);
    s.pop();
    s + ".000000"
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; fractions are dropped.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[3..4], ":") => {
            let sign = match &rest[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hh: i64 = rest[1..3].parse().ok()?;
            let mm: i64 = rest[4..6].parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d)? * DAY + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_clamp_to_the_month_end_and_keep_the_anchor_day() {
        let jan31 = parse_rfc3339("2024-01-31T08:00:00Z").expect("date");
        assert_eq!(
            rfc3339(add_intervals(jan31, 1, 0, 1)),
            "2024-02-29T08:00:00Z"
        );
        assert_eq!(
            rfc3339(add_intervals(jan31, 1, 0, 2)),
            "2024-03-31T08:00:00Z"
        );
        assert_eq!(
            rfc3339(add_intervals(jan31, 0, 14, 1)),
            "2024-02-14T08:00:00Z"
        );
    }

    #[test]
    fn parses_zones_and_fractions_and_refuses_the_rest() {
        let t = parse_rfc3339("2026-03-01T12:00:00.123+01:00").expect("date");
        assert_eq!(rfc3339(t), "2026-03-01T11:00:00Z");
        assert_eq!(meta_date(t), "2026-03-01T11:00:00.000000");
        for bad in [
            "2026-03-01 12:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-03-01T12:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}

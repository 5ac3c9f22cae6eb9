//! The simulated clock (wall time at start, plus elapsed time, plus what a test advanced) and
//! Salesforce's dateTime format, `2021-11-06T17:38:40.000+0000`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::calendar::{civil_from_days, days_from_civil};

#[derive(Debug)]
pub struct Clock {
    base_ms: i64,
    started: Instant,
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn new(start_ms: Option<i64>) -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self {
            base_ms: start_ms.unwrap_or(wall),
            started: Instant::now(),
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Milliseconds since the Unix epoch, on the simulated clock.
    pub fn now_ms(&self) -> i64 {
        self.base_ms
            + self.started.elapsed().as_millis() as i64
            + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn advance(&self, secs: i64) {
        self.offset_ms.fetch_add(secs * 1000, Ordering::Relaxed);
    }
}

/// `2021-11-06T17:38:40.000+0000` (UTC).
pub fn format_datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+0000",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days since the epoch of `YYYY-MM-DD`, checking the day exists.
pub fn parse_date(s: &str) -> Option<i64> {
    let (y, rest) = s.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)?, digits(d)?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    days_from_civil(y, m, d)
}

/// Milliseconds since the epoch of an ISO 8601 dateTime as Salesforce accepts it:
/// `YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|+hhmm)`.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let days = parse_date(date)?;
    let (clock, zone_ms) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = zone[1..].replace(':', "");
        if zone.len() != 4 {
            return None;
        }
        let (h, m) = (digits(&zone[..2])?, digits(&zone[2..])?);
        (c, sign * (h * 60 + m) * 60_000)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.split(':');
    let mut next = || parts.next().filter(|p| p.len() == 2).and_then(digits);
    let (h, mi, sec) = (next()?, next()?, next()?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let f = digits(frac)?;
        match frac.len() {
            1 => f * 100,
            2 => f * 10,
            3 => f,
            _ => return None,
        }
    };
    Some(days * 86_400_000 + (h * 3600 + mi * 60 + sec) * 1000 + ms - zone_ms)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn round_trips_salesforce_datetimes() {
        let ms = parse_datetime("2021-11-06T17:38:40.000+0000").unwrap();
        assert_eq!(format_datetime(ms), "2021-11-06T17:38:40.000+0000");
        assert_eq!(parse_datetime("2021-11-06T18:38:40+01:00"), Some(ms));
        assert_eq!(parse_datetime("2021-11-06T17:38:40Z"), Some(ms));
        assert_eq!(parse_datetime("2021-02-30T00:00:00Z"), None);
        assert_eq!(parse_datetime("2021-11-06"), None);
    }
}

//! Civil dates in UTC for every simulator, through the `time` crate: days since 1970-01-01 to
//! year, month, day and back, and month lengths (leap years included).

use time::{Date, Month};

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// `(year, month, day)` of the day `days` after 1970-01-01 (clamped to years -9999..=9999).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let julian = (days + UNIX_EPOCH_JULIAN_DAY).clamp(
        i64::from(Date::MIN.to_julian_day()),
        i64::from(Date::MAX.to_julian_day()),
    );
    let date = Date::from_julian_day(julian as i32).unwrap_or(Date::MAX);
    (
        i64::from(date.year()),
        i64::from(u8::from(date.month())),
        i64::from(date.day()),
    )
}

/// Days after 1970-01-01 of a calendar date; `None` for a date that does not exist.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// Days in `month` of `year` (0 for a month that does not exist).
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match (
        u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok()),
        i32::try_from(year),
    ) {
        (Some(month), Ok(year)) => i64::from(month.length(year)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_knows_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(days_from_civil(2000, 2, 29), Some(11_016));
        assert_eq!(days_from_civil(2001, 2, 29), None);
        assert_eq!(days_from_civil(1969, 12, 31), Some(-1));
        assert_eq!((days_in_month(2024, 2), days_in_month(2100, 2)), (29, 28));
        for days in [-1_000_000, -1, 0, 59, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days));
        }
    }
}

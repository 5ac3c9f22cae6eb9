//! Billing-period arithmetic in UTC: Stripe bills monthly/yearly on the anchor's day of month,
//! clamped to the month's last day (Jan 31 -> Feb 28 -> Mar 31).

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

const DAY: i64 = 86_400;

/// The end of period number `n` (0-based) for a cycle anchored at `anchor`.
pub fn period_end(anchor: i64, interval: &str, count: i64, n: i64) -> i64 {
    let steps = count * (n + 1);
    match interval {
        "day" => anchor + steps * DAY,
        "week" => anchor + steps * 7 * DAY,
        "year" => add_months(anchor, steps * 12),
        _ => add_months(anchor, steps),
    }
}

fn add_months(ts: i64, months: i64) -> i64 {
    let (days, secs) = (ts.div_euclid(DAY), ts.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m - 1) + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    // The clamped day always exists; a date past the year 9999 keeps the time as it is.
    days_from_civil(y, m, d.min(days_in_month(y, m))).map_or(ts, |day| day * DAY + secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_periods_clamp_to_month_end_and_keep_the_anchor_day() {
        let jan31 = 1_706_659_200; // 2024-01-31T00:00:00Z
        assert_eq!(period_end(jan31, "month", 1, 0), 1_709_164_800); // 2024-02-29
        assert_eq!(period_end(jan31, "month", 1, 1), 1_711_843_200); // 2024-03-31
        assert_eq!(period_end(jan31, "year", 1, 0), 1_738_281_600); // 2025-01-31
        assert_eq!(period_end(jan31, "week", 2, 0), jan31 + 14 * DAY);
    }
}

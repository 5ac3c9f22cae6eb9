//! Billing-period arithmetic in UTC: Stripe bills monthly/yearly on the anchor's day of month,
//! clamped to the month's last day (Jan 31 -> Feb 28 -> Mar 31).

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
    days_from_civil(y, m, d.min(days_in_month(y, m))) * DAY + secs
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
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

//! Cleverbridge's decimal amounts (`95.19`) and the canonical integer minor units (`9519`), by
//! each currency's ISO 4217 exponent.

use serde_json::Value;

/// Currencies without minor units (ISO 4217 exponent 0).
const ZERO: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
/// Currencies with three decimals.
const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// How many decimals `currency` (any case) has.
pub(crate) fn exponent(currency: &str) -> u32 {
    let upper = currency.to_ascii_uppercase();
    if ZERO.contains(&upper.as_str()) {
        0
    } else if THREE.contains(&upper.as_str()) {
        3
    } else {
        2
    }
}

/// A non-negative decimal as minor units, rounded half away from zero (Cleverbridge's amounts
/// already have at most the currency's decimals; rounding only removes float noise).
pub(crate) fn to_minor(amount: &Value, currency: &str) -> Option<u64> {
    let value = amount.as_f64().filter(|v| v.is_finite() && *v >= 0.0)?;
    let scaled = (value * 10f64.powi(exponent(currency) as i32)).round();
    // 2^53: beyond it f64 no longer holds every integer.
    (scaled <= 9_007_199_254_740_992.0).then_some(scaled as u64)
}

/// Minor units as the decimal Cleverbridge takes (`CustomerPrice.Value`).
pub(crate) fn to_decimal(minor: u64, currency: &str) -> f64 {
    let digits = exponent(currency);
    let text = if digits == 0 {
        minor.to_string()
    } else {
        let scale = 10u64.pow(digits);
        format!(
            "{}.{:0width$}",
            minor / scale,
            minor % scale,
            width = digits as usize
        )
    };
    // Parsing the exact decimal text gives the nearest f64, which serializes back as the same
    // shortest decimal (100.0, 95.19).
    text.parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_by_currency_exponent() {
        assert_eq!(to_minor(&json!(95.19), "USD"), Some(9519));
        assert_eq!(to_minor(&json!(100.0), "usd"), Some(10000));
        assert_eq!(to_minor(&json!(0.29), "EUR"), Some(29));
        assert_eq!(to_minor(&json!(1.005), "EUR"), Some(100));
        assert_eq!(to_minor(&json!(1500), "JPY"), Some(1500));
        assert_eq!(to_minor(&json!(1.234), "KWD"), Some(1234));
        assert_eq!(to_minor(&json!(-1.0), "USD"), None);
        assert_eq!(to_minor(&json!("9.50"), "USD"), None);
        assert_eq!(to_decimal(9519, "USD"), 95.19);
        assert_eq!(to_decimal(10000, "usd"), 100.0);
        assert_eq!(to_decimal(5, "EUR"), 0.05);
        assert_eq!(to_decimal(1500, "JPY"), 1500.0);
        assert_eq!(to_decimal(1234, "KWD"), 1.234);
        assert_eq!(json!(to_decimal(10000, "USD")).to_string(), "100.0");
        // Every cent up to 100,000.00 survives the round trip.
        for minor in (0..10_000_000).step_by(7) {
            assert_eq!(
                to_minor(&json!(to_decimal(minor, "USD")), "USD"),
                Some(minor)
            );
        }
    }
}

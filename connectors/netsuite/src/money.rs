//! Money conversion between canonical minor units and NetSuite's decimal `rate`.

/// Largest amount an `f64` holds exactly; NetSuite's `rate` is a JSON number, so beyond this
/// the conversion would silently round.
const MAX_EXACT: u64 = 1 << 53;

/// Why an amount cannot be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MoneyError {
    /// The currency is not an ISO 4217 code.
    #[error("`{0}` is not an ISO 4217 currency code")]
    Currency(String),
    /// The amount does not fit a JSON number exactly.
    #[error("the amount {0} is too large to send exactly")]
    TooLarge(u64),
    /// NetSuite holds a rate that is not a whole number of minor units.
    #[error("the rate {0} is not a non-negative amount of {1}")]
    Rate(f64, String),
}

/// Decimal places of a currency's minor unit. The lists follow Stripe's (the usual source of
/// canonical amounts): zero-decimal and three-decimal currencies; every other uses two.
pub fn exponent(currency: &str) -> Result<u32, MoneyError> {
    let code = currency.to_ascii_lowercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(MoneyError::Currency(currency.to_string()));
    }
    Ok(match code.as_str() {
        "bif" | "clp" | "djf" | "gnf" | "jpy" | "kmf" | "krw" | "mga" | "pyg" | "rwf" | "ugx"
        | "vnd" | "vuv" | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "jod" | "kwd" | "omr" | "tnd" => 3,
        _ => 2,
    })
}

/// Minor units to the decimal major-unit rate NetSuite shows (2000 usd -> 20.0).
pub fn to_rate(minor: u64, currency: &str) -> Result<f64, MoneyError> {
    let exp = exponent(currency)?;
    if minor > MAX_EXACT {
        return Err(MoneyError::TooLarge(minor));
    }
    // Division by a power of ten gives the double nearest the decimal, which serde_json prints
    // in its shortest form (1999 usd -> 19.99).
    Ok(minor as f64 / 10f64.powi(exp as i32))
}

/// A decimal rate back to minor units (19.99 usd -> 1999).
pub fn to_minor(rate: f64, currency: &str) -> Result<u64, MoneyError> {
    let exp = exponent(currency)?;
    let minor = (rate * 10f64.powi(exp as i32)).round();
    let whole = ((minor / 10f64.powi(exp as i32)) - rate).abs() < 1e-9 * rate.abs().max(1.0);
    if !rate.is_finite() || minor < 0.0 || minor > MAX_EXACT as f64 || !whole {
        return Err(MoneyError::Rate(rate, currency.to_string()));
    }
    Ok(minor as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_by_the_currency_exponent() {
        assert_eq!(to_rate(2000, "usd"), Ok(20.0));
        assert_eq!(to_rate(1999, "eur"), Ok(19.99));
        assert_eq!(
            serde_json::json!(to_rate(1999, "eur").unwrap()).to_string(),
            "19.99"
        );
        assert_eq!(to_rate(500, "jpy"), Ok(500.0));
        assert_eq!(to_rate(1500, "KWD"), Ok(1.5));
        assert_eq!(to_rate(1, "kwd"), Ok(0.001));
        for (minor, currency) in [
            (1999, "usd"),
            (500, "jpy"),
            (1, "kwd"),
            (123_456_789, "bhd"),
            (0, "usd"),
        ] {
            assert_eq!(
                to_minor(to_rate(minor, currency).unwrap(), currency),
                Ok(minor)
            );
        }
    }

    #[test]
    fn refuses_what_cannot_be_exact() {
        assert_eq!(exponent("us"), Err(MoneyError::Currency("us".into())));
        assert!(matches!(
            to_rate(u64::MAX, "usd"),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(to_minor(19.995, "usd"), Err(MoneyError::Rate(..))));
        assert!(matches!(to_minor(0.5, "jpy"), Err(MoneyError::Rate(..))));
        assert!(matches!(to_minor(-1.0, "usd"), Err(MoneyError::Rate(..))));
        assert!(matches!(
            to_minor(f64::NAN, "usd"),
            Err(MoneyError::Rate(..))
        ));
    }
}

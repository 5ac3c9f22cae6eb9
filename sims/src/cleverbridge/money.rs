//! Amounts in minor units and the gross/net/VAT split Cleverbridge reports in decimal currency
//! units (fact sheet §3: `NextBillingCustomerGrossPrice` 10.0 = net 8.4 + VAT 1.6).

use serde::{Deserialize, Serialize};

/// Whether a product's prices include VAT (its "Taxes" setting; fact sheet §2: `IsGross` must
/// match it, Gross -> true, Net -> false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Taxes {
    Gross,
    Net,
}

/// One amount split three ways, in minor units (cents); gross = net + VAT always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub gross: i64,
    pub net: i64,
    pub vat: i64,
}

impl Prices {
    /// Splits `amount`, given gross or net as the product's taxes setting says, at `vat_rate`
    /// percent. VAT is rounded to the cent; the other part follows from it.
    pub fn from_basis(amount: i64, taxes: Taxes, vat_rate: f64) -> Self {
        let rate = vat_rate / 100.0;
        match taxes {
            Taxes::Gross => {
                let net = (amount as f64 / (1.0 + rate)).round() as i64;
                Self {
                    gross: amount,
                    net,
                    vat: amount - net,
                }
            }
            Taxes::Net => {
                let vat = (amount as f64 * rate).round() as i64;
                Self {
                    gross: amount + vat,
                    net: amount,
                    vat,
                }
            }
        }
    }

    /// The part prices are given in.
    pub fn basis(&self, taxes: Taxes) -> i64 {
        match taxes {
            Taxes::Gross => self.gross,
            Taxes::Net => self.net,
        }
    }

    pub fn add(self, other: Self) -> Self {
        Self {
            gross: self.gross + other.gross,
            net: self.net + other.net,
            vat: self.vat + other.vat,
        }
    }
}

/// A decimal currency amount (`95.19`) in cents.
pub fn cents(value: f64) -> i64 {
    (value * 100.0).round() as i64
}

/// Cents as the decimal number Cleverbridge sends (`9519` -> `95.19`).
pub fn decimal(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gross_and_net_prices_split_so_the_parts_add_up() {
        let gross = Prices::from_basis(1000, Taxes::Gross, 19.0);
        assert_eq!(
            gross,
            Prices {
                gross: 1000,
                net: 840,
                vat: 160
            }
        );
        let net = Prices::from_basis(840, Taxes::Net, 19.0);
        assert_eq!(
            net,
            Prices {
                gross: 1000,
                net: 840,
                vat: 160
            }
        );
        assert_eq!(cents(95.19), 9519);
        assert_eq!(decimal(9519), 95.19);
    }
}

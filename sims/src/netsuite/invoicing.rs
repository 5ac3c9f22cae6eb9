//! Invoices from SuiteBilling subscriptions, as a bill run of "Billing Operations"
//! (section_4063198073) makes them: "When billing operations run, rating runs and credit memo
//! runs occur before invoicing billable customers", for charges up to the run's bill-through
//! date. Recurring charges follow the billing account's billing schedule ("Creating Billing
//! Accounts", section_1546981374: the billing account holds the billing schedule); the
//! simulated account's one schedule bills monthly, in advance, each period from the day a line
//! was activated.
//!
//! Where the documentation is silent the strictest reading is taken: a period is charged only
//! if its line is active on the period's first day (terminations take effect at the start of
//! their day, "Default Terminations Effective at Start of Day", so nothing is charged on or
//! after a billing stop date; a suspended line is not charged), at the quantity and the price
//! plan's rate in effect that day. A charge is invoiced once, whatever the number of runs.
//! Proration of a period cut short is not modelled: no such period is ever charged.

use serde::Serialize;
use serde_json::Value;

use super::billing::{ACTIVE, normalize_date};
use super::schema::RecordType;
use super::store::{Store, Target};
use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

/// One invoice of a bill run: one per subscription with something to charge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invoice {
    /// The invoice's number, in the order bill runs made them.
    pub number: u64,
    /// The subscription's external id (its internal id when it has none).
    pub subscription: String,
    /// The bill run's bill-through date, `YYYY-MM-DD`.
    pub bill_through: String,
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines' amounts, in the currency's major units.
    pub total: f64,
}

/// One charge: a line's billing period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceLine {
    /// The subscription line's number.
    pub line: u64,
    /// The item's external id.
    pub item: Option<String>,
    /// The period, `YYYY-MM-DD`, end exclusive.
    pub period_start: String,
    pub period_end: String,
    pub quantity: f64,
    pub rate: f64,
    pub amount: f64,
}

/// `date` plus `months` months, the day clamped to the month's end.
fn add_months(date: &str, months: i64) -> Option<String> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let total = y * 12 + (m - 1) + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let day = days_from_civil(y, m, d.min(days_in_month(y, m)))?;
    let (y, m, d) = civil_from_days(day);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

impl Store {
    /// Runs billing through `bill_through` (`YYYY-MM-DD`): invoices every charge due by then
    /// that no earlier run invoiced. Answers the new invoices.
    pub fn bill_run(&mut self, bill_through: &str) -> Vec<Invoice> {
        let through = normalize_date(bill_through);
        let mut made = Vec::new();
        let subscriptions: Vec<(u64, String)> = self
            .all(RecordType::Subscription)
            .map(|s| {
                let name = s.external_id.clone().unwrap_or_else(|| s.id.to_string());
                (s.id, name)
            })
            .collect();
        for (id, name) in subscriptions {
            let mut lines = Vec::new();
            for line in self.lines_of(id) {
                let number = line
                    .fields
                    .get("lineNumber")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let Some(start) = self.line_state(line, &through, None).start else {
                    continue;
                };
                let item = self.item_external_id(line.fields.get("item"));
                for k in 0.. {
                    let Some(period) = add_months(&start, k) else {
                        break;
                    };
                    if period > through {
                        break;
                    }
                    if self.invoiced.contains(&(line.id, period.clone())) {
                        continue;
                    }
                    let state = self.line_state(line, &period, None);
                    if state.status != ACTIVE {
                        continue;
                    }
                    let quantity = state.quantity.as_f64().unwrap_or(1.0);
                    let rate = self.rate_of(&state.price_plan).unwrap_or(0.0);
                    let end = add_months(&start, k + 1).unwrap_or_default();
                    lines.push((
                        line.id,
                        InvoiceLine {
                            line: number,
                            item: item.clone(),
                            period_start: period,
                            period_end: end,
                            quantity,
                            rate,
                            amount: (quantity * rate * 100.0).round() / 100.0,
                        },
                    ));
                }
            }
            if lines.is_empty() {
                continue;
            }
            for (line_id, l) in &lines {
                self.invoiced.insert((*line_id, l.period_start.clone()));
            }
            let lines: Vec<InvoiceLine> = lines.into_iter().map(|(_, l)| l).collect();
            let total = (lines.iter().map(|l| l.amount).sum::<f64>() * 100.0).round() / 100.0;
            self.next_invoice += 1;
            made.push(Invoice {
                number: self.next_invoice,
                subscription: name,
                bill_through: through.clone(),
                lines,
                total,
            });
        }
        self.invoices.extend(made.iter().cloned());
        made
    }

    /// The first tier's value of the price plan a line's reference names.
    fn rate_of(&self, reference: &Value) -> Option<f64> {
        let id: u64 = reference.get("id")?.as_str()?.parse().ok()?;
        let plan = self.find(RecordType::PricePlan, &Target::Internal(id))?;
        plan.fields.get("priceTiers")?["items"][0]["value"].as_f64()
    }

    fn item_external_id(&self, reference: Option<&Value>) -> Option<String> {
        let id: u64 = reference?.get("id")?.as_str()?.parse().ok()?;
        self.find(RecordType::ServiceSaleItem, &Target::Internal(id))?
            .external_id
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::add_months;

    #[test]
    fn months_keep_the_day_and_clamp_to_the_month_end() {
        assert_eq!(add_months("2026-01-31", 1).as_deref(), Some("2026-02-28"));
        assert_eq!(add_months("2026-01-31", 2).as_deref(), Some("2026-03-31"));
        assert_eq!(add_months("2026-11-16", 2).as_deref(), Some("2027-01-16"));
    }
}

//! Small text helpers for operators' output: UTC times, counts, aligned columns.

use std::fmt::Write as _;

/// `ms` since the Unix epoch as an ISO 8601 UTC time to the millisecond,
/// e.g. `2025-03-01T07:04:05.123Z` (the raw number for a time outside years -9999..=9999).
pub(super) fn utc(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return format!("{ms} ms");
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `1 attempt`, `3 attempts`, `2 entries`.
pub(super) fn count(n: i64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// Rows of cells printed with each column padded to its widest cell; the last column is not
/// padded, so long reasons do not push trailing spaces.
#[derive(Default)]
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(super) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_calendar_correct() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        // 2024 is a leap year: 29 February exists, and 1 March follows it.
        assert_eq!(utc(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(utc(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn tables_align_columns_but_not_the_last() {
        let mut table = Table::default();
        table.row(vec!["1".into(), "alpha".into(), "x".into()]);
        table.row(vec!["22".into(), "b".into(), "long reason".into()]);
        assert_eq!(table.render(), "1   alpha  x\n22  b      long reason\n");
    }
}

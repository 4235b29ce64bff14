//! Formatting the figures: Markdown tables for the terminal and for `benches/RESULTS.md`.

use std::time::Duration;

/// A Markdown table with aligned columns (readable as plain text too).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|cell| cell.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|cell| cell.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = (0..columns)
                .map(|index| {
                    let cell = cells.get(index).map(String::as_str).unwrap_or("");
                    format!("{cell:<width$}", width = widths[index])
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut text = line(&self.header);
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        text.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

pub fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Decimal megabytes (the unit of the "< 2 MB per machine" target).
pub fn megabytes(bytes: f64) -> String {
    if bytes >= 10e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.2} MB", bytes / 1e6)
    }
}

pub fn mebibytes_from_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn rate(count: usize, duration: Duration) -> String {
    let per_second = count as f64 / duration.as_secs_f64().max(1e-9);
    if per_second >= 100.0 {
        format!("{per_second:.0}")
    } else {
        format!("{per_second:.1}")
    }
}

pub fn yes_no(met: bool) -> String {
    if met { "**met**" } else { "**missed**" }.to_string()
}

/// Keeps the hand-written part of an existing results file (between the markers) when the
/// figures are regenerated.
pub const ANALYSIS_BEGIN: &str = "<!-- analysis:begin -->";
pub const ANALYSIS_END: &str = "<!-- analysis:end -->";

pub fn preserved_analysis(existing: &str) -> Option<String> {
    let start = existing.find(ANALYSIS_BEGIN)?;
    let end = existing[start..].find(ANALYSIS_END)? + start + ANALYSIS_END.len();
    Some(existing[start..end].to_string())
}

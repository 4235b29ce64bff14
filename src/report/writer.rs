//! Streaming report writers: machine reports are written one at a time, as a scan hands them
//! over, so memory does not grow with the number of machines. The JSON form is the document
//! [`ScanDocument`] describes, streamed.

use std::io::{self, Write};

use serde::Serialize;

use crate::discover::{Discovery, Skipped};
use crate::report::{self, MachineReport};

/// The formats a whole scan can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One block of text per machine, separated by a blank line.
    Text,
    /// One JSON document: `{"machines": [...], "skipped": [...], "ignored": [...]}`.
    Json,
    /// One JSON machine report per line.
    Jsonl,
    /// One CSV row per machine ([`report::csv::MACHINE_COLUMNS`]).
    Csv,
}

/// The JSON document of a whole scan, in memory. [`ReportWriter`] with [`OutputFormat::Json`]
/// streams exactly this document (same keys, same order), one machine at a time.
#[derive(Debug, Clone, Serialize)]
pub struct ScanDocument {
    pub machines: Vec<MachineReport>,
    pub skipped: Vec<Skipped>,
    pub ignored: Vec<Skipped>,
}

impl ScanDocument {
    /// The document for these reports of the machines `discovery` found.
    pub fn new(machines: Vec<MachineReport>, discovery: &Discovery) -> ScanDocument {
        ScanDocument { machines, skipped: discovery.skipped.clone(), ignored: discovery.ignored.clone() }
    }
}

/// Writes machine reports as they arrive, in one format.
pub struct ReportWriter<W: Write> {
    inner: Inner<W>,
    /// Write CSV cells as stored (no formula neutralisation, see [`report::escape`]).
    csv_raw: bool,
}

enum Inner<W: Write> {
    Text { out: W, written: usize, style: report::text::Style, quiet: bool, rows: Vec<report::text::SummaryRow> },
    Json { out: W, written: usize },
    Jsonl { out: W },
    Csv { out: Box<csv::Writer<W>> },
}

impl<W: Write> ReportWriter<W> {
    /// Starts the output (the JSON document's opening, the CSV header).
    pub fn new(format: OutputFormat, mut out: W) -> io::Result<ReportWriter<W>> {
        let inner = match format {
            OutputFormat::Text => {
                Inner::Text { out, written: 0, style: report::text::Style::default(), quiet: false, rows: Vec::new() }
            }
            OutputFormat::Json => {
                out.write_all(b"{\"machines\":[\n")?;
                Inner::Json { out, written: 0 }
            }
            OutputFormat::Jsonl => Inner::Jsonl { out },
            OutputFormat::Csv => Inner::Csv {
                out: Box::new(report::csv::writer(out, report::csv::MACHINE_COLUMNS).map_err(io::Error::other)?),
            },
        };
        Ok(ReportWriter { inner, csv_raw: false })
    }

    /// CSV cells as stored: a cell starting with `=`, `+`, `-`, `@`, tab or CR is not
    /// neutralised (for tools that want the raw value; never for spreadsheets).
    pub fn csv_raw(mut self, raw: bool) -> ReportWriter<W> {
        self.csv_raw = raw;
        self
    }

    /// Text only: the style (colour) and whether to print only the closing summary. The
    /// summary keeps one short row per machine, the only thing held for the whole run.
    pub fn with_text_options(mut self, new_style: report::text::Style, only_summary: bool) -> Self {
        if let Inner::Text { style, quiet, .. } = &mut self.inner {
            *style = new_style;
            *quiet = only_summary;
        }
        self
    }

    /// Writes one machine.
    pub fn write(&mut self, machine: &MachineReport) -> io::Result<()> {
        match &mut self.inner {
            Inner::Text { out, written, style, quiet, rows } => {
                rows.push(report::text::SummaryRow::new(machine));
                if !*quiet {
                    if *written > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(report::text::render_styled(machine, *style).as_bytes())?;
                    *written += 1;
                }
            }
            Inner::Json { out, written } => {
                if *written > 0 {
                    out.write_all(b",\n")?;
                }
                serde_json::to_writer_pretty(&mut *out, machine)?;
                *written += 1;
            }
            Inner::Jsonl { out } => {
                serde_json::to_writer(&mut *out, machine)?;
                out.write_all(b"\n")?;
            }
            Inner::Csv { out } => out
                .write_record(report::escape::csv_row(report::csv::machine_row(machine), self.csv_raw))
                .map_err(io::Error::other)?,
        }
        Ok(())
    }

    /// Ends the output (the JSON document's `skipped` and `ignored` lists), flushes it and
    /// gives the writer back.
    pub fn finish(self, discovery: &Discovery) -> io::Result<W> {
        let mut out = match self.inner {
            Inner::Text { mut out, written, style, quiet, rows } => {
                // With several machines (or --quiet), the answer at a glance comes last.
                if rows.len() > 1 || quiet {
                    if written > 0 {
                        out.write_all(b"\n")?;
                    }
                    out.write_all(report::text::render_summary(&rows, style).as_bytes())?;
                }
                out
            }
            Inner::Jsonl { out } => out,
            Inner::Json { mut out, .. } => {
                out.write_all(b"\n],\"skipped\":")?;
                serde_json::to_writer_pretty(&mut out, &discovery.skipped)?;
                out.write_all(b",\"ignored\":")?;
                serde_json::to_writer_pretty(&mut out, &discovery.ignored)?;
                out.write_all(b"}\n")?;
                out
            }
            Inner::Csv { out } => out.into_inner().map_err(|e| io::Error::other(e.to_string()))?,
        };
        out.flush()?;
        Ok(out)
    }
}

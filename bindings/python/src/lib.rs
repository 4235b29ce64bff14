//! The `rebootscan._rebootscan` extension module: the library's discovery, scan and rule table
//! for Python. Nothing here decides anything about evidence; it converts arguments, releases
//! the GIL while the library works, and hands results over as the JSON contract the CLI
//! writes (so a report from Python and one from `rebootscan scan --format json` are the same
//! data). The Python-facing functions with their documentation live in
//! `python/rebootscan/__init__.py`.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use rebootscan::discover::{self, Discovery, MachineSpec};
use rebootscan::load::LoadOptions;
use rebootscan::report::tables::DuplicateIndex;
use rebootscan::report::writer::ScanDocument;
use rebootscan::report::MachineReport;
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::{self, RuleOptions, RULES};
use rebootscan::scan::{self, ScanError, ScanOptions};

create_exception!(_rebootscan, RebootscanError, PyException, "An error rebootscan reports about its input or options.");

/// The scan options, one parser for every scanning function: keyword arguments as the CLI
/// spells its options (`no_logs`, `hash`, `packages`, `skip_rules`, `as_of`, and `jobs` where
/// the function scans in parallel), each defaulting to the CLI's default. The Python layer
/// (`_options` in `python/rebootscan/__init__.py`) passes them by keyword; an unknown one is
/// a TypeError, as for any Python function.
fn scan_options(keywords: Option<&Bound<'_, PyDict>>, takes_jobs: bool) -> PyResult<ScanOptions> {
    let mut no_logs = false;
    let mut hash = false;
    let mut packages = String::from("auto");
    let mut skip_rules: Vec<String> = Vec::new();
    let mut as_of: Option<String> = None;
    let mut jobs: Option<usize> = None;
    for (key, value) in keywords.into_iter().flat_map(|k| k.iter()) {
        let key: String = key.extract()?;
        let wrong_type = |e: PyErr| PyTypeError::new_err(format!("argument {key:?}: {e}"));
        match key.as_str() {
            "no_logs" => no_logs = value.extract().map_err(wrong_type)?,
            "hash" => hash = value.extract().map_err(wrong_type)?,
            "packages" => packages = value.extract().map_err(wrong_type)?,
            "skip_rules" => skip_rules = value.extract().map_err(wrong_type)?,
            "as_of" => as_of = value.extract().map_err(wrong_type)?,
            "jobs" if takes_jobs => jobs = value.extract().map_err(wrong_type)?,
            _ => return Err(PyTypeError::new_err(format!("unexpected keyword argument {key:?}"))),
        }
    }
    let package_scan = match packages.as_str() {
        "auto" => PackageScan::WhenServicingPending,
        "always" => PackageScan::Always,
        "full" => PackageScan::Full,
        "records" => PackageScan::Records,
        "never" => PackageScan::Never,
        other => {
            return Err(RebootscanError::new_err(format!(
                "packages={other:?}: expected \"auto\", \"always\", \"full\", \"records\" or \"never\""
            )))
        }
    };
    let as_of = match as_of.as_deref() {
        None => None,
        Some(text) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Some(time::Date::parse(text, &format).map_err(|e| {
                RebootscanError::new_err(format!("as_of={text:?}: expected a date like 2024-05-31: {e}"))
            })?)
        }
    };
    if jobs == Some(0) {
        return Err(RebootscanError::new_err("jobs=0: give at least one worker thread"));
    }
    // The same check and the same words as the CLI's `--skip-rule`.
    rules::validate_ids(&skip_rules).map_err(|e| RebootscanError::new_err(format!("--skip-rule {e}")))?;
    Ok(ScanOptions {
        load: LoadOptions { replay_logs: !no_logs },
        rules: RuleOptions { skip: skip_rules, as_of, package_scan },
        hash,
        jobs,
    })
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| RebootscanError::new_err(format!("cannot encode the result: {e}")))
}

/// `discover(paths)`: the machines a scan of `paths` would read, as the JSON text of
/// `{"machines": [...], "skipped": [...], "ignored": [...]}`.
#[pyfunction]
fn discover_json(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<String> {
    let discovery = py.detach(|| discover::discover(&paths));
    to_json(&discovery)
}

/// One machine's report, as one JSONL line (the exact bytes `rebootscan scan --format jsonl`
/// writes for it, without the newline), from the JSON text of a machine spec.
#[pyfunction]
#[pyo3(signature = (spec_json, **options))]
fn scan_spec_json(py: Python<'_>, spec_json: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let options = scan_options(options, false)?;
    let spec: MachineSpec = serde_json::from_str(spec_json)
        .map_err(|e| RebootscanError::new_err(format!("not a machine spec from discover(): {e}")))?;
    let report = py.detach(|| scan::scan_machine(&spec, &options));
    to_json(&report)
}

/// A machine's JSONL line as a fleet worker hands it back: the line without `duplicate_of`
/// (only the client sees the whole run), the key that decides it, and the machine's label.
type WorkerLine = (String, Option<(String, String)>, String);

/// Many machines at once, for a fleet worker: per spec, in the order given, its JSONL line and
/// its duplicate key. The client marks duplicates across the run with [`DuplicateMarker`].
#[pyfunction]
#[pyo3(signature = (specs_json, **options))]
fn scan_specs_jsonl(
    py: Python<'_>,
    specs_json: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<WorkerLine>> {
    let options = scan_options(options, true)?;
    let machines: Vec<MachineSpec> = serde_json::from_str(specs_json)
        .map_err(|e| RebootscanError::new_err(format!("not a list of machine specs from discover(): {e}")))?;
    let discovery = Discovery { machines, ..Discovery::default() };
    let lines = py.detach(|| {
        let mut lines = Vec::with_capacity(discovery.machines.len());
        scan::scan_all(&discovery, &options, |report| {
            serde_json::to_string(&report)
                .map(|line| lines.push((line, DuplicateIndex::key(&report), report.machine.clone())))
        })
        .map(|_| lines)
    });
    lines.map_err(|e| match e {
        ScanError::Sink(error) => RebootscanError::new_err(format!("cannot encode a report: {error}")),
        other => RebootscanError::new_err(other.to_string()),
    })
}

/// `duplicate_of` across a whole run, set on JSONL lines in discovery order, as the CLI sets
/// it on the reports it writes ([`DuplicateIndex`]).
#[pyclass]
#[derive(Default)]
struct DuplicateMarker {
    index: DuplicateIndex,
}

/// What every line of a machine report holds before `duplicate_of` is known. serde_json
/// escapes every `"` inside a string, so this text with its bare quotes can only be the
/// report's own top-level key (no nested object has a `duplicate_of` field), and it comes
/// before any nested object.
const NO_DUPLICATE: &str = "\"duplicate_of\":null";

#[pymethods]
impl DuplicateMarker {
    #[new]
    fn new() -> Self {
        DuplicateMarker::default()
    }

    /// The line with `duplicate_of` set when an earlier machine of the run had the same key;
    /// the line unchanged otherwise. The result is the line the CLI writes.
    fn mark(&mut self, line: String, key: Option<(String, String)>, label: &str) -> PyResult<String> {
        let Some(key) = key else { return Ok(line) };
        let Some(first) = self.index.first_of(key, label) else { return Ok(line) };
        let Some(at) = line.find(NO_DUPLICATE) else {
            return Err(RebootscanError::new_err(
                "a machine report without duplicate_of: the report and the binding disagree",
            ));
        };
        let value = serde_json::to_string(&first).map_err(|e| RebootscanError::new_err(e.to_string()))?;
        Ok(format!("{}\"duplicate_of\":{value}{}", &line[..at], &line[at + NO_DUPLICATE.len()..]))
    }
}

/// The whole scan of `paths` as the JSON document `rebootscan scan --format json` writes.
#[pyfunction]
#[pyo3(signature = (paths, **options))]
fn scan_paths_json(py: Python<'_>, paths: Vec<PathBuf>, options: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let options = scan_options(options, true)?;
    let document = py.detach(|| {
        let discovery = discover::discover(&paths);
        let mut machines = Vec::with_capacity(discovery.machines.len());
        let mut duplicates = DuplicateIndex::default();
        scan::scan_all(&discovery, &options, |mut report: MachineReport| -> Result<(), std::convert::Infallible> {
            duplicates.mark(&mut report);
            machines.push(report);
            Ok(())
        })
        .map(|_| ScanDocument::new(machines, &discovery))
    });
    match document {
        Ok(document) => to_json(&document),
        Err(error) => Err(RebootscanError::new_err(error.to_string())),
    }
}

/// The rule table, as the JSON text of a list of rules.
#[pyfunction]
fn rules_json() -> PyResult<String> {
    to_json(&RULES)
}

#[pymodule]
fn _rebootscan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RebootscanError", m.py().get_type::<RebootscanError>())?;
    m.add_function(wrap_pyfunction!(discover_json, m)?)?;
    m.add_function(wrap_pyfunction!(scan_spec_json, m)?)?;
    m.add_function(wrap_pyfunction!(scan_specs_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(scan_paths_json, m)?)?;
    m.add_function(wrap_pyfunction!(rules_json, m)?)?;
    m.add_class::<DuplicateMarker>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

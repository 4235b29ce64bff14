"""rebootscan: is a reboot pending on a Windows machine, and what proves it?

Offline, from registry hives (SYSTEM, SOFTWARE, COMPONENTS and their transaction logs) in
folders, collections and disk images. This package is the rebootscan library (Rust) seen from
Python; its results are the JSON contract of ``rebootscan scan --format json``, as dicts.

    import rebootscan
    found = rebootscan.discover(["/cases/acme"])
    for spec in found["machines"]:
        report = rebootscan.scan(spec)
        print(report["machine"], report["verdict"], report["verdict_reason"])

Every function releases the GIL while it reads evidence, so threads scan in parallel. Evidence
is only read, never written. Bad evidence never raises: it is reported inside the machine's
report (``errors``, ``not_evaluated``), as the CLI does. ``RebootscanError`` is raised only for
bad arguments (an unknown rule id, a bad date) or a spec that did not come from discover().
"""

import json
import os

from . import _rebootscan
from ._rebootscan import RebootscanError

__all__ = ["discover", "scan", "scan_all", "scan_jsonl_lines", "rules", "RebootscanError", "__version__"]
__version__ = _rebootscan.__version__


def _paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    return [os.fspath(p) for p in paths]


def discover(paths):
    """The machines a scan of ``paths`` would read, without reading any hive.

    Returns ``{"machines": [spec, ...], "skipped": [...], "ignored": [...]}``. Each spec is a
    plain dict (label, hive paths, snapshot, image volume): it pickles, can be sent to another
    process or host, and is given back to :func:`scan`.
    """
    return json.loads(_rebootscan.discover_json(_paths(paths)))


def _options(no_logs=False, hash=False, packages="auto", skip_rules=(), as_of=None):
    if isinstance(skip_rules, str):
        skip_rules = [skip_rules]
    if as_of is not None and not isinstance(as_of, str):
        as_of = as_of.isoformat()  # a datetime.date
    return {
        "no_logs": bool(no_logs),
        "hash": bool(hash),
        "packages": packages,
        "skip_rules": list(skip_rules),
        "as_of": as_of,
    }


def scan(spec_or_path, **options):
    """Scans one machine and returns its report (a dict, the CLI's JSON for that machine).

    ``spec_or_path`` is a spec from :func:`discover`, or a path that holds exactly one machine
    (a hive file, a machine folder). Options, as on the command line: ``no_logs``, ``hash``,
    ``packages`` ("auto", "always", "never"), ``skip_rules`` (rule ids), ``as_of``
    ("YYYY-MM-DD" or a date).
    """
    opts = _options(**options)
    if isinstance(spec_or_path, dict):
        spec = spec_or_path
    else:
        found = discover(spec_or_path)
        machines = found["machines"]
        if len(machines) != 1:
            problems = "; ".join(f"{s['path']}: {s['reason']}" for s in found["skipped"])
            if not machines:
                raise RebootscanError(
                    f"no machine to scan in {os.fspath(spec_or_path)}"
                    + (f" ({problems})" if problems else "")
                    + ": give a hive file, a folder holding SYSTEM/SOFTWARE/COMPONENTS, or a collection tree"
                )
            raise RebootscanError(
                f"{os.fspath(spec_or_path)} holds {len(machines)} machines: use discover() and scan each "
                "spec, or scan_all()"
            )
        spec = machines[0]
    return json.loads(_rebootscan.scan_spec_json(json.dumps(spec), **opts))


def scan_jsonl_lines(specs, jobs=None, **options):
    """Scans ``specs`` (from :func:`discover`) in parallel and returns one JSONL line per spec,
    in order: exactly the lines ``rebootscan scan --format jsonl`` writes for them (without
    the newline), ``duplicate_of`` included (taken over these specs as one run)."""
    marker = _rebootscan.DuplicateMarker()
    return [marker.mark(line, key, label) for line, key, label in _scan_unmarked(specs, jobs=jobs, **options)]


def _scan_unmarked(specs, jobs=None, **options):
    # (line, duplicate key, label) per spec, the line without duplicate_of: what a fleet worker sends
    # back, since only the client sees the whole run.
    opts = _options(**options)
    return _rebootscan.scan_specs_jsonl(json.dumps(list(specs)), jobs=jobs, **opts)


def scan_all(paths, jobs=None, **options):
    """Discovers and scans every machine under ``paths``; returns the document
    ``rebootscan scan --format json`` writes: ``{"machines": [...], "skipped": [...],
    "ignored": [...]}``."""
    opts = _options(**options)
    return json.loads(_rebootscan.scan_paths_json(_paths(paths), jobs=jobs, **opts))


def rules():
    """The rule table: one dict per indicator (id, hive, keys, value, strength, volatility,
    condition, explanation, source)."""
    return json.loads(_rebootscan.rules_json())

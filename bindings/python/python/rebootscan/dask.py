"""Fleet scans on a Dask distributed cluster.

    python -m rebootscan.dask TREE... --scheduler tcp://HOST:8786 -o out.jsonl

discovers the machines once (here, on the client), sends them to the cluster's workers in
batches, and writes the JSONL report ``rebootscan scan TREE... --format jsonl`` writes: the same
bytes in the same order. Every worker must see the evidence at the same paths as the client
(a shared mount); give absolute paths, or run every worker from the same folder.

Failures never lose machines: a machine whose evidence is broken has its errors inside its
report (the library never fails a machine), and a batch whose worker dies is run again on
another worker by Dask (``retries`` and Dask's own rescheduling of a lost worker's tasks).
The same function, :func:`scan_fleet`, can be called from a script or a notebook with a
``distributed.Client``.
"""

import argparse
import json
import os
import sys
import tempfile

import rebootscan

#: Machines per task: large enough that Dask's per-task cost (about a millisecond) is small
#: beside the scan, small enough that a lost worker costs little work.
DEFAULT_BATCH = 64


def _scan_batch(specs, options):
    # Runs on a worker. One thread per task by default: Dask runs several tasks at once on a
    # worker with several threads, and the library scans a batch in parallel when jobs > 1.
    # The verdict counts are taken here, beside the reports, so that the client only writes;
    # duplicate_of needs the whole run, so the client sets it (with each line's key).
    options = dict(options)
    pairs = rebootscan._scan_unmarked(specs, jobs=options.pop("jobs", 1), **options)
    counts = {"machines": 0, "pending": 0, "unknown": 0, "with_errors": 0}
    for line, _, _ in pairs:
        report = json.loads(line)
        counts["machines"] += 1
        if report["verdict"] in ("pending", "unknown"):
            counts[report["verdict"]] += 1
        if report.get("errors"):
            counts["with_errors"] += 1
    return pairs, counts


def scan_fleet(client, paths, out, batch=DEFAULT_BATCH, window=None, retries=3, jobs=1, discovery=None, **options):
    """Scans every machine under ``paths`` on ``client``'s cluster and writes one JSONL line per
    machine to the text stream ``out``, in discovery order. Returns ``(discovery, counts)``
    where counts has ``machines``, ``pending``, ``unknown`` and ``with_errors``. Pass the
    result of :func:`rebootscan.discover` as ``discovery`` when you already have it.

    At most ``window`` batches (default: four per worker thread) are in flight at once, so
    memory stays bounded on the client for any fleet size.
    """
    # Checked here, once, before anything is sent: the library raises RebootscanError with
    # the CLI's message for an unknown rule id or a bad date.
    rebootscan.scan_jsonl_lines([], **options)
    if discovery is None:
        discovery = rebootscan.discover(paths)
    machines = discovery["machines"]
    batches = [machines[i : i + batch] for i in range(0, len(machines), batch)]
    if window is None:
        threads = sum(client.nthreads().values()) or 1
        window = max(2, 4 * threads)
    counts = {"machines": 0, "pending": 0, "unknown": 0, "with_errors": 0}
    in_flight = []
    next_batch = 0
    duplicates = rebootscan._rebootscan.DuplicateMarker()

    def submit(index):
        task_options = dict(options, jobs=jobs)
        return client.submit(
            _scan_batch,
            batches[index],
            task_options,
            retries=retries,
            pure=False,
            key=f"rebootscan-batch-{index}-{os.getpid()}-{id(batches)}",
        )

    while next_batch < len(batches) and len(in_flight) < window:
        in_flight.append(submit(next_batch))
        next_batch += 1
    while in_flight:
        future = in_flight.pop(0)
        pairs, batch_counts = future.result()
        future.release()
        if next_batch < len(batches):
            in_flight.append(submit(next_batch))
            next_batch += 1
        for line, key, label in pairs:
            out.write(duplicates.mark(line, key, label))
            out.write("\n")
        for name, value in batch_counts.items():
            counts[name] += value
    return discovery, counts


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m rebootscan.dask",
        description="Scan a fleet of machines on a Dask cluster; writes the JSONL of `rebootscan scan --format jsonl`.",
    )
    parser.add_argument("paths", nargs="+", help="hive files, machine folders, collection trees or disk images")
    parser.add_argument("--scheduler", required=True, help="address of the Dask scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("-o", "--output", required=True, help="JSONL file to write (written at the end, atomically)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="machines per task (default %(default)s)")
    parser.add_argument("--retries", type=int, default=3, help="times a failed task is run again (default %(default)s)")
    parser.add_argument("--skip-rule", action="append", default=[], dest="skip_rules", metavar="ID")
    parser.add_argument("--no-logs", action="store_true")
    parser.add_argument("--hash", action="store_true")
    parser.add_argument("--packages", choices=["auto", "always", "full", "records", "never"], default="auto")
    parser.add_argument("--as-of", dest="as_of", metavar="DATE")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")

    from distributed import Client

    output = os.path.abspath(args.output)
    inputs = set()
    options = dict(
        skip_rules=args.skip_rules, no_logs=args.no_logs, hash=args.hash, packages=args.packages, as_of=args.as_of
    )
    try:
        rebootscan.scan_jsonl_lines([], **options)
    except rebootscan.RebootscanError as error:
        print(f"rebootscan: {error}", file=sys.stderr)
        return 2
    found = rebootscan.discover(args.paths)
    for machine in found["machines"]:
        inputs.update(os.path.realpath(h) for h in machine["hives"])
    if os.path.exists(output) and os.path.realpath(output) in inputs:
        print(f"rebootscan: cannot write the report to {args.output}: it is an input of this run", file=sys.stderr)
        return 2
    for skipped in found["skipped"]:
        print(f"rebootscan: skipped {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    for ignored in found["ignored"]:
        print(f"rebootscan: ignored {ignored['path']}: {ignored['reason']}", file=sys.stderr)
    if not found["machines"]:
        print(
            "rebootscan: no machine to scan: give a hive file, a folder holding SYSTEM/SOFTWARE/COMPONENTS, "
            "or a collection tree",
            file=sys.stderr,
        )
        return 2

    folder = os.path.dirname(output) or "."
    handle, temp = tempfile.mkstemp(prefix=".rebootscan-", suffix=".partial", dir=folder)
    try:
        with Client(args.scheduler) as client, os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            discovery, counts = scan_fleet(
                client, args.paths, out, batch=args.batch, retries=args.retries, discovery=found, **options
            )
        os.replace(temp, output)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    print(
        f"rebootscan: {counts['machines']} machine(s) scanned on the cluster: {counts['pending']} pending, "
        f"{counts['unknown']} unknown, {counts['with_errors']} with errors, "
        f"{len(discovery['skipped'])} path(s) skipped",
        file=sys.stderr,
    )
    return 3 if counts["with_errors"] or discovery["skipped"] else 0


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy, so that the functions sent to
    # the workers are referred to as rebootscan.dask._scan_batch, which every worker imports.
    from rebootscan.dask import main as _main

    sys.exit(_main())

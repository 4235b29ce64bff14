"""Fleet throughput through Dask versus the CLI alone, on the same tree (issue 17).

    python3 benches/dask/fleet.py [--machines 2000]

Needs the Python package installed (`pip install "./bindings/python[dask]"`) and the release
CLI (`cargo build --release`). Builds a tree of fixture machines (hard links), warms the page
cache with one CLI run, then times, side by side in one run: the CLI at -j 1 and -j 2, and the
Dask recipe's scan_fleet on a local scheduler with 1 and with 2 single-threaded worker
processes (cluster start-up excluded). Prints machines per second and the cost per machine of
going through Dask (Dask, 1 worker, minus the CLI at -j 1). Not a test: figures go to
benches/RESULTS.md.
"""

import argparse
import io
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python" / "tests"))
from conftest import make_fleet  # noqa: E402

import distributed  # noqa: E402
import rebootscan.dask  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def best_of(runs, action):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli = str(REPO / "target" / "release" / "rebootscan")
    work = pathlib.Path(tempfile.mkdtemp(prefix="rebootscan-dask-bench-"))
    try:
        tree = make_fleet(work / "tree", args.machines)
        out = work / "cli.jsonl"

        def run_cli(jobs):
            subprocess.run([cli, "scan", str(tree), "--format", "jsonl", "-j", str(jobs), "-o", str(out)],
                           check=False, capture_output=True)

        run_cli(2)  # warm the page cache
        results = {"CLI -j 1": best_of(args.runs, lambda: run_cli(1)), "CLI -j 2": best_of(args.runs, lambda: run_cli(2))}
        for workers in (1, 2):
            address = f"tcp://127.0.0.1:{free_port()}"
            log = open(work / f"cluster{workers}.log", "wb")
            procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                       "--port", address.rsplit(":", 1)[1], "--no-dashboard"], stdout=log, stderr=log)]
            procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                        "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"], stdout=log, stderr=log)
                      for _ in range(workers)]
            try:
                with distributed.Client(address, timeout=60) as client:
                    client.wait_for_workers(workers, timeout=120)
                    found = rebootscan.discover(str(tree))

                    def run_dask():
                        rebootscan.dask.scan_fleet(client, [str(tree)], io.StringIO(), discovery=found)

                    run_dask()  # workers import the package and warm up
                    results[f"Dask, {workers} worker(s)"] = best_of(args.runs, run_dask)
            finally:
                for p in reversed(procs):  # workers first, then the scheduler
                    p.terminate()
                for p in procs:
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                log.close()
        n = args.machines
        print(f"{n} machines (fixture machines, warm cache), best of {args.runs}, {os.cpu_count()} cores")
        print("| run | wall time | machines/s |")
        print("|---|---:|---:|")
        for name, seconds in results.items():
            print(f"| {name} | {seconds:.2f} s | {n / seconds:,.0f} |")
        overhead = (results["Dask, 1 worker(s)"] - results["CLI -j 1"]) / n * 1000
        print(f"\nDask cost per machine (1 worker minus CLI -j 1): {overhead:.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

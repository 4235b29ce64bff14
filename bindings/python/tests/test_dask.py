"""The fleet recipe on a real dask.distributed cluster: a scheduler and two worker processes,
started here on the loopback address, scan a tree of 2,000 machines; the JSONL equals the CLI's
byte for byte, also when a worker is killed in the middle of the run."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

if os.environ.get("CI") == "true":
    import distributed  # .ci/run installs it: a missing Dask fails CI instead of skipping
else:
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")

from conftest import make_fleet, run_cli  # noqa: E402

MACHINES = 2000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and `workers` single-threaded worker processes without nannies (so that a
    killed worker stays dead), all on 127.0.0.1."""

    def __init__(self, workers, folder):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.log = open(folder / "cluster.log", "wb")
        common = dict(stdout=self.log, stderr=subprocess.STDOUT, cwd=folder)
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port,
             "--no-dashboard"],
            **common,
        )
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
                **common,
            )
            for i in range(workers)
        ]
        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self):
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = make_fleet(tmp_path_factory.mktemp("fleet") / "tree", MACHINES)
    cli = run_cli("scan", root, "--format", "jsonl")
    return root, cli.stdout, cli.returncode


def recipe(fleet_root, address, output, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "rebootscan.dask", str(fleet_root), "--scheduler", address, "-o", str(output), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_cluster_scan_equals_the_cli_byte_for_byte(fleet, tmp_path):
    root, expected, status = fleet
    assert expected.count(b"\n") == MACHINES
    cluster = Cluster(2, tmp_path)
    try:
        output = tmp_path / "out.jsonl"
        job = recipe(root, cluster.address, output)
        _, stderr = job.communicate(timeout=600)
        assert job.returncode == status, stderr.decode()
        assert output.read_bytes() == expected
        assert f"{MACHINES} machine(s) scanned on the cluster".encode() in stderr
    finally:
        cluster.close()


def test_a_worker_killed_mid_run_loses_no_machine(fleet, tmp_path):
    root, expected, status = fleet
    cluster = Cluster(2, tmp_path)
    try:
        output = tmp_path / "out.jsonl"
        # Small batches: many tasks, so the run is still going when the worker dies.
        job = recipe(root, cluster.address, output, "--batch", "2")
        victim = cluster.workers[0]
        with distributed.Client(cluster.address, timeout=60) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                started = client.run_on_scheduler(
                    lambda dask_scheduler: sum(1 for key in dask_scheduler.tasks if "rebootscan-batch" in str(key))
                )
                if started:
                    break
                time.sleep(0.01)
            assert job.poll() is None, "the run ended before the worker could be killed"
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
        _, stderr = job.communicate(timeout=600)
        assert job.returncode == status, stderr.decode()
        assert output.read_bytes() == expected
        assert not list(tmp_path.glob(".rebootscan-*.partial"))
    finally:
        cluster.close()


def test_a_bad_rule_id_is_refused_before_anything_is_sent(fleet, tmp_path):
    root, _, _ = fleet
    job = recipe(root, "tcp://127.0.0.1:1", tmp_path / "out.jsonl", "--skip-rule", "no_such_rule")
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 2
    assert b"no_such_rule: no such rule" in stderr
    assert not (tmp_path / "out.jsonl").exists()

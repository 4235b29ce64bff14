"""Shared set-up for the Python package's tests: where the repository, its fixture machines and
the CLI binary are. The CLI is the reference: every result of the package is compared with what
`rebootscan scan` prints for the same evidence."""

import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "machines"


def cli_path():
    path = os.environ.get("REBOOTSCAN_BIN") or str(REPO / "target" / "release" / "rebootscan")
    if not os.path.exists(path):
        pytest.fail(f"the CLI {path} is missing: run `cargo build --release` first (or set REBOOTSCAN_BIN)")
    return path


def run_cli(*args, check_status=None):
    done = subprocess.run([cli_path(), *map(str, args)], capture_output=True)
    if check_status is not None:
        assert done.returncode == check_status, done.stderr.decode()
    return done


def fixture_machines():
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def make_fleet(root, count):
    """`count` machine folders under `root`, cycling through the fixture machines (hard links
    where the file system allows, copies elsewhere)."""
    sources = fixture_machines()
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = sources[index % len(sources)]
        machine = root / f"host{index:05d}"
        machine.mkdir()
        for hive in source.iterdir():
            if hive.name.endswith(".txt"):
                continue
            try:
                os.link(hive, machine / hive.name)
            except OSError:
                shutil.copyfile(hive, machine / hive.name)
    return root

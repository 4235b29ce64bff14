"""The Python API gives exactly what the CLI gives, on every shipped fixture machine."""

import json
import pickle
import threading

import pytest

import rebootscan
from conftest import FIXTURES, fixture_machines, make_fleet, run_cli


@pytest.mark.parametrize("machine", fixture_machines(), ids=lambda p: p.name)
def test_scan_of_a_machine_folder_equals_the_cli_json(machine):
    cli = json.loads(run_cli("scan", machine, "--format", "json").stdout)
    assert len(cli["machines"]) == 1
    assert rebootscan.scan(str(machine)) == cli["machines"][0]


def test_scan_all_equals_the_cli_document_and_discover_names_the_same_machines():
    cli = json.loads(run_cli("scan", FIXTURES, "--format", "json").stdout)
    ours = rebootscan.scan_all(str(FIXTURES))
    assert ours == cli
    found = rebootscan.discover(str(FIXTURES))
    assert [m["label"] for m in found["machines"]] == [m["machine"] for m in cli["machines"]]
    assert found["skipped"] == cli["skipped"] and found["ignored"] == cli["ignored"]


def test_jsonl_lines_are_the_cli_bytes(tmp_path):
    fleet = make_fleet(tmp_path / "fleet", 30)
    cli = run_cli("scan", fleet, "--format", "jsonl").stdout.decode()
    specs = rebootscan.discover(str(fleet))["machines"]
    assert "".join(line + "\n" for line in rebootscan.scan_jsonl_lines(specs, jobs=2)) == cli


def test_specs_are_plain_picklable_data():
    spec = rebootscan.discover(str(FIXTURES))["machines"][0]
    assert isinstance(spec, dict) and isinstance(spec["hives"], list)
    again = pickle.loads(pickle.dumps(spec))
    assert rebootscan.scan(again) == rebootscan.scan(spec)


def test_options_reach_the_library_as_on_the_command_line():
    machine = FIXTURES / "win10-pending-driver-update"
    cli = json.loads(
        run_cli(
            "scan", machine, "--format", "json", "--skip-rule", "pending_file_rename_operations",
            "--packages", "never", "--as-of", "2025-01-01", "--hash",
        ).stdout
    )["machines"][0]
    ours = rebootscan.scan(
        str(machine), skip_rules=["pending_file_rename_operations"], packages="never", as_of="2025-01-01", hash=True
    )
    assert ours == cli
    assert all(i["sha256"] for i in ours["inputs"])


def test_errors_are_exceptions_with_the_cli_message():
    machine = FIXTURES / "win10-pending-driver-update"
    cli = run_cli("scan", machine, "--skip-rule", "pending_file_renames")
    assert cli.returncode != 0
    # The CLI's line that names the option (clap may add a usage hint after it).
    line = next(l for l in cli.stderr.decode().splitlines() if "--skip-rule" in l)
    message = line.removeprefix("rebootscan: ").removeprefix("error: ")
    with pytest.raises(rebootscan.RebootscanError) as raised:
        rebootscan.scan(str(machine), skip_rules=["pending_file_renames"])
    assert str(raised.value) == message
    with pytest.raises(rebootscan.RebootscanError, match="expected a date"):
        rebootscan.scan(str(machine), as_of="31/05/2024")
    with pytest.raises(rebootscan.RebootscanError, match="packages="):
        rebootscan.scan(str(machine), packages="sometimes")
    with pytest.raises(rebootscan.RebootscanError, match=r"holds \d+ machines"):
        rebootscan.scan(str(FIXTURES))
    with pytest.raises(rebootscan.RebootscanError, match="does not exist"):
        rebootscan.scan(str(FIXTURES / "no-such-machine"))


def test_bad_evidence_is_reported_not_raised(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "SYSTEM").write_bytes(b"regf" + b"\0" * 100)
    report = rebootscan.scan(str(broken))
    cli = json.loads(run_cli("scan", broken, "--format", "json").stdout)["machines"][0]
    assert report == cli
    assert report["verdict"] == "unknown" and report["errors"]


def test_rules_are_the_cli_table():
    ids = [rule["id"] for rule in rebootscan.rules()]
    cli = run_cli("rules", check_status=0).stdout.decode().splitlines()
    cli_ids = [line.split()[0] for line in cli if line and not line.startswith(" ")]
    assert ids == cli_ids
    assert all({"id", "hive", "keys", "strength", "volatility", "source"} <= set(r) for r in rebootscan.rules())


def test_threads_scan_in_parallel_with_the_same_results(tmp_path):
    # The GIL is released while the library works: four threads scanning at once must each get
    # the single-threaded answer.
    fleet = make_fleet(tmp_path / "fleet", 40)
    specs = rebootscan.discover(str(fleet))["machines"]
    expected = [rebootscan.scan(s) for s in specs]
    results = [None] * 4

    def work(slot):
        results[slot] = [rebootscan.scan(s) for s in specs]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)

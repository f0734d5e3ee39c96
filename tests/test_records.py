"""Record schema, JSON-lines round trip and clear errors for bad files (checked-in fixtures under data/)."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_infperf.record_files import append_records, read_records, to_dataframe
from pytest_infperf.records import RecordError, check_record

DATA = Path(__file__).parent / "data"


def test_checked_in_records_load() -> None:
    records = read_records(DATA / "records-cpu.jsonl")
    assert {r["status"] for r in records} == {"ok", "oom"}
    frame = to_dataframe(records)
    assert {"throughput_tok_s", "ttft_mean_s", "normalised_latency_s_per_tok", "hardware_fingerprint"} <= set(
        frame
    )


def test_round_trip(tmp_path: Path) -> None:
    records = read_records(DATA / "records-cpu.jsonl")
    out = tmp_path / "r.jsonl"
    append_records(out, records[:1])
    append_records(out, records[1:])
    assert read_records(out) == records


def test_corrupted_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = (DATA / "records-cpu.jsonl").read_text().splitlines()[0]
    bad.write_text(good + "\n{not json\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:2: not valid JSON"):
        read_records(bad)


@pytest.mark.parametrize(
    "change, message",
    [({"schema": 2}, "schema 2 is not 1"), ({"status": "great"}, "status 'great'"), ({"engine": None}, None)],
)
def test_schema_checks(change: dict, message: str | None) -> None:
    record = json.loads((DATA / "records-cpu.jsonl").read_text().splitlines()[0])
    record.update(change)
    if message is None:
        check_record(record, "x")  # present-but-null values are allowed
        del record["engine"]
        message = "missing engine"
    with pytest.raises(RecordError, match=message):
        check_record(record, "x")


def test_git_info_names_commit_branch_and_dirty_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from pytest_infperf.provenance import CI_BRANCH_VARIABLES, CI_COMMIT_VARIABLES, git_info

    for name in ("INFPERF_GIT_COMMIT", *CI_COMMIT_VARIABLES, *CI_BRANCH_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    # Outside a work tree `git rev-parse HEAD` prints "HEAD" and fails: no commit, not the word "HEAD".
    assert git_info(str(plain)) == {"git_commit": None, "git_branch": None, "git_dirty": None}
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    git_info.cache_clear()
    assert git_info(str(plain)) == {"git_commit": "abc123", "git_branch": "main", "git_dirty": None}

    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q", "-b", "perf")
    (repo / "f.txt").write_text("1")
    git("add", "f.txt")
    git("commit", "-q", "-m", "one")
    git_info.cache_clear()
    clean = git_info(str(repo))
    assert clean == {"git_commit": git("rev-parse", "HEAD"), "git_branch": "perf", "git_dirty": False}
    (repo / "f.txt").write_text("2")
    git_info.cache_clear()
    assert git_info(str(repo))["git_dirty"] is True
    monkeypatch.setenv("INFPERF_GIT_COMMIT", "f00d")  # named by the user: wins over a copied, stale .git
    git_info.cache_clear()
    assert git_info(str(repo)) == {"git_commit": "f00d", "git_branch": None, "git_dirty": None}
    git_info.cache_clear()


class FakeNvml:
    """A named test double of pynvml: one GPU whose utilisation the test sets and whose energy counter (mJ)
    grows by 1000 per call."""

    def __init__(self) -> None:
        self.util, self.energy_mj = 0, 0

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        pass

    def nvmlShutdown(self) -> None:  # noqa: N802
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:  # noqa: N802
        return types.SimpleNamespace(gpu=self.util)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:  # noqa: N802
        return types.SimpleNamespace(used=1 << 30)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:  # noqa: N802
        return 100_000

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:  # noqa: N802
        self.energy_mj += 1000
        return self.energy_mj


def test_telemetry_restart_counts_only_what_follows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving pool restarts telemetry once the warm-up run is written: utilisation and energy then
    describe the measured runs only, not the client's start-up at an idle GPU."""
    from pytest_infperf.telemetry import GpuSampler

    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with GpuSampler([0], interval_s=0.005) as sampler:
        time.sleep(0.1)  # start-up: idle GPU
        fake.util = 100
        sampler.restart()
        time.sleep(0.1)
    assert sampler.summary.gpu_util_mean_pct > 95 and sampler.summary.gpu_util_max_pct == 100
    assert sampler.summary.energy_j == 1.0  # the counter read at restart and at the end: one step of 1000 mJ


def test_files_written_atomically_get_the_umask_mode_or_keep_their_own(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; a baseline or records file must be as readable as any file the user
    writes."""
    import os

    from pytest_infperf.record_files import atomic_write

    old = os.umask(0o022)
    try:
        new = tmp_path / "new.json"
        atomic_write(new, "{}")
        assert new.stat().st_mode & 0o777 == 0o644
        shared = tmp_path / "shared.json"
        shared.write_text("{}")
        shared.chmod(0o664)
        atomic_write(shared, '{"a": 1}')
        assert shared.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)

"""Baselines on disk: one pretty-printed JSON file per (hardware fingerprint, test, configuration).

    baselines/<fingerprint>/<test name>/<config id>.json      e.g. baselines/h100-80gb-x1/test_throughput/
                                                                  vllm-llama-3-8b-gpus1-bs64.json

The folder is the hardware key (GPU generation, memory and count must match); MATCH_FIELDS inside the file must
equal the new record's for the two to be comparable; driver, CUDA and engine versions are recorded but may
differ (that difference is what a regression gate is for). Writes are atomic (temp file + rename) under a lock,
so parallel xdist workers lose nothing; an unreadable file is an error naming it, and saving over it moves it
aside instead of deleting it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .records import RecordError, check_record

MATCH_FIELDS = ("engine", "model", "gpus", "batch_size", "workload", "dtype", "num_prompts")


class BaselineError(ValueError):
    pass


def perf_test_name(test_id: str) -> str:
    """`perf_tests/test_x.py::test_throughput[...]` -> `test_throughput`."""
    return test_id.split("::")[-1].split("[")[0]


def config_id(case_id: str, hardware_target: str) -> str:
    """The case id without its hardware prefix, so one configuration pairs across GPU generations."""
    return case_id.removeprefix(hardware_target + "-")


class BaselineStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, fingerprint: str, record: dict[str, Any]) -> Path:
        name = config_id(record["case_id"], record.get("hardware_target") or "")
        return self.root / fingerprint / perf_test_name(record["test_id"]) / f"{name}.json"

    def fingerprints(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if self.root.is_dir() else []

    def load(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise BaselineError(f"baseline {path} is corrupted (line {err.lineno}: {err.msg}); fix it, delete it, "
                                "or refresh it with --infperf-save") from None
        try:
            return check_record(data, f"baseline {path}")
        except RecordError as err:
            raise BaselineError(str(err)) from None

    def find(self, path: Path, record: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(baseline, why-not): the record stored at `path` if comparable with `record`, or None and the reason."""
        if not path.exists():
            return None, f"no baseline at {path}"
        baseline = self.load(path)
        mismatched = [f"{f}: baseline {baseline.get(f)!r}, now {record.get(f)!r}" for f in MATCH_FIELDS
                      if baseline.get(f) != record.get(f)]
        if mismatched:
            return None, f"baseline {path} is not comparable ({'; '.join(mismatched)})"
        return baseline, ""

    def read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise BaselineError(f"{path} is corrupted (line {err.lineno}: {err.msg})") from None

    def save(self, record: dict[str, Any]) -> Path:
        return self.write_json(self.path_for(record["hardware_fingerprint"], record), record, validate=True)

    def write_json(self, path: Path, data: dict[str, Any], validate: bool = False) -> Path:
        """Atomic, locked write; an unreadable file already there is moved aside, never lost."""
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
        with FileLock(str(lock_dir / f"{digest}.lock")):
            if path.exists():
                try:
                    self.load(path) if validate else self.read_json(path)
                except BaselineError:
                    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
                    path.rename(path.with_name(f"{path.name}.corrupt-{stamp}"))
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2, sort_keys=True, default=str)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return path

    def all_records(self, fingerprint: str) -> list[dict[str, Any]]:
        return [self.load(p) for p in sorted((self.root / fingerprint).glob("*/*.json")) if p.parent.name != "_infpop"]

"""Baselines on disk: one pretty-printed JSON file per (hardware fingerprint, test, configuration).

    baselines/<fingerprint>/<test name>/<config id>.json      e.g. baselines/h100-80gb-x1/test_throughput/
                                                                  vllm-llama-3-8b-gpus1-bs64.json

A baseline is what independent sessions on that hardware measured: the file (schema 2) holds the
configuration's identity and `sessions`, the full record of every session saved into it (each session is its
own pytest process, worker process and model load; ideally on other days and hosts), oldest first, so the gate
can learn how much a configuration moves from one session to the next. `--infperf-save` adds this session to
the baseline; `--infperf-save-replace` starts it over. A schema-1 file (one record) still reads, as a
one-session baseline.

The folder is the hardware key (GPU generation, memory and count must match); MATCH_FIELDS inside the file
must equal the new record's for the two to be comparable; driver, CUDA and engine versions are recorded but
may differ (that difference is what a regression gate is for). Writes are atomic (temp file + rename) under a
lock, read-modify-write inside it, so parallel xdist workers lose nothing; an unreadable file is an error
naming it, and saving over it moves it aside instead of deleting it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record_files import atomic_write
from .records import MEASUREMENT_VERSIONS, Record, RecordError, check_record, measurement_change

MATCH_FIELDS = (
    "engine",
    "model",
    "gpus",
    "batch_size",
    "workload",
    "dtype",
    "num_prompts",
    "measurement_version",
)
IDENTITY_FIELDS = ("case_id", "test_id", "hardware_target", "hardware_fingerprint", *MATCH_FIELDS)
BASELINE_SCHEMA = 2
READABLE_SCHEMAS = (1, BASELINE_SCHEMA)  # schema 1: one record per file, read as a one-session baseline


def host_key(record: Record) -> str:
    """The host a record or session was measured on: its boot id, which tells cloud VMs apart when their names
    are generic. Records without one (older ones) count as one unknown host together, never as several."""
    return str(record.get("host_boot_id") or "unknown")


@dataclass
class Baseline:
    """One configuration's baseline: its identity and the records of the sessions that measured it."""

    path: Path
    identity: dict[str, Any]
    sessions: list[Record]  # one per session, the full record it saved
    note: str | None = None

    def get(self, field: str, default: Any = None) -> Any:
        return self.identity.get(field, default)

    @property
    def ok_sessions(self) -> list[dict[str, Any]]:
        return [s for s in self.sessions if s.get("status") == "ok"]

    def samples(self, metric: str) -> list[list[float]]:
        """Per ok session, its repeat samples of `metric` (sessions without them are left out)."""
        return [list(s[f"{metric}_samples"]) for s in self.ok_sessions if s.get(f"{metric}_samples")]

    def samples_by_host(self, metric: str) -> list[list[float]]:
        """Per host the ok sessions ran on (`host_key`), their repeat samples of `metric` together: the unit
        of replication when a launch-bound configuration is judged on a host the baseline never saw."""
        hosts: dict[str, list[float]] = {}
        for session in self.ok_sessions:
            if session.get(f"{metric}_samples"):
                hosts.setdefault(host_key(session), []).extend(session[f"{metric}_samples"])
        return list(hosts.values())

    def hosts(self) -> set[str]:
        return {host_key(s) for s in self.ok_sessions}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": BASELINE_SCHEMA, **self.identity, "sessions": self.sessions}
        if self.note:
            data["note"] = self.note
        return data


class BaselineError(ValueError):
    pass


def perf_test_name(test_id: str) -> str:
    """`perf_tests/test_x.py::test_throughput[...]` -> `test_throughput`."""
    return test_id.split("::")[-1].split("[")[0]


def config_id(case_id: str, hardware_target: str) -> str:
    """The case id without its hardware prefix, so one configuration pairs across GPU generations."""
    return case_id.removeprefix(hardware_target + "-")


def _session_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a stored session the same record added again (`infperf baseline add` twice): when, where,
    and its samples. Time and host alone are not enough: two quick sessions on one host can share a second."""
    return record.get("timestamp"), record.get("host"), record.get("throughput_tok_s_samples")


class BaselineStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # What a save did besides adding a session (a file archived or moved aside), for the user to read.
        self.notices: list[str] = []

    def path_for(self, fingerprint: str, record: dict[str, Any]) -> Path:
        """The baseline file of `record` under `fingerprint`; every part comes from a record, so each must be
        one plain name (no separator, no leading dot, no '..') and the file must lie under the root."""
        name = config_id(str(record["case_id"]), record.get("hardware_target") or "")
        parts = (str(fingerprint), perf_test_name(str(record["test_id"])), f"{name}.json")
        for part in parts:
            if not part or part.startswith(".") or any(c in part for c in "/\\\0") or ".." in part:
                raise BaselineError(
                    f"{part!r} (from a record's hardware fingerprint, test id or case id) is not a "
                    "plain file name: refusing to write outside the baselines folder"
                )
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise BaselineError(f"{path} lies outside the baselines folder {self.root}")
        return path

    def fingerprints(self) -> list[str]:
        return (
            sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if self.root.is_dir()
            else []
        )

    def load(self, path: Path) -> Baseline:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise BaselineError(
                f"baseline {path} is corrupted (line {err.lineno}: {err.msg}); fix it, delete it, "
                "or refresh it with --infperf-save"
            ) from None
        try:
            if isinstance(data, dict) and data.get("schema") == BASELINE_SCHEMA:
                sessions = data.get("sessions")
                if not isinstance(sessions, list) or not sessions:
                    raise RecordError(f"baseline {path}: no sessions")
                sessions = [
                    check_record(r, f"baseline {path} session {i + 1}") for i, r in enumerate(sessions)
                ]
                identity = {f: data.get(f) for f in IDENTITY_FIELDS}
                return Baseline(path, identity, sessions, data.get("note"))
            if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS:
                schema = data.get("schema") if isinstance(data, dict) else None
                raise RecordError(
                    f"baseline {path}: schema {schema!r} is not one this version reads "
                    f"({', '.join(map(str, READABLE_SCHEMAS))})"
                )
            record = check_record(data, f"baseline {path}")  # schema 1: one record, one session
        except RecordError as err:
            raise BaselineError(str(err)) from None
        return Baseline(
            path, {f: record.get(f) for f in IDENTITY_FIELDS}, [record], record.get("baseline_note")
        )

    def find(self, path: Path, record: dict[str, Any]) -> tuple[Baseline | None, str]:
        """(baseline, why-not): the baseline stored at `path` if comparable with `record`, or None and the
        reason."""
        if not path.exists():
            return None, f"no baseline at {path}"
        baseline = self.load(path)
        mismatched = [
            f"{f}: baseline {baseline.get(f)!r}, now {record.get(f)!r}"
            for f in MATCH_FIELDS
            if baseline.get(f) != record.get(f) and f != "measurement_version"
        ]
        change = measurement_change(record, [baseline.get("measurement_version")])
        reasons = mismatched + ([change] if change else [])
        if reasons:
            return None, f"baseline {path} is not comparable ({'; '.join(reasons)})"
        return baseline, ""

    def read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise BaselineError(f"{path} is corrupted (line {err.lineno}: {err.msg})") from None

    def save(self, record: dict[str, Any], *, keep: int, replace: bool = False) -> Path:
        """Add `record` as a session of its baseline (the newest `keep` sessions stay); `replace` starts the
        baseline over. A baseline of other settings (MATCH_FIELDS) is replaced; an unreadable one moved
        aside."""
        path = self.path_for(record["hardware_fingerprint"], record)

        def merge(existing: Baseline | None) -> dict[str, Any]:
            sessions = (
                []
                if replace or existing is None
                else [
                    s
                    for s in existing.sessions
                    if all(s.get(f) == record.get(f) for f in MATCH_FIELDS)
                    and _session_key(s) != _session_key(record)
                ]
            )
            dropped = (
                []
                if existing is None
                else [
                    s
                    for s in existing.sessions
                    if _session_key(s) != _session_key(record) and s not in sessions
                ]
            )
            if dropped:
                self._archive(path, existing, record, replace, len(dropped))
            identity = {f: record.get(f) for f in IDENTITY_FIELDS}
            return Baseline(path, identity, (sessions + [record])[-keep:]).to_json()

        return self.update_json(path, merge)

    def update_json(self, path: Path, make: Any) -> Path:
        """Read-modify-write under the file's lock: `make(current Baseline or None) -> data`."""
        with self._lock(path):
            current = None
            if path.exists():
                try:
                    current = self.load(path)
                except BaselineError:
                    self._move_aside(path)
            self._write(path, make(current))
        return path

    def write_json(self, path: Path, data: dict[str, Any]) -> Path:
        """Atomic, locked write; an unreadable file already there is moved aside, never lost."""
        with self._lock(path):
            if path.exists():
                try:
                    self.read_json(path)
                except BaselineError:
                    self._move_aside(path)
            self._write(path, data)
        return path

    def _lock(self, path: Path) -> Any:
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
        return FileLock(str(lock_dir / f"{digest}.lock"))

    def _archive(
        self, path: Path, existing: Baseline, record: dict[str, Any], replace: bool, dropped: int
    ) -> None:
        """A save that drops sessions keeps the old file beside it (never read as a baseline), and says so."""
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
        archive = path.with_name(f"{path.name}.archived-{stamp}")
        shutil.copy2(path, archive)
        why = (
            "--infperf-save-replace"
            if replace
            else "other settings ("
            + "; ".join(
                f"{f}: {existing.get(f)!r}, now {record.get(f)!r}"
                for f in MATCH_FIELDS
                if existing.get(f) != record.get(f)
            )
            + ")"
        )
        self.notices.append(
            f"baseline {path} started over ({why}): its {dropped} earlier session(s) kept in {archive.name}"
        )

    def _move_aside(self, path: Path) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        path.rename(aside)
        self.notices.append(
            f"baseline {path} was unreadable: moved aside to {aside.name}, and a new one started"
        )

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def baselines(self, fingerprint: str) -> list[Baseline]:
        """Every baseline of one fingerprint folder (InfPop's files left out); an unreadable one is an
        error."""
        return [
            self.load(p)
            for p in sorted((self.root / fingerprint).glob("*/*.json"))
            if p.parent.name != "_infpop"
        ]

    def readable(self, folder: Path) -> list[Baseline]:
        """The baselines of one test's folder that can be read (a corrupted one fails only its own test)."""
        found = []
        for path in sorted(folder.glob("*.json")):
            try:
                found.append(self.load(path))
            except BaselineError:
                continue
        return found

    def problems(self) -> list[tuple[Path, str]]:
        """Every stored baseline this version cannot judge against, with why: unreadable, another schema,
        another measurement version, no repeat samples, or stored where its own identity would not be
        found."""
        found = []
        for path in sorted(self.root.glob("*/*/*.json")):
            if path.parent.name == "_infpop":
                continue
            try:
                found.extend((path, why) for why in self._why_not_current(path, self.load(path)))
            except BaselineError as err:
                found.append(
                    (path, str(err).replace(f"baseline {path}", "this file").removeprefix("this file: "))
                )
        return found

    def _why_not_current(self, path: Path, baseline: Baseline) -> list[str]:
        engine = baseline.get("engine")
        now = {"engine": engine, "measurement_version": MEASUREMENT_VERSIONS.get(engine)}
        change = measurement_change(now, {s.get("measurement_version") for s in baseline.sessions})
        reasons = [change] if change else []
        if not baseline.ok_sessions:
            reasons.append("no ok session")
        if len(baseline.samples("throughput_tok_s")) < len(baseline.ok_sessions):
            reasons.append("sessions without throughput_tok_s_samples (measured before repeats were stored)")
        expected = self.path_for(path.parent.parent.name, {**baseline.identity, **baseline.sessions[-1]})
        if expected.resolve() != path.resolve():
            reasons.append(f"its identity belongs at {expected}, so the gate never finds it here")
        return reasons

    def all_records(self, fingerprint: str) -> list[dict[str, Any]]:
        """Every session record of every baseline of one fingerprint folder."""
        return [record for baseline in self.baselines(fingerprint) for record in baseline.sessions]

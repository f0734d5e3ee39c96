"""A side of the study: the records of one GPU kind (files or folders), each configuration's medians and samples,
and where and how they were measured, per host."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..record_files import read_records

METRIC = "throughput_tok_s"


@dataclass
class HostNotes:
    """What one host's records of a side say: each _PROVENANCE field's values, when they were taken, and per
    (engine, model, GPU count) the batch sizes it measured, each with its prompts per pass."""

    values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    timestamps: set[str] = field(default_factory=set)
    batches: dict[str, dict[int, set[int | None]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )


@dataclass
class Side:
    """One GPU kind's records: configuration (engine, model, gpus, batch) -> repeats, plus InfPop
    summaries."""

    label: str
    samples: dict[tuple[str, str, int, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    medians: dict[tuple[str, str, int, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    tuned: list[dict[str, Any]] = field(default_factory=list)
    # engine -> the suite's measurement versions among its records (records.MEASUREMENT_VERSIONS; None: the
    # first)
    measurement: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    # host (boot id) -> what its records say of when, with what and what they measured: a side that joins
    # hosts mixes their differences (launch-bound throughput moves by up to a quarter between hosts of one
    # kind)
    hosts: dict[str, HostNotes] = field(default_factory=lambda: defaultdict(HostNotes))
    # configuration -> its records' prompts per pass: RQ4 pairs two kinds' figures only over the same prompts
    prompts: dict[tuple[str, str, int, int], set[int | None]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # configuration -> GPUs that held weights, where fewer than it names (HF's device map leaving some empty)
    gpus_used: dict[tuple[str, str, int, int], set[int]] = field(default_factory=lambda: defaultdict(set))

    @property
    def versions(self) -> set[str]:
        """The engines and their versions among the records ("vllm 0.20.2"), from the hosts' notes."""
        return {v for notes in self.hosts.values() for v in notes.values["versions"]}

    def value(self, key: tuple[str, str, int, int]) -> float:
        return statistics.median(self.medians[key])

    def keys(self) -> list[tuple[str, str, int, int]]:
        return sorted(self.medians)


def _files(paths: Iterable[Path], pattern: str) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob(pattern))
        elif path.match(pattern):
            found.append(path)
    return found


# Commits are shown as git's short hash: a device run names its full one (INFPERF_GIT_COMMIT), a local one may
# not.
_PROVENANCE = {
    "date": lambda r: str(r.get("timestamp") or "")[:10],
    "commit": lambda r: str(r.get("git_commit") or "")[:7],
    "versions": lambda r: f"{r['engine']} {r.get('engine_version')}",
    "torch": lambda r: r.get("torch_version"),
    "driver": lambda r: r.get("driver_version"),
}


def _note_host(side: Side, record: dict[str, Any]) -> None:
    """Keep where and how `record` was measured, under its host's boot id (its host name where none)."""
    notes = side.hosts[str(record.get("host_boot_id") or record.get("host") or "unknown")[:8]]
    for key, read in _PROVENANCE.items():
        value = read(record)
        if value:
            notes.values[key].add(str(value))
    notes.timestamps.add(str(record.get("timestamp") or ""))
    name = f"{record['engine']} {record['model']} {record['gpus']} GPU"
    notes.batches[name][int(record["batch_size"])].add(record.get("num_prompts"))


def usual_prompts(side: Side) -> int | None:
    """The prompts per pass of most of the side's configurations (the workload's pass; rows name any
    other)."""
    counts = Counter(p for prompts in side.prompts.values() for p in prompts)
    return counts.most_common(1)[0][0] if counts else None


def _prompt_counts(side: Side, key: tuple[str, str, int, int]) -> str:
    """A configuration's prompts per pass on one side, e.g. "64" or "64/256"."""
    return "/".join(map(str, sorted(side.prompts[key], key=str)))


def provenance_rows(side: Side) -> list[list[str]]:
    """One row per host, oldest first: boot id, dates, commits, engine versions, torch, driver, and what it
    measured (per engine, model and GPU count, its batch sizes, with their prompts per pass where those are
    not the side's usual: HF's batch 1, say, on fewer prefixes to fit the device time)."""
    usual = usual_prompts(side)

    def batch(size: int, prompts: set[int | None]) -> str:
        other = sorted(str(p) for p in prompts if p != usual)
        return f"{size} ({'/'.join(other)} prompts)" if other else str(size)

    rows = []
    for host, notes in sorted(side.hosts.items(), key=lambda item: min(item[1].timestamps)):
        measured = "; ".join(
            f"{name}: bs {','.join(batch(b, p) for b, p in sorted(batches.items()))}"
            for name, batches in sorted(notes.batches.items())
        )
        rows.append([host, *(", ".join(sorted(notes.values[key])) or "-" for key in _PROVENANCE), measured])
    return rows


def load_side(paths: Sequence[Path], workload: str | None = None) -> Side:
    """The ok records of `paths` (files or folders); they must be of one GPU kind and, unless `workload` picks
    one, of one workload. Points of InfPop landscapes (`infpop_point`) are left out: they vary engine knobs
    (max_num_seqs, dtype) that a configuration (engine, model, GPUs, batch) does not name, so folded in they
    would mix settings; their summaries (*.tuned.json) carry RQ5."""
    records = [
        r
        for f in _files(paths, "*.jsonl")
        for r in read_records(f)
        if r.get("status") == "ok"
        and r.get(METRIC) is not None
        and r.get("gpus", 0) > 0
        and "infpop_point" not in r
    ]
    if workload:
        records = [r for r in records if r.get("workload") == workload]
    kinds = sorted({str(r.get("gpu_name")) for r in records})
    workloads = sorted({str(r.get("workload")) for r in records})
    names = ", ".join(str(p) for p in paths)
    if not records:
        raise ValueError(f"{names}: no ok GPU records" + (f" of workload {workload}" if workload else ""))
    if len(kinds) > 1:
        raise ValueError(
            f"{names}: records of several GPU kinds ({', '.join(kinds)}); give each kind as one side"
        )
    if len(workloads) > 1:
        raise ValueError(
            f"{names}: records of several workloads ({', '.join(workloads)}); pick one with --workload"
        )
    side = Side(kinds[0])
    for r in records:
        key = (r["engine"], r["model"], int(r["gpus"]), int(r["batch_size"]))
        side.medians[key].append(float(r[METRIC]))
        side.samples[key] += [float(x) for x in r.get(f"{METRIC}_samples") or [r[METRIC]]]
        side.measurement[r["engine"]].add(r.get("measurement_version"))
        side.prompts[key].add(r.get("num_prompts"))
        if r.get("gpus_used") is not None and len(r["gpus_used"]) < key[2]:
            side.gpus_used[key].add(len(r["gpus_used"]))
        _note_host(side, r)
    mixed = sorted(engine for engine, versions in side.measurement.items() if len(versions) > 1)
    if mixed:
        raise ValueError(
            f"{names}: {', '.join(mixed)} records of several measurement versions of the suite; "
            "measure them again with one version"
        )
    for f in _files(paths, "*.tuned.json"):
        summary = json.loads(f.read_text())
        if summary.get("gain_over_previous") is not None:
            side.tuned.append(summary)
    return side

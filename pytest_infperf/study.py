"""`infperf study A B`: the throughput study's tables from the records of two GPU kinds.

The study (20 code LLMs, HF pipelines vs vLLM, A100 vs V100) asked: RQ2, which GPU count is best per model and
engine at batch 1; RQ3, how throughput follows batch size; RQ4, how much a newer GPU generation gains; RQ5,
how much re-tuning gains after the hardware changes (upgrade and downgrade); and its Table II compared HF at
its best GPU count with vLLM at the same and at its own best count. This module answers the same questions
from records of today's GPUs, with the same tests (one-way ANOVA + Tukey HSD over the repeats, paired Wilcoxon
over configurations, Cliff's delta), so that a user can redo the study on their hardware and put the tables
beside the published ones (docs/STUDY.md).

RQ5 comes twice: from live InfPop summaries where they exist, and replayed on the recorded grids (InfPop
itself tuning on each kind's measurements, over seeds), which any two sides with a shared grid can answer.

A side is one or more records files (.jsonl) or folders (searched for *.jsonl records and *.tuned.json InfPop
summaries). A GPU kind is the records' `gpu_name`: records of 1 and 2 GPUs of one kind belong together even
though their hardware fingerprints (h200-140gb-x1, -x2) differ. Only ok records of one workload are used; a
configuration's value is the median of its records' medians, its samples all of their repeats."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .record_files import read_records
from .records import what_changed
from .stats import anova_tukey, cliffs_delta, cliffs_magnitude, wilcoxon_p

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


def _fmt(x: float | None, spec: str = ",.1f") -> str:
    return "-" if x is None else format(x, spec)


def _pvalue(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _keys_by_level(
    side: Side, *, batch: int | None = None, gpus: int | None = None
) -> dict[tuple[str, str], dict[int, Any]]:
    """(engine, model) -> {gpus or batch: key}, at a fixed batch (keyed by GPU count) or GPU count (by
    batch)."""
    out: dict[tuple[str, str], dict[int, Any]] = defaultdict(dict)
    for key in side.keys():
        engine, model, g, b = key
        if batch is not None and b == batch:
            out[(engine, model)][g] = key
        elif gpus is not None and g == gpus:
            out[(engine, model)][b] = key
    return out


def _best(values: dict[int, float]) -> int | None:
    """The level with the highest throughput; None where only one level was measured (a phase cut short, or a
    model tried at one GPU count): one figure is no answer to "which is best"."""
    return max(values, key=values.__getitem__) if len(values) > 1 else None


def best_gpu_count(side: Side, batch: int = 1) -> list[dict[str, Any]]:
    """Per engine and model at batch `batch`: throughput per GPU count, the best count, one-way ANOVA over the
    repeats of the counts, and Tukey's p of the best count against the runner-up."""
    rows = []
    for (engine, model), by_gpus in sorted(_keys_by_level(side, batch=batch).items()):
        values = {g: side.value(k) for g, k in sorted(by_gpus.items())}
        best = _best(values)
        test = anova_tukey({str(g): side.samples[k] for g, k in by_gpus.items()})
        runner_up = (
            max((g for g in values if g != best), key=values.__getitem__) if best is not None else None
        )
        tukey = next((t["p"] for t in test["tukey"] if {t["a"], t["b"]} == {str(best), str(runner_up)}), None)
        rows.append(
            {
                "engine": engine,
                "model": model,
                "values": values,
                "best_gpus": best,
                "anova_f": test["f"],
                "anova_p": test["p"],
                "runner_up": runner_up,
                "tukey_p": tukey,
            }
        )
    return rows


def throughput_by_batch(side: Side, gpus: int = 1) -> list[dict[str, Any]]:
    """Per engine and model on `gpus` GPUs: throughput per batch size, the best batch, its gain over batch 1
    (or the smallest measured) and one-way ANOVA over the repeats of the batch sizes."""
    rows = []
    for (engine, model), by_batch in sorted(_keys_by_level(side, gpus=gpus).items()):
        values = {b: side.value(k) for b, k in sorted(by_batch.items())}
        best = _best(values)
        smallest = min(values)
        test = anova_tukey({str(b): side.samples[k] for b, k in by_batch.items()})
        gain = values[best] / values[smallest] - 1 if best is not None else None
        rows.append(
            {
                "engine": engine,
                "model": model,
                "values": values,
                "best_batch": best,
                "gain_over_smallest": gain,
                "smallest": smallest,
                "anova_f": test["f"],
                "anova_p": test["p"],
            }
        )
    return rows


def over_other_prompts(a: Side, b: Side) -> list[tuple[str, str, int, int]]:
    """Configurations both kinds measured, but over different prompts per pass (one kind's HF batch 1 on 64
    prefixes, the other's on 256, say): not a pair, since the prompts' lengths differ as well as the GPUs."""
    return sorted(k for k in set(a.medians) & set(b.medians) if a.prompts.get(k) != b.prompts.get(k))


def generation_gains(a: Side, b: Side) -> list[dict[str, Any]]:
    """B against A over the configurations both measured over the same prompts, per engine and for all: gains
    B / A - 1 (mean and median), the paired Wilcoxon signed-rank test of the configuration values (two-sided)
    and Cliff's delta of B's values against A's. No rows when the two kinds share no configuration."""
    shared = sorted(set(a.medians) & set(b.medians) - set(over_other_prompts(a, b)))
    rows: list[dict[str, Any]] = []
    if not shared:
        return rows
    for engine in [*sorted({k[0] for k in shared}), "all"]:
        keys = [k for k in shared if engine in ("all", k[0])]
        va, vb = [a.value(k) for k in keys], [b.value(k) for k in keys]
        gains = [y / x - 1 for x, y in zip(va, vb)]
        rows.append(
            {
                "engine": engine,
                "pairs": len(keys),
                "mean_gain": statistics.fmean(gains),
                "median_gain": statistics.median(gains),
                "wilcoxon_p": wilcoxon_p(vb, va, "two-sided") if len(keys) >= 2 else None,
                "cliffs_delta": cliffs_delta(vb, va),
                "b_faster": sum(g > 0 for g in gains),
            }
        )
    return rows


def retuning_gains(sides: Sequence[Side]) -> list[dict[str, Any]]:
    """From InfPop summaries that carry `gain_over_previous` (what re-tuning on this hardware gains over the
    settings tuned on the previous one, both measured here): per engine, model and direction, over the
    seeds."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for side in sides:
        for s in side.tuned:
            groups[(s["engine"], s["model"], s["previous_fingerprint"], s["fingerprint"])].append(s)
    rows = []
    for (engine, model, before, after), runs in sorted(groups.items()):
        gains = [float(s["gain_over_previous"]) for s in runs]
        measured_at = {
            json.dumps(s.get("previous_point_here", s["previous_point"]), sort_keys=True) for s in runs
        }
        rows.append(
            {
                "engine": engine,
                "model": model,
                "from": before,
                "to": after,
                "seeds": len(runs),
                "median_gain": statistics.median(gains),
                "mean_gain": statistics.fmean(gains),
                "min_gain": min(gains),
                "max_gain": max(gains),
                "previous_measured_at": [json.loads(p) for p in sorted(measured_at)],
                # summaries without `num_prompts` predate InfPop holding batch sizes to its evaluation's
                # prompts: points above them ran over more (and longer) prompts, another workload
                "before_prompt_rule": sum("num_prompts" not in s for s in runs),
            }
        )
    return rows


def _point(point: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(point.items()))


def _grid(side: Side, engine: str, model: str) -> dict[tuple[int, int], float]:
    """One engine and model's measured (gpus, batch) -> tok/s on this side."""
    return {(g, b): side.value((e, m, g, b)) for e, m, g, b in side.keys() if (e, m) == (engine, model)}


def _retune(
    old: dict[tuple[int, int], float], new: dict[tuple[int, int], float], budget: int, seed: int
) -> float | None:
    """What re-tuning gains after the hardware changed from `old` to `new` (both grids of (gpus, batch) ->
    tok/s, measured at the same configurations): InfPop tunes on the old grid from scratch, then on the new
    one starting from the old setting, as `--infpop-tune` does on new hardware; the gain is the new grid's
    value at the re-tuned setting over its value at the old setting. None where tuning from scratch met no
    measured point: the space is the product of the measured GPU counts and batch sizes, and on a sparse grid
    (an OOM, a GPU count tried at one batch size) a small budget can miss every measured one. The re-tune
    starts from the old setting, which both grids hold, so it always has one."""
    import tempfile

    from .tuning.landscape import Landscape
    from .tuning.search import tune
    from .tuning.space import start_points_for

    space = {"gpus": sorted({g for g, _ in old}), "batch_size": sorted({b for _, b in old})}

    def replay(grid: dict[tuple[int, int], float]) -> Any:
        def evaluate(point: dict[str, Any]) -> dict[str, Any]:
            value = grid.get((point["gpus"], point["batch_size"]))
            return (
                {"status": "ok", METRIC: value}
                if value is not None
                else {"status": "error", "reason": "not measured on this kind"}
            )

        return evaluate

    def best(grid: dict[tuple[int, int], float], previous: dict[str, Any] | None) -> dict[str, Any] | None:
        with tempfile.TemporaryDirectory() as tmp:
            result = tune(
                replay(grid),
                space,
                Landscape.open(Path(tmp) / "landscape.jsonl"),
                budget,
                seed,
                progress=lambda _: None,
                start_points=start_points_for(space, previous),
            )
        return result.best_point

    before = best(old, None)
    if before is None:
        return None
    after = best(new, before)
    assert after is not None  # its first point is `before`, measured on both kinds
    return new[(after["gpus"], after["batch_size"])] / new[(before["gpus"], before["batch_size"])] - 1


def retuning_gains_replayed(
    a: Side, b: Side, seeds: int = 10, budget_fraction: float = 0.25, min_points: int = 4
) -> list[dict[str, Any]]:
    """RQ5 from the recorded grids, where no live InfPop summaries exist: per engine and model with at least
    `min_points` (gpus, batch) configurations measured on both kinds, over `seeds` tuner seeds, the gain of
    re-tuning after an upgrade (A -> B) and a downgrade (B -> A) as `_retune` defines it. The objective
    replays the recorded medians and the tuner is InfPop itself (hyperopt TPE, its start points, a budget of
    `budget_fraction` of the grid's points, at least 3), so the answer is what re-tuning would have gained on
    these measurements; the live experiment measures the settings again instead."""
    import math

    rows = []
    for engine, model in sorted({(e, m) for e, m, _, _ in a.keys()} & {(e, m) for e, m, _, _ in b.keys()}):
        grid_a, grid_b = _grid(a, engine, model), _grid(b, engine, model)
        shared = grid_a.keys() & grid_b.keys()
        if len(shared) < min_points:
            continue
        grid_a, grid_b = ({k: grid[k] for k in sorted(shared)} for grid in (grid_a, grid_b))
        budget = max(3, math.ceil(budget_fraction * len(shared)))
        for label, (old, before), (new, after) in (
            ("upgrade", (grid_a, a.label), (grid_b, b.label)),
            ("downgrade", (grid_b, b.label), (grid_a, a.label)),
        ):
            results = [_retune(old, new, budget, seed) for seed in range(seeds)]
            gains = [gain for gain in results if gain is not None]
            if not gains:
                continue
            rows.append(
                {
                    "engine": engine,
                    "model": model,
                    "direction": label,
                    "from": before,
                    "to": after,
                    "points": len(shared),
                    "budget": budget,
                    "seeds": len(gains),
                    "seeds_without_result": len(results) - len(gains),
                    "median_gain": statistics.median(gains),
                    "mean_gain": statistics.fmean(gains),
                    "min_gain": min(gains),
                    "max_gain": max(gains),
                    # with exhaustive tuning: the new grid's best over its value at the old grid's best
                    "exhaustive_gain": max(new.values()) / new[max(old, key=old.__getitem__)] - 1,
                }
            )
    return rows


def engine_table(side: Side, batch: int | None = 1) -> list[dict[str, Any]]:
    """The study's Table II on one GPU kind: per model, each engine's throughput at each GPU count at batch
    `batch` (the paper's online inference is batch 1; None: each engine's best over batch sizes); HF's best
    count, vLLM at that count and at its own best count, and the ratios."""
    best: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for key in side.keys():
        engine, model, g, size = key
        if batch is None or size == batch:
            best[(engine, model)][g] = max(best[(engine, model)].get(g, 0.0), side.value(key))
    rows = []
    for model in sorted({m for _, m in best}):
        hf, vllm = best.get(("hf", model)), best.get(("vllm", model))
        if not hf or not vllm:
            continue
        hf_gpus = max(hf, key=hf.__getitem__)
        vllm_gpus = max(vllm, key=vllm.__getitem__)
        same = vllm.get(hf_gpus)
        rows.append(
            {
                "model": model,
                "hf_gpus": hf_gpus,
                "hf": hf[hf_gpus],
                "vllm_same": same,
                "ratio_same": same / hf[hf_gpus] if same else None,
                "vllm_gpus": vllm_gpus,
                "vllm_best": vllm[vllm_gpus],
                "ratio_best": vllm[vllm_gpus] / hf[hf_gpus],
            }
        )
    return rows


PAPER_TABLE_II = Path(__file__).parent / "data" / "paper_table2.tsv"
# The paper's RQ2 one-way ANOVA, pooled over models per GPU-count group (A100, batch 1): engine -> (F, p).
PAPER_RQ2_POOLED = {"vllm": (5.44, 0.002), "hf": (0.37, 0.77)}
# Its text's mean (median) improvements of vLLM over HF, as printed: same GPU count, then vLLM's best count.
PAPER_TEXT_IMPROVEMENT = {"same": (4.3, 6.47), "best": (7.26, 4.80)}


def paper_table2() -> dict[str, dict[str, float]]:
    """The paper's Table II by model name as this suite spells it (`Phi-1_5` -> `phi-1.5`)."""
    lines = [line for line in PAPER_TABLE_II.read_text().splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split("\t") for line in lines)
    return {
        row[0].lower().replace("_", "."): {k: float(v) for k, v in zip(header[1:], row[1:])} for row in rows
    }


def paper_improvements() -> dict[str, dict[str, float]]:
    """Mean and median of the paper's Table II improvements (vLLM / HF), from its throughput columns."""
    table = paper_table2().values()
    out = {}
    for kind, column in (("same", "vllm_same_tok_s"), ("best", "vllm_best_tok_s")):
        ratios = [row[column] / row["hf_tok_s"] for row in table]
        out[kind] = {"mean": statistics.mean(ratios), "median": statistics.median(ratios)}
    return out


def best_gpu_count_pooled(side: Side, batch: int = 1) -> list[dict[str, Any]]:
    """RQ2 as the paper tested it: per engine, one-way ANOVA over GPU-count groups whose values are the
    models' throughputs at that count (each model once per group, its median), beside the per-model ANOVA over
    repeats."""
    rows = []
    for engine in sorted({e for e, *_ in side.keys()}):
        groups: dict[str, list[float]] = defaultdict(list)
        for e, _model, g, size in side.keys():
            if e == engine and size == batch:
                groups[str(g)].append(side.value((e, _model, g, size)))
        test = anova_tukey(dict(sorted(groups.items(), key=lambda kv: int(kv[0]))))
        rows.append(
            {
                "engine": engine,
                "groups": {int(g): len(v) for g, v in groups.items()},
                "f": test["f"],
                "p": test["p"],
                "paper": PAPER_RQ2_POOLED.get(engine),
            }
        )
    return rows


def _values(values: dict[int, float], columns: Sequence[int]) -> list[str]:
    return [_fmt(values.get(c)) for c in columns]


def _level(best: int | None) -> str:
    return "- (one measured)" if best is None else str(best)


def _seeds(row: dict[str, Any]) -> str:
    missed = row["seeds_without_result"]
    return str(row["seeds"]) + (f" ({missed} more without a result)" if missed else "")


def _retuning_lines(rows: list[dict[str, Any]], absent: str | None) -> list[str]:
    """RQ5 from the InfPop summaries, per engine, model and direction; where there are none, `absent` (None:
    no section at all)."""
    if not rows and absent is None:
        return []
    lines = ["## RQ5: gain of re-tuning after the hardware changed (InfPop summaries)", ""]
    if rows:
        lines += _table(
            [
                "engine",
                "model",
                "tuned on",
                "re-tuned on",
                "previous setting, as measured here",
                "seeds",
                "median gain",
                "mean gain",
                "range",
            ],
            [
                [
                    r["engine"],
                    r["model"],
                    r["from"],
                    r["to"],
                    "; ".join(_point(p) for p in r["previous_measured_at"]),
                    str(r["seeds"]),
                    f"{r['median_gain']:+.1%}",
                    f"{r['mean_gain']:+.1%}",
                    f"{r['min_gain']:+.1%} .. {r['max_gain']:+.1%}",
                ]
                for r in rows
            ],
        )
        early = [
            f"{r['engine']} {r['model']} {r['from']} -> {r['to']} ({r['before_prompt_rule']} of {r['seeds']})"
            for r in rows
            if r["before_prompt_rule"]
        ]
        if early:
            lines += [
                "",
                "Summaries made before InfPop held batch sizes to its evaluation's prompts (no "
                "`num_prompts`): " + ", ".join(early) + ". Their points above the prompts ran over more "
                "prompts, which are longer on HumanEval, so a gain over such a setting compares workloads "
                "as well as settings.",
            ]
    else:
        lines.append(str(absent))
    return lines + [""]


def _pooled_anova_lines(name: str, side: Side, batch: int) -> list[str]:
    rows = best_gpu_count_pooled(side, batch)
    lines = [
        f"## RQ2 pooled ({name}, {side.label}): one ANOVA per engine over GPU-count groups, batch {batch}",
        "",
        "The paper's test: each group holds the models' throughputs at that GPU count (the table above "
        "tests each model over its repeats instead).",
        "",
    ]
    lines += _table(
        ["engine", "models per GPU count", "F", "p", "paper (A100): F", "paper p"],
        [
            [
                r["engine"],
                ", ".join(f"{g} GPU: {n}" for g, n in sorted(r["groups"].items())),
                _fmt(r["f"], ".2f"),
                _pvalue(r["p"]),
                _fmt(r["paper"][0] if r["paper"] else None, ".2f"),
                _pvalue(r["paper"][1] if r["paper"] else None),
            ]
            for r in rows
        ],
    )
    if all(r["f"] is None for r in rows):
        lines += ["", "Not computable here: it needs two or more GPU counts with two or more models each."]
    return lines + [""]


def _table2_lines(name: str, side: Side, batch: int) -> list[str]:
    """Table II as the paper made it (batch `batch`), the paper's own ratios beside, and their ratio."""
    rows, paper = engine_table(side, batch), paper_table2()
    lines = [
        f"## Table II ({name}, {side.label}): HF at its best GPU count vs vLLM, batch {batch} as the paper",
        "",
    ]
    if not rows:
        return lines + ["No model was measured with both engines at this batch size on this kind.", ""]

    def ratio_of(r: dict[str, Any], mine: str, theirs: str) -> list[str]:
        printed = paper.get(r["model"], {}).get(theirs)
        return [
            _fmt(printed, ".1f") + "x" if printed else "-",
            _fmt(r[mine] / printed, ".2f") if printed and r[mine] else "-",
        ]

    lines += _table(
        [
            "model",
            "HF best GPUs",
            "HF tok/s",
            "vLLM same GPUs",
            "vLLM / HF",
            "paper",
            "today / paper",
            "vLLM best GPUs",
            "vLLM best / HF",
            "paper",
            "today / paper",
        ],
        [
            [
                r["model"],
                str(r["hf_gpus"]),
                _fmt(r["hf"]),
                _fmt(r["vllm_same"]),
                _fmt(r["ratio_same"], ".2f"),
                *ratio_of(r, "ratio_same", "impr_same"),
                str(r["vllm_gpus"]),
                _fmt(r["ratio_best"], ".2f"),
                *ratio_of(r, "ratio_best", "impr_best"),
            ]
            for r in rows
        ],
    )
    computed, text = paper_improvements(), PAPER_TEXT_IMPROVEMENT
    lines += [
        "",
        "The paper's Table II (A100, 20 models) gives vLLM over HF a mean (median) of "
        f"{computed['same']['mean']:.2f}x ({computed['same']['median']:.2f}x) at HF's GPU count and "
        f"{computed['best']['mean']:.2f}x ({computed['best']['median']:.2f}x) at vLLM's best, from its "
        f"throughput columns; its text prints {text['same'][0]}x ({text['same'][1]}x) and "
        f"{text['best'][0]}x ({text['best'][1]}x): the table supports the first pair with mean and median "
        "the other way round.",
        "",
    ]
    return lines


def _provenance_lines(name: str, side: Side) -> list[str]:
    """Where one side's records come from, one row per host."""
    lines: list[str] = []
    lines += [
        f"## Where {name}'s records come from ({side.label}), one row per host",
        "",
        f"Prompts per pass: {usual_prompts(side)}, unless a batch size says otherwise.",
        "",
    ]
    header = [
        "host (boot id or name)",
        "dates",
        "commits",
        "engine versions",
        "torch",
        "driver",
        "measured",
    ]
    lines += _table(header, provenance_rows(side)) + [""]
    if len(side.hosts) > 1:
        lines += [
            "Several hosts: a table below can mix their differences (launch-bound configurations move "
            "by up to a quarter between hosts of one GPU kind, docs/RESULTS.md).",
            "",
        ]
    return lines


def _best_gpu_lines(name: str, side: Side, batch: int) -> list[str]:
    """RQ2: the best GPU count at one batch size, per model (ANOVA, Tukey HSD)."""
    lines: list[str] = []
    rows = best_gpu_count(side, batch)
    counts = sorted({g for r in rows for g in r["values"]})
    lines += [f"## RQ2 ({name}, {side.label}): best GPU count at batch {batch}", ""]
    lines += _table(
        [
            "engine",
            "model",
            *(f"{g} GPU" for g in counts),
            "best",
            "ANOVA F",
            "ANOVA p",
            "Tukey p (best vs runner-up)",
        ],
        [
            [
                r["engine"],
                r["model"],
                *_values(r["values"], counts),
                _level(r["best_gpus"]),
                _fmt(r["anova_f"], ".2f"),
                _pvalue(r["anova_p"]),
                _pvalue(r["tukey_p"]),
            ]
            for r in rows
        ],
    ) + [""]
    if side.gpus_used:
        lines += [
            'Weights on fewer GPUs than named (`gpus_used`; `device_map="auto"` left the others empty): '
            + "; ".join(
                f"{e} {m} {g} GPU bs {b}: {'/'.join(map(str, sorted(used)))}"
                for (e, m, g, b), used in sorted(side.gpus_used.items())
            )
            + ".",
            "",
        ]
    return lines


def _batch_lines(name: str, side: Side, gpus: int) -> list[str]:
    """RQ3: throughput against batch size at one GPU count."""
    lines: list[str] = []
    rows = throughput_by_batch(side, gpus)
    batches = sorted({x for r in rows for x in r["values"]})
    lines += [f"## RQ3 ({name}, {side.label}): throughput vs batch size, {gpus} GPU(s)", ""]
    lines += _table(
        ["engine", "model", *(f"bs {x}" for x in batches), "best batch", "gain over smallest", "ANOVA p"],
        [
            [
                r["engine"],
                r["model"],
                *_values(r["values"], batches),
                _level(r["best_batch"]),
                _fmt(r["gain_over_smallest"], "+.1%"),
                _pvalue(r["anova_p"]),
            ]
            for r in rows
        ],
    ) + [""]
    return lines


def _best_batch_engine_lines(name: str, side: Side) -> list[str]:
    """Table II with each engine at its best batch size (the batch-1 one is `_table2_lines`)."""
    lines: list[str] = []
    rows = engine_table(side, batch=None)
    lines += [f"## Table II ({name}, {side.label}), each engine at its best batch size", ""]
    if rows:
        lines += _table(
            [
                "model",
                "HF best GPUs",
                "HF tok/s",
                "vLLM same GPUs",
                "vLLM / HF",
                "vLLM best GPUs",
                "vLLM best tok/s",
                "vLLM best / HF",
            ],
            [
                [
                    r["model"],
                    str(r["hf_gpus"]),
                    _fmt(r["hf"]),
                    _fmt(r["vllm_same"]),
                    _fmt(r["ratio_same"], ".2f"),
                    str(r["vllm_gpus"]),
                    _fmt(r["vllm_best"]),
                    _fmt(r["ratio_best"], ".2f"),
                ]
                for r in rows
            ],
        )
    else:
        lines.append("No model was measured with both engines on this kind.")
    lines.append("")
    return lines


def _generation_lines(a: Side, b: Side) -> list[str]:
    """RQ4: B's gain over A on the configurations both measured over the same prompts."""
    lines: list[str] = []
    rows = generation_gains(a, b)
    lines += [f"## RQ4: {b.label} (B) over {a.label} (A), configurations measured on both", ""]
    for engine in sorted(a.measurement.keys() & b.measurement.keys()):
        va, vb = ({v or 1 for v in side.measurement[engine]} for side in (a, b))
        if va != vb:
            lines += [
                f"Caveat: A's {engine} records are of the suite's measurement version {min(va)}, B's of "
                f"{min(vb)}, so its gains include the suite's own change: {what_changed(engine, va | vb)}.",
                "",
            ]
    if rows:
        lines += _table(
            ["engine", "pairs", "B faster", "mean gain", "median gain", "Wilcoxon p", "Cliff's delta"],
            [
                [
                    r["engine"],
                    str(r["pairs"]),
                    str(r["b_faster"]),
                    f"{r['mean_gain']:+.1%}",
                    f"{r['median_gain']:+.1%}",
                    _pvalue(r["wilcoxon_p"]),
                    f"{r['cliffs_delta']:+.2f} ({cliffs_magnitude(r['cliffs_delta'])})",
                ]
                for r in rows
            ],
        )
    else:
        lines.append("No configuration (engine, model, GPUs, batch) was measured on both kinds.")
    unpaired = over_other_prompts(a, b)
    if unpaired:
        lines += [
            "",
            "Not paired, measured over different prompts per pass on the two kinds: "
            + "; ".join(
                f"{e} {m} {g} GPU bs {bs} ({_prompt_counts(a, (e, m, g, bs))} vs {_prompt_counts(b, (e, m, g, bs))})"
                for e, m, g, bs in unpaired
            )
            + ".",
        ]
    lines.append("")
    return lines


def _replayed_retuning_lines(a: Side, b: Side, seeds: int) -> list[str]:
    """RQ5 replayed: re-tuning on the grids both kinds measured."""
    lines: list[str] = []
    rows = retuning_gains_replayed(a, b, seeds)
    lines += [
        "## RQ5, replayed: re-tuning on the recorded grids",
        "",
        "InfPop (hyperopt TPE, its start points) over each (GPUs, batch) grid measured on both kinds, its "
        "objective replaying the recorded medians: tuned on the old kind from scratch, then re-tuned on the "
        "new one starting from that setting, as `--infpop-tune` does; gain = the new kind's throughput at the "
        're-tuned setting over its throughput at the old setting. "exhaustive" is the same with every '
        "point known: how far the optimum moved.",
        "",
    ]
    if rows:
        lines += _table(
            [
                "engine",
                "model",
                "direction",
                "grid points",
                "budget",
                "seeds",
                "median gain",
                "mean gain",
                "range",
                "exhaustive",
            ],
            [
                [
                    r["engine"],
                    r["model"],
                    f"{r['direction']} ({r['from']} -> {r['to']})",
                    str(r["points"]),
                    str(r["budget"]),
                    _seeds(r),
                    f"{r['median_gain']:+.1%}",
                    f"{r['mean_gain']:+.1%}",
                    f"{r['min_gain']:+.1%} .. {r['max_gain']:+.1%}",
                    f"{r['exhaustive_gain']:+.1%}",
                ]
                for r in rows
            ],
        )
    else:
        lines.append(
            "No engine and model has 4 or more (GPUs, batch) configurations measured on both kinds where "
            "the tuner, in some seed, met a measured one."
        )
    return lines


def render(
    a: Side, b: Side | None = None, batch: int = 1, gpus: int = 1, seeds: int = 10, command: str | None = None
) -> str:
    """All the tables as Markdown, side A then side B where a table is per kind; with one kind (no B), its
    per-kind tables only (RQ2, RQ3, Table II): RQ4 and RQ5 compare two kinds. `command`, the line that made
    them, is said under the title."""
    sides = [("A", a)] + ([("B", b)] if b is not None else [])
    lines = [f"# Study tables: {a.label} (A)" + (f" vs {b.label} (B)" if b is not None else ""), ""]
    lines += [f"Made by `{command}` (paths as seen from where it ran).", ""] if command else []
    lines += [
        " ".join(f"{name}: {side.label} ({'; '.join(sorted(side.versions))})." for name, side in sides)
        + " Output tokens per second (medians); tests over the repeats (ANOVA, Tukey HSD)"
        + (" and over the configurations (paired Wilcoxon, Cliff's delta)" if b is not None else "")
        + ", scipy.",
        "",
    ]
    for name, side in sides:
        lines += _provenance_lines(name, side)
    for name, side in sides:
        lines += _best_gpu_lines(name, side, batch) + _batch_lines(name, side, gpus)
        lines += _pooled_anova_lines(name, side, batch) + _table2_lines(name, side, batch)
        lines += _best_batch_engine_lines(name, side)
    if b is None:  # a re-tune here from another kind's settings measured both here: its RQ5 needs no B
        return "\n".join(lines + _retuning_lines(retuning_gains((a,)), absent=None)) + "\n"
    lines += _generation_lines(a, b)
    lines += _retuning_lines(
        retuning_gains((a, b)),
        absent="No InfPop summary with `gain_over_previous` among the "
        "sources (run `--infpop-tune` on one kind, then on the other with the first one's baselines "
        "present).",
    )
    lines += _replayed_retuning_lines(a, b, seeds)
    return "\n".join(lines) + "\n"

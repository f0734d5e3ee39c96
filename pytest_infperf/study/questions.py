"""The study's questions answered from the sides: RQ2 (best GPU count, per model and pooled), RQ3 (batch size),
RQ4 (a newer GPU's gain), RQ5 (re-tuning, live and replayed) and the engine table."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..stats import anova_tukey, cliffs_delta, wilcoxon_p
from .paper import PAPER_RQ2_POOLED
from .sides import METRIC, Side


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

    from ..tuning.landscape import Landscape
    from ..tuning.search import tune
    from ..tuning.space import start_points_for

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

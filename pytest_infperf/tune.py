"""InfPop: hyperopt TPE over GPU count, batch size and engine knobs, maximising throughput on the hardware at
hand.

Every evaluation is a real trial through the same TrialPool and engines as the perf tests. Results are cached
in the landscape file (so repeated points and re-runs cost nothing), failures and OOMs are STATUS_FAIL with
their reason, and the best point is stored per hardware fingerprint next to the baselines:

    baselines/<fingerprint>/_infpop/<engine>-<model>-<workload>.landscape.jsonl   every evaluated point
    baselines/<fingerprint>/_infpop/<engine>-<model>-<workload>.tuned.json        the optimum and its context
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import tomllib

from .cases import Case
from .record_files import append_records, read_records
from .workloads import prompt_count

DEFAULT_SPACE: dict[str, dict[str, list[Any]]] = {
    "vllm": {
        "batch_size": [2**i for i in range(11)],
        "max_num_seqs": [32, 64, 128, 256, 512],
        "max_num_batched_tokens": [2048, 4096, 8192, 16384],
        "gpu_memory_utilization": [0.8, 0.85, 0.9, 0.95],
    },
    "hf": {"batch_size": [2**i for i in range(11)], "dtype": ["bfloat16", "float16"]},
}
CPU_SPACE = {
    "vllm": {"batch_size": [2**i for i in range(8)], "max_num_seqs": [16, 64, 256]},
    "hf": {"batch_size": [2**i for i in range(11)], "dtype": ["float32", "bfloat16"]},
}
# `vllm serve`'s scheduler knobs, tuned for goodput (requests/s within the case's SLOs) at the case's load;
# the GPU count and the load are the serving case's own (--infpop-serve).
SERVE_ENGINE = "vllmserve"
DEFAULT_SPACE[SERVE_ENGINE] = {
    "max_num_seqs": [16, 32, 64, 128, 256, 512],
    "max_num_batched_tokens": [1024, 2048, 4096, 8192, 16384],
}
CPU_SPACE[SERVE_ENGINE] = {"max_num_seqs": [1, 4, 16, 64], "max_num_batched_tokens": [256, 2048]}
SERVE_KNOBS = ("max_num_seqs", "max_num_batched_tokens")
LOAD_KNOBS = ("max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager", "dtype")


def load_space(path: Path | None, engine: str, gpu_choices: list[int], on_cpu: bool) -> dict[str, list[Any]]:
    """The declared space for `engine` (file, else built in) plus the GPU counts this hardware has."""
    spaces = CPU_SPACE if on_cpu else DEFAULT_SPACE
    if path is not None:
        try:
            spaces = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"infpop space {path}: {err}") from None
    if engine not in spaces:
        raise ValueError(f"infpop space has no [{engine}] table")
    space = {k: list(v) for k, v in spaces[engine].items()}
    allowed = set(SERVE_KNOBS) if engine == SERVE_ENGINE else {"batch_size", "gpus", *LOAD_KNOBS}
    unknown = set(space) - allowed
    if unknown:
        raise ValueError(f"infpop space [{engine}]: unknown knob(s) {', '.join(sorted(unknown))}")
    if engine == SERVE_ENGINE:
        return space  # the serving case fixes its GPU count
    space.setdefault("gpus", gpu_choices)
    space["gpus"] = [g for g in space["gpus"] if g in gpu_choices] or gpu_choices
    return space


def point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


@dataclass
class Landscape:
    """Evaluated points of one (engine, model, workload) on one fingerprint, persisted as records."""

    path: Path
    points: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> "Landscape":
        landscape = cls(path)
        if path.exists():
            for record in read_records(path):
                landscape.points[point_key(record["infpop_point"])] = record
        return landscape

    def measure(
        self, point: dict[str, Any], evaluate: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """(record, cached): the stored record of `point`, else `evaluate(point)`, appended to the file."""
        key = point_key(point)
        if key in self.points:
            return self.points[key], True
        record = evaluate(point) | {"infpop_point": point}
        self.points[key] = record
        append_records(self.path, [record])
        return record, False


@dataclass
class TuneResult:
    best_point: dict[str, Any] | None
    best_throughput: float | None
    evaluations: int
    cached: int
    failed: int
    history: list[tuple[dict[str, Any], float | None, str]]


def tune(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
    space: dict[str, list[Any]],
    landscape: Landscape,
    max_evals: int,
    seed: int,
    time_budget: float | None = None,
    max_ttft_p99_s: float | None = None,
    progress: Callable[[str], None] = print,
    algo: str = "tpe",
    startup_divisor: int = 3,
    start_points: list[dict[str, Any]] | None = None,
    maximise: str = "throughput_tok_s",
    unit: str = "tok/s",
) -> TuneResult:
    """TPE (or `algo="rand"`, random search, for comparison) over the categorical space (log-scale where it
    matters); `evaluate(point)` returns a record, whose `maximise` field is maximised (`unit` names it in the
    progress lines). `start_points` are evaluated first (snapped onto the space), so TPE's model starts from
    them: see `start_points_for`."""
    import numpy as np
    from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, rand, tpe
    from hyperopt.exceptions import AllTrialsFailed
    from hyperopt.fmin import generate_trials_to_calculate

    names, ordinal, values = _encoding(space)
    hp_space = {
        n: hp.quniform(n, 0, len(values[n]) - 1, 1) if n in ordinal else hp.choice(n, values[n])
        for n in names
    }
    history: list[tuple[dict[str, Any], float | None, str]] = []
    counters = {"cached": 0, "failed": 0}
    best: list[Any] = [None, None]
    start = time.monotonic()

    def objective(raw: dict[str, Any]) -> dict[str, Any]:
        point = {
            n: values[n][int(v)] if n in ordinal else (v.item() if hasattr(v, "item") else v)
            for n, v in raw.items()
        }
        record, cached = landscape.measure(point, evaluate)
        counters["cached"] += cached
        throughput = objective_value(record, maximise)
        reason = record.get("reason") or (
            "" if throughput is not None or record["status"] != "ok" else f"the record has no {maximise}"
        )
        ttft = record.get("ttft_p99_s") or record.get("ttft_p90_s") or record.get("ttft_mean_s")
        if (
            throughput is not None
            and max_ttft_p99_s is not None
            and ttft is not None
            and ttft > max_ttft_p99_s
        ):
            throughput, reason = None, f"TTFT p99 {ttft * 1e3:.0f} ms > limit {max_ttft_p99_s * 1e3:.0f} ms"
        history.append((point, throughput, reason))
        n = len(history)
        if throughput is None:
            counters["failed"] += 1
            progress(
                f"infpop {n}/{max_evals}: {point} -> {record['status']}: {reason.splitlines()[0] if reason else ''}"
            )
            return {"status": STATUS_FAIL, "reason": reason}
        if best[1] is None or throughput > best[1]:
            best[:] = [point, throughput]
        progress(f"infpop {n}/{max_evals}: {point} -> {throughput:,.2f} {unit} (best {best[1]:,.2f})")
        return {"status": STATUS_OK, "loss": -throughput}

    seeds = [_as_hyperopt(p, values, ordinal) for p in (start_points or [])]
    seeds = [p for i, p in enumerate(seeds) if p is not None and p not in seeds[:i]][:max_evals]
    # fmin ignores points_to_evaluate when given trials; pre-filled trials are hyperopt's way to start from
    # points.
    trials = generate_trials_to_calculate(seeds) if seeds else Trials()
    # hyperopt's default of 20 random start-up trials would make TPE random search at small budgets.
    startup = max(2, min(20, max_evals // startup_divisor))
    suggest = partial(tpe.suggest, n_startup_jobs=startup) if algo == "tpe" else rand.suggest
    try:
        fmin(
            objective,
            hp_space,
            algo=suggest,
            max_evals=max_evals,
            trials=trials,
            rstate=np.random.default_rng(seed),
            show_progressbar=False,
            timeout=None
            if time_budget is None
            else max(1, math.ceil(time_budget - (time.monotonic() - start))),
        )
    except AllTrialsFailed:
        pass  # every point failed: the caller reports it; the landscape keeps each reason
    return TuneResult(best[0], best[1], len(history), counters["cached"], counters["failed"], history)


def objective_value(record: dict[str, Any], maximise: str) -> float | None:
    """What a landscape record scores for the tuner: its `maximise` field, None for a failed point."""
    return record.get(maximise) if record["status"] == "ok" else None


def grid_points(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every point of the space, batch size varying fastest: points that share their load knobs (one engine
    load) come together, so measuring the grid costs one load per combination of them, and batch sizes run
    smallest first, so the pool skips those above one that ran out of memory."""
    import itertools

    names = sorted(space, key=lambda n: (n == "batch_size", n))
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]


def measure_grid(
    evaluate: Callable[[dict[str, Any]], dict[str, Any]],
    space: dict[str, list[Any]],
    landscape: Landscape,
    progress: Callable[[str], None] = print,
    maximise: str = "throughput_tok_s",
    unit: str = "tok/s",
) -> int:
    """`--infpop-grid`: measure every point of the space not yet in the landscape, so that TPE (and every
    further seed) then tunes on measured points alone and its result can be read against the grid's best.
    Returns how many points were measured now."""
    points = grid_points(space)
    measured = 0
    for n, point in enumerate(points, 1):
        record, cached = landscape.measure(point, evaluate)
        measured += not cached
        value = objective_value(record, maximise)
        reason = (record.get("reason") or "").splitlines()
        shown = (
            f"{value:,.2f} {unit}"
            if value is not None
            else f"{record['status']}: {reason[0] if reason else ''}"
        )
        progress(
            f"infpop grid {n}/{len(points)}: {dict(sorted(point.items()))} -> {shown}"
            + (" (cached)" if cached else "")
        )
    return measured


def grid_best(
    space: dict[str, list[Any]], landscape: Landscape, maximise: str = "throughput_tok_s"
) -> tuple[dict[str, Any], float] | None:
    """(point, value) of the best measured point when the landscape holds every point of the space (an
    exhaustive search's answer), else None."""
    best: tuple[dict[str, Any], float] | None = None
    for point in grid_points(space):
        record = landscape.points.get(point_key(point))
        if record is None:
            return None
        value = objective_value(record, maximise)
        if value is not None and (best is None or value > best[1]):
            best = (point, value)
    return best


def start_points_for(space: dict[str, list[Any]], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where InfPop starts: the settings tuned on the previous hardware (the study's transfer: re-tuning
    starts from them, and the gain over them is measured anyway), then the largest configuration of the space
    (the most GPUs, the largest batch and knob values, the first listed choice), since throughput rises with
    batch size and, for larger models, with GPUs until memory runs out; an OOM there is an ordinary failed
    point."""
    largest = {
        name: max(vals) if all(isinstance(v, (int, float)) for v in vals) else vals[0]
        for name, vals in space.items()
    }
    return [p for p in (previous, largest) if p]


def _encoding(space: dict[str, list[Any]]) -> tuple[list[str], set[str], dict[str, list[Any]]]:
    """(knob names, the ordered ones, each knob's values). Ordered numeric knobs (batch size, max_num_seqs,
    ...) are searched by their index in the sorted value list, so TPE can exploit that neighbours perform
    alike (log scale for the power-of-two lists); others are choices."""
    names = sorted(space)
    ordinal = {n for n in names if len(space[n]) > 1 and all(isinstance(v, (int, float)) for v in space[n])}
    return names, ordinal, {n: sorted(space[n]) if n in ordinal else list(space[n]) for n in names}


def snap_to_space(point: dict[str, Any], space: dict[str, list[Any]]) -> dict[str, Any] | None:
    """`point` as this space can run it: each ordered knob at its nearest value (log scale), as InfPop starts
    from it; None when it has a choice the space lacks or misses a knob. Settings tuned elsewhere (batch 512
    where this space stops at the prompts, say) are measured here as snapped, so the gain over them compares
    points of one workload."""
    names, ordinal, values = _encoding(space)
    encoded = _as_hyperopt(point, values, ordinal)
    return None if encoded is None else {n: values[n][encoded[n]] for n in names}


def within_prompts(space: dict[str, list[Any]], prompts: int) -> tuple[dict[str, list[Any]], list[int]]:
    """(the space without batch sizes above the `prompts` of an evaluation, the batch sizes dropped). Such a
    batch is one batch of all the prompts under a larger name; raising the prompts to fill it instead changes
    the workload with the point: HumanEval's later prefixes are longer, so the larger batch would also be a
    longer workload and look slower for it (docs/RESULTS.md has the measured case)."""
    batches = space.get("batch_size")
    if not batches:
        return space, []
    kept = [b for b in batches if b <= prompts]
    return {**space, "batch_size": kept}, sorted(b for b in batches if b > prompts)


def _as_hyperopt(
    point: dict[str, Any], values: dict[str, list[Any]], ordinal: set[str]
) -> dict[str, int] | None:
    """A point as hyperopt's `points_to_evaluate` wants it (value indices), snapped to the nearest value of
    each ordered knob (log scale); None when it has a choice the space lacks or misses a dimension."""
    encoded: dict[str, int] = {}
    for name, vals in values.items():
        if name not in point:
            return None
        value = point[name]
        if name in ordinal and isinstance(value, (int, float)) and value > 0:
            encoded[name] = min(range(len(vals)), key=lambda i: abs(math.log(vals[i] / value)))
        elif value in vals:
            encoded[name] = vals.index(value)
        else:
            return None
    return encoded


def case_for(
    point: dict[str, Any], engine: str, model: str, workload: Any, hardware: str, num_prompts: int | None
) -> Case:
    """The trial of one point. The tuner's space holds no batch above its evaluation's prompts
    (`within_prompts`); a tuned setting run with fewer prompts than it was tuned over runs over as many
    prompts as its batch, rather than as one batch of all the prompts under a larger name."""
    knobs = tuple(sorted((k, v) for k, v in point.items() if k in LOAD_KNOBS))
    batch = point["batch_size"]
    if batch > prompt_count(workload, num_prompts):
        num_prompts = batch
    return Case(hardware, engine, model, point.get("gpus", 0), batch, workload, num_prompts, knobs)

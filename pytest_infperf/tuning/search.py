"""InfPop's search: hyperopt TPE over the space, from the start points, each evaluation a real trial (or a
landscape point already measured); failures and OOMs are STATUS_FAIL with their reason."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from .landscape import Landscape, objective_value
from .space import as_hyperopt, encoding


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

    names, ordinal, values = encoding(space)
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

    seeds = [as_hyperopt(p, values, ordinal) for p in (start_points or [])]
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

"""InfPop vs random search on recorded landscapes (exhaustive grids measured with this suite, checked in under
tests/data/landscapes): over 10 seeds, the fraction of the grid's best throughput each reaches with a budget
of 25% of the grid's points, and how many distinct evaluations it needed to first reach 97% of it.

The objective replays the recorded measurement of each point (a test double of the engines); the optimiser,
its space handling and caching are the product code (pytest_infperf.tuning.search.tune).

    python benchmarks/infpop_replay.py [--budget-fraction 0.25] [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

from pytest_infperf.record_files import read_records
from pytest_infperf.tuning.landscape import Landscape, point_key
from pytest_infperf.tuning.search import tune
from pytest_infperf.tuning.space import CPU_SPACE, DEFAULT_SPACE, start_points_for

LANDSCAPES = Path(__file__).resolve().parents[1] / "tests" / "data" / "landscapes"
KNOB_OF = {
    "max_num_seqs": lambda r: (r.get("engine_args") or {}).get("max_num_seqs"),
    "dtype": lambda r: r["dtype"],
}


def grid_of(path: Path) -> tuple[dict[str, list], dict[str, dict]]:
    records = read_records(path)
    knob = "max_num_seqs" if records[0]["engine"] == "vllm" else "dtype"
    points = {}
    for r in records:
        point = {"batch_size": r["batch_size"], "gpus": r["gpus"], knob: KNOB_OF[knob](r)}
        points[point_key(point)] = r
    decoded = [json.loads(key) for key in points]
    space = {name: sorted({point[name] for point in decoded}) for name in ("batch_size", "gpus", knob)}
    # Choices keep the order the product's space declares (it decides InfPop's start point): float32 first on
    # CPU.
    declared = (CPU_SPACE if records[0]["gpus"] == 0 else DEFAULT_SPACE)[records[0]["engine"]].get(knob, [])
    space[knob].sort(key=lambda v: declared.index(v) if v in declared else len(declared))
    return space, points


def run(
    space: dict, points: dict, budget: int, seed: int, algo: str, best: float, start: bool
) -> tuple[float, int | None, int]:
    calls = []

    def evaluate(point: dict) -> dict:
        calls.append(point)
        return points[point_key(point)]

    with tempfile.TemporaryDirectory() as tmp:
        result = tune(
            evaluate,
            space,
            Landscape.open(Path(tmp) / "l.jsonl"),
            budget,
            seed,
            progress=lambda _: None,
            algo=algo,
            start_points=start_points_for(space, None) if start else None,
        )
    reached, running = None, 0.0
    for i, point in enumerate(calls, 1):
        record = points[point_key(point)]
        running = max(running, record.get("throughput_tok_s") or 0.0)
        if reached is None and running >= 0.97 * best:
            reached = i
    return (result.best_throughput or 0.0) / best, reached, len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-fraction", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    for path in sorted(LANDSCAPES.glob("*.jsonl")):
        space, points = grid_of(path)
        best = max(r.get("throughput_tok_s") or 0.0 for r in points.values())
        budget = max(1, math.floor(args.budget_fraction * len(points)))
        records = list(points.values())
        print(
            f"\n{path.name}: {len(points)} grid points on {records[0]['gpu_name'] or records[0]['cpu_model']}, "
            f"{records[0]['engine']} {records[0]['engine_version']}; grid best {best:,.1f} tok/s; "
            f"budget {budget} proposals ({args.budget_fraction:.0%})"
        )
        for algo, start, label in (
            ("tpe", True, "InfPop"),
            ("tpe", False, "TPE alone"),
            ("rand", False, "random"),
        ):
            runs = [run(space, points, budget, seed, algo, best, start) for seed in range(args.seeds)]
            fractions = [r[0] for r in runs]
            reached = [r[1] for r in runs if r[1] is not None]
            print(
                f"  {label:10s} median {statistics.median(fractions):.1%} of grid best (min {min(fractions):.1%}); "
                f"reached 97% in {len(reached)}/{args.seeds} seeds, "
                f"median {statistics.median(reached) if reached else '-'} "
                f"distinct evaluations; distinct evaluations used: median {statistics.median(r[2] for r in runs)}"
            )


if __name__ == "__main__":
    main()

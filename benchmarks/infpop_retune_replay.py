"""RQ5 replayed on two recorded landscapes: what re-tuning gains after the hardware changes from OLD to NEW.

The setting kept from the old hardware is OLD's best point (what an exhaustive tune there picks, or the
`best_point` of a tuned.json given with --previous); InfPop then re-tunes on NEW starting from it, as
`--infpop-tune` does on new hardware, over seeds, and the gain is NEW's value at the re-tuned point over NEW's
value at the kept one. Both grids are held to the evaluation's prompts, as InfPop holds its space
(`tune.within_prompts`): points with a batch above the prompts were one batch of all of them under another
name, or ran over other (longer) prompts, and are left out. The objective replays the recorded medians; the
optimiser, its start points and the snapping of the old setting are the product's.

python benchmarks/infpop_retune_replay.py NEW.jsonl --prompts 256 (--old OLD.jsonl | --previous TUNED.json)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from infpop_replay import grid_of as replay_grid  # beside this file

from pytest_infperf.tuning.landscape import Landscape, point_key
from pytest_infperf.tuning.search import tune
from pytest_infperf.tuning.space import snap_to_space, start_points_for, within_prompts


def grid_of(path: Path, prompts: int) -> tuple[dict[str, list[Any]], dict[str, float]]:
    """(space, point key -> tok/s) of a landscape as the replay benchmark reads it (`infpop_replay.grid_of`),
    held to `prompts`: only points measured over them, with no batch above them."""
    space, points = replay_grid(path)
    values = {
        key: r["throughput_tok_s"]
        for key, r in points.items()
        if r["status"] == "ok" and r.get("num_prompts") == prompts and r["batch_size"] <= prompts
    }
    return within_prompts(space, prompts)[0], values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", type=Path, help="the landscape of the hardware re-tuned on")
    parser.add_argument(
        "--prompts", type=int, required=True, help="prompts per evaluation of both landscapes"
    )
    kept_from = parser.add_mutually_exclusive_group(required=True)
    kept_from.add_argument("--old", type=Path, help="the old hardware's landscape: its best point is kept")
    kept_from.add_argument("--previous", type=Path, help="a tuned.json whose best_point is the kept setting")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-evals", type=int, default=8)
    args = parser.parse_args()
    space, new = grid_of(args.new, args.prompts)
    if args.previous:
        kept = snap_to_space(json.loads(args.previous.read_text())["best_point"], space)
        origin = f"{args.previous}, snapped onto the space"
    else:
        old = grid_of(args.old, args.prompts)[1]
        kept = json.loads(max((k for k in new if k in old), key=old.__getitem__))
        origin = f"the best of {args.old} ({len(old)} points) among the points both measured"
    assert kept is not None and point_key(kept) in new, f"the kept setting {kept} was not measured on NEW"
    print(
        f"NEW {args.new}: {len(new)} points over {args.prompts} prompts each; space {space}\n"
        f"kept from the old hardware: {origin}"
    )
    print(
        f"kept setting {kept}: {new[point_key(kept)]:,.1f} tok/s on NEW; NEW's best "
        f"{max(new.values()):,.1f} (exhaustive gain {max(new.values()) / new[point_key(kept)] - 1:+.1%})"
    )
    gains = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            result = tune(
                lambda p: (
                    {"status": "ok", "throughput_tok_s": new[point_key(p)]}
                    if point_key(p) in new
                    else {"status": "error", "reason": "not measured"}
                ),
                space,
                Landscape.open(Path(tmp) / "l.jsonl"),
                args.max_evals,
                seed,
                progress=lambda _: None,
                start_points=start_points_for(space, kept),
            )
        gains.append(result.best_throughput / new[point_key(kept)] - 1)
        print(
            f"  seed {seed}: {result.best_point} {result.best_throughput:,.1f} tok/s, gain {gains[-1]:+.1%}"
        )
    print(
        f"re-tuning gain over {args.seeds} seeds: median {statistics.median(gains):+.1%}, "
        f"mean {statistics.fmean(gains):+.1%}"
    )


if __name__ == "__main__":
    main()

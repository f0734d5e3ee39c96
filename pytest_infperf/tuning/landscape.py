"""InfPop's landscape: every evaluated point cached in a JSONL file beside the baselines (repeated points and
re-runs cost nothing), the objective of a record, and the whole grid measured first (`--infpop-grid`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..record_files import append_records, read_records
from .space import grid_points


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


def objective_value(record: dict[str, Any], maximise: str) -> float | None:
    """What a landscape record scores for the tuner: its `maximise` field, None for a failed point."""
    return record.get(maximise) if record["status"] == "ok" else None


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

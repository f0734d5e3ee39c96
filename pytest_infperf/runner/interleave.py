"""Interleaved A/B on one host: the same trial under two environments, round by round.

Stored baselines compare sessions on different hosts and days, and on GPU VMs a launch-bound configuration
moves between sessions of unchanged code by more than the changes worth catching (docs/RESULTS.md has the
spread), so no stored baseline can tell them. What an engine upgrade needs is the answer asv's `continuous`
and pyperf give: measure the old and the new environment on the same host, in alternating rounds, so what
drifts (CPU clocks, scheduling, the VM's neighbours) touches both arms alike and cancels in each round's
ratio.

Each arm is an ordinary TrialPool: the candidate runs this interpreter, the reference the interpreter of
--infperf-ab-reference (refenv: one given, or one built from a spec; its own engine, torch and CUDA libraries;
this package comes in through PYTHONPATH, and a built one sees the rest of this environment through its own
.pth file instead of this process's PYTHONPATH, which would shadow what the spec installed). Both
workers stay loaded, so vLLM arms split --infperf-gpu-memory-utilization between them. Round r runs one repeat
of each arm, reference first in even rounds and candidate first in odd ones (ABBA), so a linear drift within a
round adds the same to both arms over each pair of rounds. The first round of each arm warms up first.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..cases import Case
from ..hardware.gpu import Gpu
from ..refenv import ReferenceEnv
from ..settings import Settings
from .measure import TEST_ONLY_SLOWDOWN
from .pool import Outcome, TrialPool

# Per-round figures that add up over the rounds; every other number is the median of the rounds' values.
SUMMED = (
    "generate_s",
    "measured_wall_s",
    "trial_wall_s",
    "warmup_s",
    "warmup_batches",
    "energy_j",
    "telemetry_samples",
)


def merge_rounds(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One measurement from the rounds of one arm (each a one-repeat measurement): per-repeat samples are
    concatenated, times and energy summed, every other figure is the median over the rounds (latency
    percentiles too: the median of the rounds' percentiles, not a percentile over all requests; `ab_rounds`
    says so)."""
    merged: dict[str, Any] = dict(results[0])
    for key, first in results[0].items():
        values = [r.get(key) for r in results]
        if key.endswith("_samples") and isinstance(first, list):
            merged[key] = None if any(v is None for v in values) else [x for v in values for x in v]
        elif isinstance(first, (int, float)) and not isinstance(first, bool) and None not in values:
            merged[key] = sum(values) if key in SUMMED else statistics.median(values)
    merged["throughput_tok_s"] = statistics.median(merged["throughput_tok_s_samples"])
    merged["ab_rounds"] = len(results)
    return merged


def _merged(outcomes: Sequence[Outcome]) -> Outcome:
    return Outcome("ok", result=merge_rounds([o.result for o in outcomes]), load=outcomes[0].load)


def _other(arm: str) -> str:
    return "reference" if arm == "candidate" else "candidate"


@dataclasses.dataclass(frozen=True)
class ABOutcome:
    """Both arms of one A/B trial: `candidate` is what the record describes, `reference` what it is judged
    against; a failed arm carries its own status and reason. `planned`: the rounds its first stage asked for
    in all (uncapped; None where no second stage was planned)."""

    candidate: Outcome
    reference: Outcome
    planned: int | None = None


class InterleavedPair:
    """The two arms' pools, and the interleaving of one trial's rounds."""

    def __init__(
        self, settings: Settings, reference: ReferenceEnv, gpus: tuple[Gpu, ...], log_dir: Path
    ) -> None:
        self.settings = settings
        shared = dataclasses.replace(
            settings,
            cpu_affinity=settings.pinning,
            vllm=dataclasses.replace(
                settings.vllm, gpu_memory_utilization=settings.vllm.gpu_memory_utilization / 2
            ),
        )
        self.candidate = TrialPool(shared, gpus, log_dir / "candidate", sys.executable)
        # The test-only slowdown belongs to the environment under test; the reference arm never inherits it.
        drop = (TEST_ONLY_SLOWDOWN, "PYTHONPATH") if reference.built else (TEST_ONLY_SLOWDOWN,)
        self.reference = TrialPool(shared, gpus, log_dir / "reference", str(reference.python), env_drop=drop)

    def run(
        self, case: Case, plan: Callable[[dict[str, Any], dict[str, Any]], int] | None = None
    ) -> ABOutcome:
        """`ab_rounds` rounds of one repeat per arm, then, when `plan` is given, as many more as
        `plan(candidate so far, reference so far)` (merged measurements) asks for, at most `ab_max_rounds`:
        the second stage of Stein's design (`stats.rounds_needed`). Stops at the first failure of either arm
        (its outcome is returned as the arm's; the other arm keeps the rounds it completed, or 'not run')."""
        done: dict[str, list[Outcome]] = {"candidate": [], "reference": []}
        pools = {"candidate": self.candidate, "reference": self.reference}
        for arm, pool in pools.items():  # both loaded before either measures: every round sees the same host
            failure = pool.ensure_loaded(case)
            if failure is not None:
                return ABOutcome(
                    **{arm: failure, _other(arm): Outcome("error", f"not run: the {arm} arm failed to load")}
                )
        first = target = self.settings.ab_rounds
        planned, r = None, 0
        while True:
            if r == first and plan is not None and self.settings.ab_max_rounds > first:
                planned = plan(
                    merge_rounds([o.result for o in done["candidate"]]),
                    merge_rounds([o.result for o in done["reference"]]),
                )
                target = max(first, min(planned, self.settings.ab_max_rounds))
            if r >= target:
                break
            for arm in ("reference", "candidate") if r % 2 == 0 else ("candidate", "reference"):
                outcome = pools[arm].run(case, repeats=1, warmup=None if r == 0 else 0)
                if outcome.status != "ok":
                    other = _other(arm)
                    rest = (
                        _merged(done[other])
                        if done[other]
                        else Outcome("error", f"not run: the {arm} arm failed first", load=outcome.load)
                    )
                    return ABOutcome(**{arm: outcome, other: rest})
                done[arm].append(outcome)
            r += 1
        return ABOutcome(_merged(done["candidate"]), _merged(done["reference"]), planned)

    def close(self, grace_s: float = 30.0) -> None:
        self.candidate.close(grace_s)
        self.reference.close(grace_s)

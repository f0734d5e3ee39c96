"""The A/B gate's false alarms and detection when rounds are autocorrelated (AR(1) log ratios), through its
code.

A simulated build has m items; each item's per-round log ratio log(candidate / reference) is an AR(1) series
with lag-1 autocorrelation phi and marginal sd `sd`, plus log(1 - drop). Each item runs the plugin's two-stage
design: the first --infperf-ab-rounds rounds go to `Gate.ab_rounds_needed` (Stein's rule with its power term,
at alpha / m), the trial runs that many (at most --infperf-ab-max-rounds), `Gate.judge_ab` judges them and
`Gate.finish` applies the Holm correction over the build. A false alarm is a build with any regression at drop
0.

python benchmarks/ab_autocorrelation.py [--builds 1000] [--items 50,200] [--phis 0,0.5,0.8] [--sds 0.05,0.10]

Prints one table row per (sd, phi): per-suite false-alarm rate at each m, the fraction of items a 10% drop
fails, and the mean rounds each costs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pytest_infperf.gate import Gate
from pytest_infperf.settings import Settings
from pytest_infperf.store import BaselineStore

METRIC = "throughput_tok_s"


def ar1(rng: np.random.Generator, items: int, rounds: int, phi: float, sd: float) -> np.ndarray:
    """items x rounds AR(1) series with marginal sd `sd` (stationary from the first round)."""
    noise = rng.standard_normal((items, rounds)) * sd * np.sqrt(1 - phi**2)
    x = np.empty_like(noise)
    x[:, 0] = rng.standard_normal(items) * sd
    for t in range(1, rounds):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def arm(samples: np.ndarray) -> dict:
    return {
        "status": "ok",
        "engine": "vllm",
        "engine_version": "sim",
        METRIC: float(np.median(samples)),
        f"{METRIC}_samples": samples.tolist(),
    }


def build(gate: Gate, logs: np.ndarray, drop: float) -> tuple[int, int, float]:
    """(regressions, items, mean rounds) of one simulated build through the gate."""
    s = gate.settings
    records, rounds = [], []
    for series in logs + np.log1p(-drop):
        reference = np.full(series.size, 1000.0)
        candidate = reference * np.exp(series)
        first = s.ab_rounds
        n = min(s.ab_max_rounds, gate.ab_rounds_needed(arm(candidate[:first]), arm(reference[:first])))
        record = arm(candidate[:n])
        record |= gate.judge_ab(record, arm(reference[:n])).as_record_fields()
        records.append(record)
        rounds.append(n)
    gate.finish(records)
    return sum(r["gate_verdict"] == "regression" for r in records), len(records), float(np.mean(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", type=int, default=1000)
    parser.add_argument("--items", default="50,200")
    parser.add_argument("--phis", default="0,0.5,0.8")
    parser.add_argument("--sds", default="0.05,0.10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-rounds", type=int, default=Settings.ab_max_rounds)
    args = parser.parse_args()
    settings = Settings(
        gate_metrics=(METRIC,), ab_reference=Path("reference-python"), ab_max_rounds=args.max_rounds
    )
    items = [int(m) for m in args.items.split(",")]
    rng = np.random.default_rng(args.seed)
    print(
        f"A/B gate, AR(1) rounds: alpha {settings.alpha} per suite (Holm), threshold {settings.threshold:.0%}, "
        f"rounds {settings.ab_rounds}-{settings.ab_max_rounds}, power {settings.ab_power}, {args.builds} builds"
    )
    print(
        "| round sd | phi | "
        + " | ".join(f"suite false alarm, {m} items" for m in items)
        + " | 10% caught | mean rounds (A/A, 10%) |"
    )
    print("|---|---|" + "---|" * len(items) + "---|---|")
    for sd in map(float, args.sds.split(",")):
        for phi in map(float, args.phis.split(",")):
            alarms, aa_rounds = [], []
            for m in items:
                gate = Gate(BaselineStore(Path("unused")), settings, None, planned=m)  # type: ignore[arg-type]
                hits = [
                    build(gate, ar1(rng, m, settings.ab_max_rounds, phi, sd), 0.0) for _ in range(args.builds)
                ]
                alarms.append(np.mean([h[0] > 0 for h in hits]))
                aa_rounds.append(np.mean([h[2] for h in hits]))
            m = items[0]
            gate = Gate(BaselineStore(Path("unused")), settings, None, planned=m)  # type: ignore[arg-type]
            caught = [
                build(gate, ar1(rng, m, settings.ab_max_rounds, phi, sd), 0.10)
                for _ in range(max(1, args.builds // 5))
            ]
            power = sum(c[0] for c in caught) / sum(c[1] for c in caught)
            print(
                f"| {sd:.2f} | {phi:g} | "
                + " | ".join(f"{a:.1%}" for a in alarms)
                + f" | {power:.1%} | {aa_rounds[0]:.0f}, {np.mean([c[2] for c in caught]):.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""The gate's false alarms and detection, per item and per suite, with between-session noise from stored sessions.

Noise source: the H200 sessions measured for the cross-host check (docs/results/gate-crosshost): two isolated
sessions on one lease and one on each of two other leases (the shipped baselines), 12 configurations, 5 repeats
each. Per configuration it keeps the between-session sd of the session medians (log scale) and the within-session
residuals of the repeats. A simulated build draws, for each of m items (the 12 configurations, cycled), k baseline sessions
and one new session: session offset ~ N(0, sd_b of that configuration), repeats resampled from its residuals; the
new session is multiplied by (1 - drop). Each build then goes through the product's own gate code (pooled priors
by launch-bound class, alpha / m per item, Holm at the end), so what is measured is what `pytest --infperf-compare`
decides.

    python benchmarks/gate_error_rates.py [--builds 200] [--sessions 2,3,5]

Reported: per-item false-alarm rate, per-suite false-alarm rate (P(any item fails) in an A/A build) at 50 and 200
items, and the fraction of items a 5% and a 10% drop fails, for all configurations, the GPU-bound ones and the
launch-bound ones.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pytest_infperf.gate import correct, is_launch_bound, item_alpha, judge_against, pooled_priors
from pytest_infperf.records import read_records
from pytest_infperf.settings import Settings
from pytest_infperf.store import Baseline

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "gate-crosshost"
SESSIONS = ("h200-lease2-S1.jsonl", "h200-lease2-S2.jsonl", "h200-lease3-B1-aa.jsonl", "h200-lease4-B2-aa.jsonl")


class Config:
    """One configuration's measured noise: between-session sd (log) and within-session residuals (log)."""

    def __init__(self, name: str, records: list[dict[str, Any]]) -> None:
        self.name = name
        logs = [np.log(r["throughput_tok_s_samples"]) for r in records]
        medians = np.array([np.median(x) for x in logs])
        self.sd_between = float(np.std(medians, ddof=1))
        self.residuals = np.concatenate([x - np.median(x) for x in logs])
        self.template = {k: records[0][k] for k in ("gpus", "gpu_util_mean_pct", "host_cpu_model",
                                                    "host_cpus_usable", "host_cpu_quota")}
        self.launch_bound = is_launch_bound(records)

    def session(self, rng: np.random.Generator, repeats: int, factor: float) -> dict[str, Any]:
        level = rng.normal(0.0, self.sd_between)
        samples = np.exp(np.log(1000.0) + level + rng.choice(self.residuals, repeats)) * factor
        return self.template | {"status": "ok", "throughput_tok_s_samples": samples.tolist(),
                                "throughput_tok_s": float(np.median(samples))}


def load_configs() -> list[Config]:
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in SESSIONS:
        for r in read_records(RESULTS / name):
            if r["status"] == "ok":
                by_case[r["case_id"]].append(r)
    return [Config(case, runs) for case, runs in sorted(by_case.items()) if len(runs) == len(SESSIONS)]


def build(configs: list[Config], items: int, sessions: int, drop: float, rng: np.random.Generator,
          settings: Settings, repeats: int = 5) -> list[str]:
    """One simulated build of `items` gated tests; returns each item's final verdict."""
    picks = [configs[i % len(configs)] for i in range(items)]
    baselines = [Baseline(Path(f"{c.name}.json"), {}, [c.session(rng, repeats, 1.0) for _ in range(sessions)])
                 for c in picks]
    priors = pooled_priors(baselines, "throughput_tok_s")
    alpha = item_alpha(settings, items)
    judged = []
    for config, baseline in zip(picks, baselines):
        verdict = judge_against(config.session(rng, repeats, 1 - drop), baseline, settings, alpha,
                                lambda metric, bound: priors[bound])
        judged.append(verdict.as_record_fields())
    correct(judged, settings, items)
    return [j["gate_verdict"] for j in judged]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=200, help="simulated builds per cell")
    parser.add_argument("--sessions", default="2,3,5", help="baseline sessions to simulate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    configs = load_configs()
    leases = len({name.split("-")[1] for name in SESSIONS})
    print(f"noise: {len(configs)} H200 configurations, {len(SESSIONS)} sessions each ({leases} leases); gate defaults: "
          f"threshold {settings.threshold:.0%}, alpha {settings.alpha}, {settings.multiple_testing}, noise floor "
          f"{settings.noise_floor:.0%}, {settings.repeats} repeats; {args.builds} builds per cell")
    for c in configs:
        print(f"  {c.name:34s} between-session sd {c.sd_between:6.1%}  "
              f"{'launch-bound' if c.launch_bound else 'GPU-bound'}")
    groups = {"all": configs, "GPU-bound": [c for c in configs if not c.launch_bound],
              "launch-bound": [c for c in configs if c.launch_bound]}
    print(f"\n{'configurations':14s} {'sessions':>8s} {'items':>5s} {'false alarm/item':>16s} "
          f"{'false alarm/suite':>17s} {'5% drop failed':>14s} {'10% drop failed':>15s}")
    rng = np.random.default_rng(args.seed)
    for label, group in groups.items():
        if not group:
            continue
        for k in (int(s) for s in args.sessions.split(",")):
            for items in (50, 200):
                builds = max(20, args.builds * 50 // items)
                rates = {}
                for drop in (0.0, 0.05, 0.10):
                    verdicts = [build(group, items, k, drop, rng, settings) for _ in range(builds)]
                    flat = [v == "regression" for vs in verdicts for v in vs]
                    rates[drop] = (float(np.mean(flat)), float(np.mean([any(v == "regression" for v in vs)
                                                                        for vs in verdicts])))
                print(f"{label:14s} {k:8d} {items:5d} {rates[0.0][0]:16.3%} {rates[0.0][1]:17.1%} "
                      f"{rates[0.05][0]:14.1%} {rates[0.10][0]:15.1%}")


if __name__ == "__main__":
    main()

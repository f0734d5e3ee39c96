"""The gate's false-positive rate (A/A) and detection rate (5% and 10% throughput drops), by simulation.

Noise is resampled from real runs: every repeat sample of the checked-in records divided by its record's median
(H100 HF + vLLM sweep, CPU HF run), so the spread between repeats is the measured one. Each trial draws a
baseline and a new run of `repeats` samples and asks the gate for its verdict at the default threshold and alpha.

    python benchmarks/gate_error_rates.py [--repeats 5] [--trials 4000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pytest_infperf.gate import judge
from pytest_infperf.records import read_records
from pytest_infperf.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


SOURCES = {"H100 vLLM 0.20.2": ("records-h100-llama-3-8b.jsonl", "vllm"),
           "H100 HF 5.17": ("records-h100-llama-3-8b.jsonl", "hf"),
           "CPU HF (2 cores)": ("records-cpu.jsonl", "hf")}


def residuals(file: str, engine: str) -> np.ndarray:
    """Repeat samples over their record's median, for one engine's records in one file."""
    values = []
    for r in read_records(DATA / file):
        if r["status"] == "ok" and r["engine"] == engine:
            values += [s / r["throughput_tok_s"] for s in r["throughput_tok_s_samples"]]
    return np.asarray(values)


def rate(noise: np.ndarray, factor: float, repeats: int, trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    defaults = Settings()
    hits = 0
    for _ in range(trials):
        base = (1000 * rng.choice(noise, repeats)).tolist()
        new = (1000 * factor * rng.choice(noise, repeats)).tolist()
        verdict = judge({"throughput_tok_s_samples": new}, {"throughput_tok_s_samples": base},
                        defaults.threshold, defaults.alpha, "simulated")
        hits += verdict.outcome == "regression"
    return hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=Settings().repeats)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    print(f"repeats {args.repeats}, threshold {Settings().threshold:.0%}, alpha {Settings().alpha}, "
          f"{args.trials} simulated comparisons per cell")
    print(f"{'noise source':20s} {'samples':>7s} {'rel. sd':>8s} {'A/A false pos.':>15s} {'5% drop found':>14s} "
          f"{'10% drop found':>15s}")
    for label, (file, engine) in SOURCES.items():
        noise = residuals(file, engine)
        rates = [rate(noise, factor, args.repeats, args.trials, seed=1) for factor in (1.0, 0.95, 0.90)]
        print(f"{label:20s} {noise.size:7d} {noise.std():8.2%} {rates[0]:15.2%} {rates[1]:14.2%} {rates[2]:15.2%}")


if __name__ == "__main__":
    main()

"""Latency summaries from exact samples or from Prometheus-style histograms (what vLLM exposes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Histogram:
    """Cumulative-free histogram: counts[i] observations fell at or below bounds[i] and above bounds[i-1];
    the last bound may be inf. `total` is the exact sum of observations."""

    bounds: list[float]
    counts: list[float]
    total: float

    @property
    def count(self) -> float:
        return float(sum(self.counts))

    def __sub__(self, earlier: "Histogram") -> "Histogram":
        return Histogram(
            self.bounds, [a - b for a, b in zip(self.counts, earlier.counts)], self.total - earlier.total
        )

    def __add__(self, other: "Histogram") -> "Histogram":
        return Histogram(
            self.bounds, [a + b for a, b in zip(self.counts, other.counts)], self.total + other.total
        )

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket holding the q-th observation, as Prometheus'
        histogram_quantile does; the open last bucket answers with its lower bound."""
        n = self.count
        if n <= 0:
            return None
        rank, seen = q * n, 0.0
        for i, c in enumerate(self.counts):
            if c > 0 and seen + c >= rank:
                lower = self.bounds[i - 1] if i else 0.0
                upper = self.bounds[i]
                if upper == float("inf"):
                    return lower
                return lower + (upper - lower) * (rank - seen) / c
            seen += c
        return self.bounds[-2] if len(self.bounds) > 1 else None


PERCENTILES = ((50, 1), (90, 10), (95, 20), (99, 100))  # (percentile, observations it needs)


def summarize(prefix: str, samples: list[float], histogram: Histogram | None) -> dict[str, float | None]:
    """{prefix_mean_s, prefix_std_s, prefix_p50_s, prefix_p90_s, prefix_p95_s, prefix_p99_s}, the statistics
    `vllm bench` reports: exact where samples exist; else from the histogram (exact mean from its sum,
    percentiles interpolated inside buckets, no std). A percentile needs enough observations to mean anything
    (p99: 100), else it stays None rather than repeat the maximum."""
    keys: dict[str, float | None] = {
        f"{prefix}_{k}_s": None for k in ("mean", "std", "p50", "p90", "p95", "p99")
    }
    if samples:
        values = np.asarray(samples, dtype=float)
        n = len(values)
        keys[f"{prefix}_mean_s"] = float(values.mean())
        keys[f"{prefix}_std_s"] = float(values.std())
        for q, need in PERCENTILES:
            if n >= need:
                keys[f"{prefix}_p{q}_s"] = float(np.percentile(values, q))
    elif histogram is not None and histogram.count > 0:
        n = histogram.count
        keys[f"{prefix}_mean_s"] = histogram.total / n
        for q, need in PERCENTILES:
            if n >= need:
                keys[f"{prefix}_p{q}_s"] = histogram.quantile(q / 100)
    return keys

"""Pure statistics for the gate and the reports (scipy underneath; no I/O, no pytest)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) - P(a < b) over all pairs: +1 when every a beats every b; 0 for identical distributions."""
    x, y = np.asarray(a, float)[:, None], np.asarray(b, float)[None, :]
    return float(((x > y).sum() - (x < y).sum()) / (x.size * y.size))


def cliffs_magnitude(delta: float) -> str:
    """Romano et al. (2006) thresholds, as used in performance-engineering studies."""
    d = abs(delta)
    return "negligible" if d < 0.147 else "small" if d < 0.33 else "medium" if d < 0.474 else "large"


def _signed_rank_null_counts(n: int) -> np.ndarray:
    """counts[w] = number of sign patterns of n ranks whose positive-rank sum is w (exact null of W+)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts


def hodges_lehmann_paired(new: Sequence[float], base: Sequence[float], confidence: float = 0.95
                          ) -> tuple[float, float, float]:
    """Hodges-Lehmann shift of paired differences (new - base): the median of the Walsh averages, with the exact
    distribution-free confidence interval from the signed-rank null (Hollander & Wolfe). Returns (estimate, lo, hi);
    the interval is (-inf, inf) when n is too small to reach the confidence."""
    d = np.asarray(new, float) - np.asarray(base, float)
    n = d.size
    walsh = np.sort([(d[i] + d[j]) / 2 for i, j in itertools.combinations_with_replacement(range(n), 2)])
    estimate = float(np.median(walsh))
    cdf = np.cumsum(_signed_rank_null_counts(n)) / 2.0**n
    tail = (1 - confidence) / 2
    k = int(np.searchsorted(cdf, tail, side="right"))  # P(W+ <= k-1) <= tail  →  k-th smallest Walsh average
    if k == 0:
        return estimate, float("-inf"), float("inf")
    return estimate, float(walsh[k - 1]), float(walsh[len(walsh) - k])


def wilcoxon_p(new: Sequence[float], base: Sequence[float], alternative: str) -> float:
    """Wilcoxon signed-rank p-value of new - base (exact for small n); 1.0 when every difference is zero."""
    d = np.asarray(new, float) - np.asarray(base, float)
    if not np.any(d):
        return 1.0
    return float(sps.wilcoxon(new, base, alternative=alternative, zero_method="wilcox").pvalue)


def min_attainable_p(n: int) -> float:
    """Smallest one-sided exact p-value of the signed-rank test with n pairs (why repeats matter)."""
    return 1 / 2.0**n


@dataclass(frozen=True)
class Comparison:
    """new vs base for one metric. change = median(new)/median(base) - 1 (as stored, not direction-adjusted)."""

    n: int
    median_new: float
    median_base: float
    ratio: float
    mean_ratio: float
    p_worse: float
    p_better: float
    cliffs_delta: float
    hl_shift: float
    hl_low: float
    hl_high: float

    @property
    def change(self) -> float:
        return self.ratio - 1


def compare_samples(new: Sequence[float], base: Sequence[float], higher_is_better: bool = True,
                    confidence: float = 0.95) -> Comparison:
    """Pair samples by position (repeat i with repeat i); trim to the shorter. p_worse / p_better are one-sided;
    the Hodges-Lehmann interval has the two-sided `confidence`."""
    n = min(len(new), len(base))
    if n == 0:
        raise ValueError("no samples to compare")
    a, b = np.asarray(new[:n], float), np.asarray(base[:n], float)
    worse, better = ("less", "greater") if higher_is_better else ("greater", "less")
    hl, lo, hi = hodges_lehmann_paired(a, b, confidence)
    return Comparison(n, float(np.median(a)), float(np.median(b)), float(np.median(a) / np.median(b)),
                      float(np.mean(a / b)), wilcoxon_p(a, b, worse), wilcoxon_p(a, b, better),
                      cliffs_delta(a, b), hl, lo, hi)


def anova_tukey(groups: dict[str, Sequence[float]]) -> dict[str, object]:
    """One-way ANOVA across groups and Tukey HSD pairs (scipy). Groups need two or more values each."""
    names = [k for k, v in groups.items() if len(v) >= 2]
    if len(names) < 2:
        return {"groups": names, "f": None, "p": None, "tukey": []}
    data = [np.asarray(groups[k], float) for k in names]
    if np.ptp(np.concatenate(data)) == 0:  # F is undefined without any variance
        return {"groups": names, "f": None, "p": None, "tukey": []}
    anova = sps.f_oneway(*data)
    tukey = sps.tukey_hsd(*data)
    pairs = [{"a": names[i], "b": names[j], "diff": float(np.mean(data[i]) - np.mean(data[j])),
              "p": float(tukey.pvalue[i, j])} for i, j in itertools.combinations(range(len(names)), 2)]
    return {"groups": names, "f": float(anova.statistic), "p": float(anova.pvalue), "tukey": pairs}


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    result = sps.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (strong family-wise error control): p_(i) * (m - i + 1), made
    monotone; rejecting where the adjusted p < alpha keeps P(any false alarm) <= alpha over the family."""
    p = np.asarray(p_values, float)
    m = p.size
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), by scipy."""
    if len(p_values) == 0:
        return []
    return sps.false_discovery_control(np.asarray(p_values, float), method="bh").tolist()


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Multiple-testing adjustment by name: holm, bh or none."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return [float(p) for p in p_values]
    raise ValueError(f"unknown multiple-testing method {method!r}")

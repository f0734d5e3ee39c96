"""Statistics against known values (hand-computed or from the literature)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_infperf.gate import judge
from pytest_infperf.stats import (anova_tukey, cliffs_delta, cliffs_magnitude, compare_samples,
                                  hodges_lehmann_paired, min_attainable_p, pearson, wilcoxon_p)


def test_cliffs_delta_known_values() -> None:
    assert cliffs_delta([4, 5, 6], [1, 2, 3]) == 1.0
    assert cliffs_delta([1, 2, 3], [4, 5, 6]) == -1.0
    assert cliffs_delta([1, 2, 3], [1, 2, 3]) == 0.0
    # pairs: (1 vs 0,2): +1,-1; (3 vs 0,2): +1,+1  ->  (3 - 1) / 4
    assert cliffs_delta([1, 3], [0, 2]) == 0.5
    assert [cliffs_magnitude(d) for d in (0.1, 0.2, 0.4, 0.9)] == ["negligible", "small", "medium", "large"]


def test_wilcoxon_exact_small_sample() -> None:
    # all 6 differences negative: exact one-sided p = 1/2**6
    assert wilcoxon_p([1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7.5], "less") == pytest.approx(1 / 64)
    assert wilcoxon_p([1, 2, 3], [1, 2, 3], "less") == 1.0
    assert min_attainable_p(5) == 1 / 32


def test_hodges_lehmann_constant_shift_and_known_ci() -> None:
    est, lo, hi = hodges_lehmann_paired([11, 12, 13, 14, 15, 16, 17, 18], [10, 11, 12, 13, 14, 15, 16, 17])
    assert (est, lo, hi) == (1.0, 1.0, 1.0)
    # Hollander & Wolfe: n = 8 gives C = 4 at 95% two-sided, so the CI is the 4th smallest and 4th largest of
    # the 36 Walsh averages.
    d = np.array([-2.0, 0.5, 1.0, 1.5, 3.0, 4.0, 6.0, 9.0])
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(8) for j in range(i, 8)])
    est, lo, hi = hodges_lehmann_paired(d, np.zeros(8))
    assert est == pytest.approx(np.median(walsh))
    assert (lo, hi) == (walsh[3], walsh[-4])
    assert hodges_lehmann_paired([1, 2], [0, 0])[1] == -math.inf  # n = 2 cannot reach 95%


def test_compare_samples_direction() -> None:
    base = [100, 101, 99, 100, 102, 98]
    worse = [90, 91, 89, 90, 92, 88]
    c = compare_samples(worse, base)
    assert c.ratio == pytest.approx(0.9) and c.p_worse == pytest.approx(1 / 64) and c.p_better > 0.9
    latency = compare_samples(worse, base, higher_is_better=False)  # lower latency is better
    assert latency.p_better == pytest.approx(1 / 64)


def _record(samples: list[float]) -> dict:
    return {"throughput_tok_s_samples": samples}


def test_judge_needs_both_significance_and_size() -> None:
    base = [100.0, 101, 99, 100, 102, 98]
    assert judge(_record([x * 0.9 for x in base]), _record(base), 0.05, 0.05, "b").outcome == "regression"
    assert judge(_record([x * 0.98 for x in base]), _record(base), 0.05, 0.05, "b").outcome == "unchanged"
    assert judge(_record([x * 1.2 for x in base]), _record(base), 0.05, 0.05, "b").outcome == "improvement"
    noisy = [80, 120, 85, 118, 82, 125]  # large median change but no consistent direction
    assert judge(_record(noisy), _record(base), 0.05, 0.05, "b").outcome == "unchanged"


def test_anova_and_tukey_match_scipy_reference() -> None:
    # Means 2, 5, 8: SSB = 3 * (9 + 0 + 9) = 54 on 2 df, SSW = 3 * 2 = 6 on 6 df, so F = 27 / 1 = 27.
    out = anova_tukey({"1": [1, 2, 3], "2": [4, 5, 6], "4": [7, 8, 9]})
    assert out["f"] == pytest.approx(27.0) and out["p"] == pytest.approx(0.000994, rel=0.01)
    pair = next(p for p in out["tukey"] if (p["a"], p["b"]) == ("1", "4"))
    assert pair["diff"] == -6.0 and pair["p"] < 0.01
    assert anova_tukey({"1": [1, 1], "2": [1, 1]})["f"] is None


def test_pearson() -> None:
    r, p = pearson([1, 2, 3, 4], [2, 4, 6, 8])
    assert r == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None

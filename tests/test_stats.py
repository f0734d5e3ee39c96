"""Statistics against known values (hand-computed or from the literature)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_infperf.gate import Prior, judge_metric
from pytest_infperf.stats import (
    adjust,
    anova_tukey,
    between_session_variance,
    cliffs_delta,
    cliffs_magnitude,
    compare_sessions,
    pearson,
    pooled_variance,
    wilcoxon_p,
)
from pytest_infperf.store import Baseline


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


def test_session_comparison_known_values() -> None:
    """Sessions at 100 and 110 tok/s, a new one at 100: log-ratio d = -delta/2 with delta = ln 1.1,
    between-session variance delta^2 / 2 on 1 df, se = sqrt(var * (1 + 1/2)), so t = -1/sqrt(3) and, with 1 df
    (Cauchy), p = 1/2 - atan(1/sqrt(3)) / pi = 1/3."""
    base = [[100.0, 100, 100], [110.0, 110, 110]]
    c = compare_sessions([100.0, 100, 100], base, higher_is_better=True, alpha=0.05)
    delta = math.log(1.1)
    assert between_session_variance(base) == (pytest.approx(delta**2 / 2), 1)
    assert c.median_base == pytest.approx(math.sqrt(100 * 110)) and c.ratio == pytest.approx(
        math.sqrt(100 / 110)
    )
    assert (c.df, c.sessions, c.noise_sd) == (1, 2, pytest.approx(delta / math.sqrt(2)))
    assert c.p_worse == pytest.approx(1 / 3) and c.p_better == pytest.approx(2 / 3)
    latency = compare_sessions([100.0, 100, 100], base, higher_is_better=False, alpha=0.05)
    assert latency.p_better == pytest.approx(1 / 3)  # lower is better: the same shift is a gain


def test_session_noise_is_moderated_by_the_pool_and_floored() -> None:
    base = [[100.0, 100, 100], [110.0, 110, 110]]
    own = math.log(1.1) ** 2 / 2
    c = compare_sessions([100.0] * 3, base, True, 0.05, prior=(0.01, 4))
    assert c.noise_sd == pytest.approx(math.sqrt((own + 4 * 0.01) / 5)) and c.df == 5
    quiet = compare_sessions([100.0] * 3, base, True, 0.05, prior=(1e-6, 4))  # never below its own spread
    assert quiet.noise_sd == pytest.approx(math.sqrt(own))
    flat = compare_sessions([100.0] * 3, [[100.0] * 3, [100.0] * 3], True, 0.05, floor=0.02)
    assert flat.noise_sd == 0.02 and flat.noise_source.startswith("noise floor 2.0%")
    assert pooled_variance([(0.01, 1), (0.04, 3)]) == (pytest.approx(0.0325), 4)


def test_multiple_testing_adjustments_known_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Benjamini-Hochberg: p_(i) * m / i, made monotone from the top: 0.02, 0.02, 0.04, 0.04
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "none") == p


def _baseline(*sessions: list[float]) -> Baseline:
    return Baseline(
        Path("b.json"),
        {},
        [
            {"status": "ok", "gpus": 1, "gpu_util_mean_pct": 95.0, "throughput_tok_s_samples": s}
            for s in sessions
        ],
    )


def test_judge_needs_both_significance_and_size() -> None:
    base = _baseline([100.0, 101, 99], [101.0, 102, 100], [99.0, 100, 98])

    def verdict(factor):
        return judge_metric(
            {"throughput_tok_s_samples": [100.0 * factor] * 3},
            base,  # noqa: E731
            "throughput_tok_s",
            0.05,
            0.05,
            Prior(),
            0.01,
        ).outcome

    assert [verdict(f) for f in (0.9, 0.98, 1.2)] == ["regression", "unchanged", "improvement"]
    noisy = _baseline([100.0], [130.0], [80.0])  # sessions 25% apart: a 10% drop cannot be told from noise
    outcome = judge_metric(
        {"throughput_tok_s_samples": [90.0] * 3}, noisy, "throughput_tok_s", 0.05, 0.05, Prior(), 0.01
    ).outcome
    assert outcome == "underpowered"


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


def test_the_prior_leaves_the_judged_configuration_out() -> None:
    """pooled_priors(exclude=b): b's own sessions count once (in its own variance), never again in its prior;
    with two alike configurations the prior of one is the other's alone (the case issue 30 measured counting
    twice)."""
    from pytest_infperf.gate import pooled_priors

    quiet = _baseline([100.0, 101, 99], [101.0, 102, 100], [99.0, 100, 98])
    noisy = _baseline([100.0, 101, 99], [130.0, 131, 129], [80.0, 81, 79])
    noisy.path = Path("noisy.json")
    both = [quiet, noisy]
    alone = pooled_priors([noisy], "throughput_tok_s")[False]
    assert pooled_priors(both, "throughput_tok_s", exclude=quiet)[False] == alone
    variance, df = between_session_variance(noisy.samples("throughput_tok_s"))
    assert alone.class_mean == pytest.approx(pooled_variance([(variance, df)])[0]) and df == 2
    assert pooled_priors(both, "throughput_tok_s")[False] != alone  # without exclude, both count

"""Pure statistics for the gate and the reports (scipy underneath; no I/O, no pytest)."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

import numpy as np


def _scipy_stats() -> "ModuleType":  # scipy.stats takes about 0.6 s to import: only once a test is judged
    from scipy import stats

    return stats


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) - P(a < b) over all pairs: +1 when every a beats every b; 0 for identical distributions."""
    x, y = np.asarray(a, float)[:, None], np.asarray(b, float)[None, :]
    return float(((x > y).sum() - (x < y).sum()) / (x.size * y.size))


def cliffs_magnitude(delta: float) -> str:
    """Romano et al. (2006) thresholds, as used in performance-engineering studies."""
    d = abs(delta)
    return "negligible" if d < 0.147 else "small" if d < 0.33 else "medium" if d < 0.474 else "large"


def wilcoxon_p(new: Sequence[float], base: Sequence[float], alternative: str) -> float:
    """Wilcoxon signed-rank p-value of new - base (exact for small n); 1.0 when every difference is zero."""
    d = np.asarray(new, float) - np.asarray(base, float)
    if not np.any(d):
        return 1.0
    return float(_scipy_stats().wilcoxon(new, base, alternative=alternative, zero_method="wilcox").pvalue)


def session_value(samples: Sequence[float]) -> float:
    """What one session says about a configuration: the log of its median repeat (log, so that spreads and
    changes are relative and the same for tok/s and for seconds)."""
    return float(np.log(np.median(np.asarray(samples, float))))


def between_session_variance(sessions: Sequence[Sequence[float]]) -> tuple[float, int]:
    """(variance, degrees of freedom) of the session values of one configuration: what moves when the worker
    process, the model load, the day or the host change. Needs two or more sessions (else (0, 0))."""
    values = [session_value(s) for s in sessions]
    if len(values) < 2:
        return 0.0, 0
    return float(np.var(values, ddof=1)), len(values) - 1


def pooled_variance(parts: Sequence[tuple[float, int]]) -> tuple[float, int]:
    """Pool (variance, df) pairs of several configurations: sum(df * var) / sum(df), with sum(df) df."""
    df = sum(d for _, d in parts)
    if df == 0:
        return 0.0, 0
    return float(sum(v * d for v, d in parts) / df), int(df)


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x, by Newton's method (Smyth 2004, limma's trigammaInverse)."""
    from scipy.special import polygamma

    if x > 1e7:
        return 1 / np.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def variance_prior(parts: Sequence[tuple[float, int]], max_df: float = 50.0) -> tuple[float, float]:
    """(s0^2, d0): the prior of the configurations' between-session variances, fitted to them as a scaled
    inverse chi-square by the method of moments on log variances (Smyth 2004, limma's fitFDist). Alike
    variances give a large d0 (pool a lot); dispersed ones a small d0 (each configuration mostly speaks for
    itself). d0 never exceeds the pool's own degrees of freedom: a prior cannot know more than the sessions it
    was fitted to."""
    from scipy.special import digamma, polygamma

    used = [(max(v, 1e-10), d) for v, d in parts if d > 0]
    max_df = min(max_df, float(sum(d for _, d in used)))
    if (
        len(used) < 3
    ):  # too few to fit a spread of variances: pool them, trusting the pool no more than its df
        var, df = pooled_variance(used)
        return var, float(min(df, max_df))
    v, d = np.array([u[0] for u in used]), np.array([u[1] for u in used], float)
    e = np.log(v) - digamma(d / 2) + np.log(d / 2)
    emean = float(e.mean())
    evar = float(np.var(e, ddof=1) - np.mean(polygamma(1, d / 2)))
    if evar <= 0:
        return float(np.exp(emean + digamma(max_df / 2) - np.log(max_df / 2))), max_df
    d0 = min(2 * _trigamma_inverse(evar), max_df)
    return float(np.exp(emean + digamma(d0 / 2) - np.log(d0 / 2))), float(d0)


@dataclass(frozen=True)
class SessionComparison:
    """A new session against a baseline's sessions, for one metric, on the log scale.

    ratio = median(new) / geometric mean of the baseline sessions' medians; the test asks whether the new
    session lies outside what another session of the baseline would give: t = log(ratio) / (sd * sqrt(1 +
    1/k)), with sd the between-session spread (see `compare_sessions`). p_worse / p_better are one-sided; the
    interval on the ratio is the two-sided 1 - 2 alpha one that matches a one-sided test at alpha; detectable
    is the smallest relative change that this noise lets reach significance at alpha."""

    sessions: int
    repeats_new: int
    median_new: float
    median_base: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_worse: float
    p_better: float
    df: float
    noise_sd: float
    noise_source: str
    detectable: float
    cliffs_delta: (
        float | None
    )  # of the replicated unit (A/B rounds); None against stored baselines (one session)
    hodges_lehmann_ratio: float | None = (
        None  # A/B: exp of the Hodges-Lehmann centre of the rounds' log ratios
    )

    @property
    def change(self) -> float:
        return self.ratio - 1


def compare_sessions(
    new: Sequence[float],
    base_sessions: Sequence[Sequence[float]],
    higher_is_better: bool,
    alpha: float,
    prior: tuple[float, float] = (0.0, 0),
    floor: float = 0.0,
    class_mean: float = 0.0,
    unit: str = "session",
) -> SessionComparison:
    """Judge one new session (its repeat samples) against k baseline sessions (theirs).

    The unit of replication is the session: repeats inside one session share its worker process, model load
    and host, so they say little about what another session on another day or host gives. The spread that
    matters, sd, is estimated from the sessions: this configuration's own (k - 1 df), combined with `prior`
    (variance, df) pooled over comparable configurations of the same baseline folder, as a moderated variance
    (d_c s_c^2 + d_0 s_0^2) / (d_c + d_0) with d_0 = min(prior df, max_prior_df); never below the
    configuration's own spread nor below `floor` (a relative sd); `prior` is (s0^2, d0) from `variance_prior`
    over the *other* configurations, whose d0 says how alike their spreads are. With one session and no prior
    nothing is judged (`_cannot_tell`): the spread between repeats is not the spread between sessions.
    `class_mean` (a variance) is a further floor: the gate passes the arithmetic mean of its class for
    host-sensitive configurations, whose spread between hosts a few sessions on one host cannot show. `unit`
    names what each of `base_sessions` is (session, or host: the samples of all the sessions of one host), in
    the words of the result."""
    new_arr = np.asarray(new, float)
    if new_arr.size == 0 or not base_sessions or any(len(s) == 0 for s in base_sessions):
        raise ValueError("no samples to compare")
    k = len(base_sessions)
    values = np.array([session_value(s) for s in base_sessions])
    center = float(values.mean())
    d = session_value(new_arr) - center
    own_var, own_df = between_session_variance(base_sessions)
    prior_var, d0 = prior
    if d0 <= 0 and own_df == 0:
        return _cannot_tell(new_arr, float(np.exp(center)), float(np.exp(d)), k, unit)
    if d0 > 0:
        var = max(own_var, (own_df * own_var + d0 * prior_var) / (own_df + d0))
        df = own_df + d0
        source = f"{k} {unit}(s) of this configuration, moderated by a prior of {d0:.3g} df from other ones"
    else:
        var, df, source = own_var, own_df, f"{k} {unit}s of this configuration"
    if var < class_mean and class_mean >= floor**2:
        var, source = class_mean, f"mean spread of its class, {np.sqrt(class_mean):.1%} (" + source + ")"
    if var < floor**2:
        var, source = floor**2, f"noise floor {floor:.1%} (" + source + ")"
    se = float(np.sqrt(var * (1 + 1 / k)))
    t = d / se
    worse_p, better_p = float(_scipy_stats().t.cdf(t, df)), float(_scipy_stats().t.sf(t, df))
    if not higher_is_better:
        worse_p, better_p = better_p, worse_p
    q = float(_scipy_stats().t.ppf(1 - alpha, df))
    return SessionComparison(
        sessions=k,
        repeats_new=int(new_arr.size),
        median_new=float(np.median(new_arr)),
        median_base=float(np.exp(center)),
        **_interval(d, q, se),
        p_worse=worse_p,
        p_better=better_p,
        df=float(df),
        noise_sd=float(np.sqrt(var)),
        noise_source=source,
        cliffs_delta=None,
    )


def _interval(d: float, q: float, se: float) -> dict[str, float]:
    """The ratio, its one-sided-alpha interval on both sides, and the smallest change the test can tell (a change
    of q standard errors), from the log change d, the t quantile q and the standard error se."""
    return {
        "ratio": float(np.exp(d)),
        "ratio_low": float(np.exp(d - q * se)),
        "ratio_high": float(np.exp(d + q * se)),
        "detectable": float(np.expm1(q * se)),
    }


def _cannot_tell(
    new: np.ndarray, median_base: float, ratio: float, k: int, unit: str = "session"
) -> SessionComparison:
    """One baseline session and no prior from other configurations: nothing says how much another session
    moves (repeats inside one session share its worker, model load and host, and understate it several-fold),
    so no change can be told apart: p = 1 both ways, an unbounded interval, an infinite detectable change."""
    return SessionComparison(
        sessions=k,
        repeats_new=int(new.size),
        median_new=float(np.median(new)),
        median_base=median_base,
        ratio=ratio,
        ratio_low=0.0,
        ratio_high=float("inf"),
        p_worse=1.0,
        p_better=1.0,
        df=0.0,
        noise_sd=float("nan"),
        noise_source=f"1 {unit} and no prior from other configurations: between-{unit} spread unknown",
        detectable=float("inf"),
        cliffs_delta=None,
    )


# The equal-weighted cosine (EWC) long-run variance keeps this fraction of n^(2/3) cosine terms: Lazarus,
# Lewis, Stock and Watson (2018, "HAR inference: recommendations for practice") give 0.4 n^(2/3); 0.3 is this
# gate's choice, because it judges 50-200 items at alpha / m, far in the tail where too many terms (too little
# smoothing of a persistent series) cost the most level (benchmarks/ab_autocorrelation.py measures it).
EWC_TERMS_PER_N23 = 0.3


def ewc_terms(rounds: int) -> int:
    """Cosine terms B of the EWC long-run variance over `rounds` rounds: the test's degrees of freedom."""
    return max(2, min(rounds - 1, int(EWC_TERMS_PER_N23 * rounds ** (2 / 3))))


def long_run_se(logs: np.ndarray) -> tuple[float, int]:
    """(standard error of the mean, degrees of freedom) of a series of rounds that may be autocorrelated.

    The equal-weighted cosine estimator of the long-run variance: the mean of the squared projections of the
    demeaned rounds on the first B cosines, (1/B) sum_j (sqrt(2/n) sum_t cos(pi j (t - 1/2) / n) x_t)^2. Under
    fixed-b asymptotics the mean over this standard error is Student-t with B df, exactly, so the test keeps
    its level where rounds persist (a Newey-West error with a 2-3 lag window and n - 1 df does not: simulated
    in docs/RESULTS.md). Never below the plain iid error s / sqrt(n), so negatively correlated rounds (ABBA
    order) do not buy a smaller error; that only makes the test more conservative."""
    n = logs.size
    iid = float(logs.std(ddof=1)) / np.sqrt(n)
    terms = ewc_terms(n)
    if iid == 0:
        return iid, terms
    t = np.arange(n)
    cosines = np.sqrt(2 / n) * np.cos(np.pi * np.arange(1, terms + 1)[:, None] * (t + 0.5) / n)
    projections = cosines @ (logs - logs.mean())
    return max(iid, float(np.sqrt(np.mean(projections**2) / n))), terms


def rounds_needed(
    new: Sequence[float],
    reference: Sequence[float],
    alpha: float,
    threshold: float,
    power: float = 0.95,
    most: int | None = None,
) -> int:
    """Stein's two-stage design for an A/B trial, with a power term: from the first n0 rounds' long-run spread
    s of the log ratios, the fewest rounds n (even: whole ABBA pairs; at least n0, at most `most`, None: no
    cap) at which a change of twice `threshold` is caught with probability `power`: its estimate significant
    at `alpha`, (t(1 - alpha, B_n) + t(power, B_n)) s / sqrt(n) <= log(1 + 2 threshold), and beyond the
    threshold, t(power, B_n) s / sqrt(n) <= log(1 + 2 threshold) - log(1 + threshold), B_n = ewc_terms(n); and
    at which the threshold itself can be told apart, t(1 - alpha, B_n) s / sqrt(n) <= log(1 + threshold), so a
    trial that ran its planned rounds is not `underpowered` (the first two alone are met by fewer rounds where
    B_n is small and its t critical value large). (A change of the threshold itself is flagged at most half
    the time: its estimate must exceed the threshold.) The number depends on the first stage's spread only,
    never on its mean, so a trial is not run on because it looks like a change and the final test keeps its
    level."""
    logs = np.log(np.asarray(new, float)) - np.log(np.asarray(reference, float))
    n0 = logs.size
    cap = most if most is not None else 1 << 14
    if n0 < 2:
        return int(max(n0, min(cap, 2)))
    spread = long_run_se(logs)[0] * np.sqrt(n0)
    counts, reach = _reach(alpha, power, threshold, n0 + n0 % 2, cap)
    enough = np.flatnonzero(spread <= reach)
    n = int(counts[enough[0]]) if enough.size else cap
    return int(min(cap, max(n0, n)))


@functools.lru_cache(maxsize=64)
def _reach(
    alpha: float, power: float, threshold: float, first: int, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """(round counts, the largest round spread each count can afford) for `rounds_needed`."""
    counts = np.arange(first, cap + 2, 2)
    terms = np.array([ewc_terms(int(n)) for n in counts])
    q, z = _scipy_stats().t.ppf(1 - alpha, terms), _scipy_stats().t.ppf(power, terms)
    big, small = np.log1p(2 * threshold), np.log1p(2 * threshold) - np.log1p(threshold)
    told = (
        np.log1p(threshold) / q
    )  # a change of the threshold itself significant: the verdict is not underpowered
    with np.errstate(divide="ignore"):  # power 0.5: z = 0, no constraint from the second term
        return counts, np.minimum(np.minimum(big / (q + z), small / z), told) * np.sqrt(counts)


def hodges_lehmann(values: Sequence[float]) -> float:
    """The Hodges-Lehmann estimate of a paired series' centre: the median of its Walsh averages (x_i + x_j) /
    2, i <= j. Robust to the odd round where one arm hit a host hiccup the other missed."""
    x = np.asarray(values, float)
    i, j = np.triu_indices(x.size)
    return float(np.median((x[i] + x[j]) / 2))


def compare_paired(
    new: Sequence[float], reference: Sequence[float], higher_is_better: bool, alpha: float
) -> SessionComparison:
    """Judge an A/B trial: round i of `new` ran beside round i of `reference` on the same host (interleaved).

    Each round's log ratio log(new_i / reference_i) holds what the two environments differ by plus that
    round's noise; what drifts across rounds (host clocks, scheduling) touches both arms of a round alike and
    cancels. An arm can sit in a slow per-process state for several rounds while the other does not, so the
    rounds are autocorrelated: the test is a t-test of the mean log ratio against 0 with the EWC long-run
    standard error and its B degrees of freedom (`long_run_se`). The ratio is the geometric mean of the
    rounds' ratios, the interval the two-sided 1 - 2 alpha one; the effect size is Cliff's delta of the rounds
    (the unit replicated here) and the Hodges-Lehmann ratio beside it. Not Wilcoxon's signed-rank test: with n
    rounds its smallest one-sided p is 2^-n, above alpha / m for a session of 50 gated items at 10 rounds, so
    such a suite could never fail. Needs two or more rounds."""
    new_arr, ref_arr = np.asarray(new, float), np.asarray(reference, float)
    if new_arr.size != ref_arr.size or new_arr.size < 2:
        raise ValueError(
            f"paired comparison needs two or more rounds of each arm, got {new_arr.size} and {ref_arr.size}"
        )
    logs = np.log(new_arr) - np.log(ref_arr)
    n = logs.size
    d = float(logs.mean())
    se, df = long_run_se(logs)
    if se > 0:
        less = float(_scipy_stats().t.cdf(d / se, df))
        greater = 1.0 - less  # the t distribution is continuous: P(T > t) = 1 - P(T < t)
    else:
        less, greater = float(d >= 0), float(d <= 0)
    se = max(se, 1e-12)
    worse_p, better_p = (less, greater) if higher_is_better else (greater, less)
    q = float(_scipy_stats().t.ppf(1 - alpha, df))
    return SessionComparison(
        sessions=1,
        repeats_new=n,
        median_new=float(np.median(new_arr)),
        median_base=float(np.median(ref_arr)),
        **_interval(d, q, se),
        p_worse=worse_p,
        p_better=better_p,
        df=float(df),
        noise_sd=float(se * np.sqrt(n)),
        noise_source=f"{n} interleaved rounds on this host (paired; long-run variance over {df} cosine terms)",
        cliffs_delta=cliffs_delta(new_arr, ref_arr),
        hodges_lehmann_ratio=float(np.exp(hodges_lehmann(logs))),
    )


def anova_tukey(groups: dict[str, Sequence[float]]) -> dict[str, object]:
    """One-way ANOVA across groups and Tukey HSD pairs (scipy). Groups need two or more values each."""
    names = [k for k, v in groups.items() if len(v) >= 2]
    if len(names) < 2:
        return {"groups": names, "f": None, "p": None, "tukey": []}
    data = [np.asarray(groups[k], float) for k in names]
    if np.ptp(np.concatenate(data)) == 0:  # F is undefined without any variance
        return {"groups": names, "f": None, "p": None, "tukey": []}
    anova = _scipy_stats().f_oneway(*data)
    tukey = _scipy_stats().tukey_hsd(*data)
    pairs = [
        {
            "a": names[i],
            "b": names[j],
            "diff": float(np.mean(data[i]) - np.mean(data[j])),
            "p": float(tukey.pvalue[i, j]),
        }
        for i, j in itertools.combinations(range(len(names)), 2)
    ]
    return {"groups": names, "f": float(anova.statistic), "p": float(anova.pvalue), "tukey": pairs}


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    result = _scipy_stats().pearsonr(x, y)
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
    return _scipy_stats().false_discovery_control(np.asarray(p_values, float), method="bh").tolist()


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Multiple-testing adjustment by name: holm, bh or none."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return [float(p) for p in p_values]
    raise ValueError(f"unknown multiple-testing method {method!r}")

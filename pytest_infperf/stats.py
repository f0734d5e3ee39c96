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


def wilcoxon_p(new: Sequence[float], base: Sequence[float], alternative: str) -> float:
    """Wilcoxon signed-rank p-value of new - base (exact for small n); 1.0 when every difference is zero."""
    d = np.asarray(new, float) - np.asarray(base, float)
    if not np.any(d):
        return 1.0
    return float(sps.wilcoxon(new, base, alternative=alternative, zero_method="wilcox").pvalue)


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
    inverse chi-square by the method of moments on log variances (Smyth 2004, limma's fitFDist). Alike variances
    give a large d0 (pool a lot); dispersed ones a small d0 (each configuration mostly speaks for itself). d0 never
    exceeds the pool's own degrees of freedom: a prior cannot know more than the sessions it was fitted to."""
    from scipy.special import digamma, polygamma

    used = [(max(v, 1e-10), d) for v, d in parts if d > 0]
    max_df = min(max_df, float(sum(d for _, d in used)))
    if len(used) < 3:  # too few to fit a spread of variances: pool them, trusting the pool no more than its df
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

    ratio = median(new) / geometric mean of the baseline sessions' medians; the test asks whether the new session
    lies outside what another session of the baseline would give: t = log(ratio) / (sd * sqrt(1 + 1/k)), with sd
    the between-session spread (see `compare_sessions`). p_worse / p_better are one-sided; the interval on the
    ratio is the two-sided 1 - 2 alpha one that matches a one-sided test at alpha; detectable is the smallest
    relative change that this noise lets reach significance at alpha."""

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
    cliffs_delta: float

    @property
    def change(self) -> float:
        return self.ratio - 1


def compare_sessions(new: Sequence[float], base_sessions: Sequence[Sequence[float]], higher_is_better: bool,
                     alpha: float, prior: tuple[float, float] = (0.0, 0), floor: float = 0.0,
                     class_mean: float = 0.0) -> SessionComparison:
    """Judge one new session (its repeat samples) against k baseline sessions (theirs).

    The unit of replication is the session: repeats inside one session share its worker process, model load and
    host, so they say little about what another session on another day or host gives. The spread that matters,
    sd, is estimated from the sessions: this configuration's own (k - 1 df), combined with `prior` (variance, df)
    pooled over comparable configurations of the same baseline folder, as a moderated variance
    (d_c s_c^2 + d_0 s_0^2) / (d_c + d_0) with d_0 = min(prior df, max_prior_df); never below the configuration's
    own spread nor below `floor` (a relative sd); `prior` is (s0^2, d0) from `variance_prior`, whose d0 says how
    alike the configurations' spreads are. With one session and no prior, the spread between repeats is all there
    is; the result then says so in noise_source. `class_mean` (a variance) is a further floor: the gate passes the
    arithmetic mean of its class for host-sensitive configurations, whose spread between hosts a few sessions on one
    host cannot show."""
    new_arr = np.asarray(new, float)
    if new_arr.size == 0 or not base_sessions or any(len(s) == 0 for s in base_sessions):
        raise ValueError("no samples to compare")
    k = len(base_sessions)
    values = np.array([session_value(s) for s in base_sessions])
    center = float(values.mean())
    d = session_value(new_arr) - center
    own_var, own_df = between_session_variance(base_sessions)
    prior_var, d0 = prior
    if d0 > 0:
        var = max(own_var, (own_df * own_var + d0 * prior_var) / (own_df + d0))
        df = own_df + d0
        source = f"{k} session(s) of this configuration, moderated by a prior of {d0:.3g} df from alike ones"
    elif own_df > 0:
        var, df, source = own_var, own_df, f"{k} sessions of this configuration"
    else:
        logs = [np.log(np.asarray(s, float)) for s in (new_arr, *base_sessions)]
        within = float(np.mean([np.var(x, ddof=1) if x.size > 1 else 0.0 for x in logs]))
        var = within * (np.pi / 2) / max(1, min(x.size for x in logs))  # variance of a median of n repeats
        df = max(1, min(x.size for x in logs) - 1)
        source = "1 session: between-session spread unknown, repeats only"
    if var < class_mean and class_mean >= floor ** 2:
        var, source = class_mean, f"mean spread of its class, {np.sqrt(class_mean):.1%} (" + source + ")"
    if var < floor ** 2:
        var, source = floor ** 2, f"noise floor {floor:.1%} (" + source + ")"
    se = float(np.sqrt(var * (1 + 1 / k)))
    t = d / se
    worse_p, better_p = float(sps.t.cdf(t, df)), float(sps.t.sf(t, df))
    if not higher_is_better:
        worse_p, better_p = better_p, worse_p
    q = float(sps.t.ppf(1 - alpha, df))
    base_all = np.concatenate([np.asarray(s, float) for s in base_sessions])
    return SessionComparison(
        sessions=k, repeats_new=int(new_arr.size), median_new=float(np.median(new_arr)),
        median_base=float(np.exp(center)), ratio=float(np.exp(d)), ratio_low=float(np.exp(d - q * se)),
        ratio_high=float(np.exp(d + q * se)), p_worse=worse_p, p_better=better_p, df=float(df),
        noise_sd=float(np.sqrt(var)), noise_source=source, detectable=float(np.expm1(q * se)),
        cliffs_delta=cliffs_delta(new_arr, base_all))


def newey_west_lags(rounds: int) -> int:
    """Newey and West's (1994) rule of thumb for the Bartlett kernel's lag window, floor(4 (n / 100)^(2/9)): 2 lags
    at 16 rounds, 3 at 64; never more than n - 2."""
    return max(0, min(int(4 * (rounds / 100) ** (2 / 9)), rounds - 2))


def long_run_se(logs: np.ndarray) -> tuple[float, int]:
    """The standard error of the mean of a series of rounds that may be autocorrelated, and the lags it used.

    statsmodels' heteroscedasticity-and-autocorrelation-consistent (Newey-West, Bartlett kernel) covariance of an
    intercept-only OLS fit, with the n / (n - 1) small-sample correction; never below the plain iid standard
    error s / sqrt(n), so negatively correlated rounds do not buy a smaller error."""
    import statsmodels.api as sm  # a heavy import, only where an A/B verdict is made

    n = logs.size
    iid = float(logs.std(ddof=1)) / np.sqrt(n)
    lags = newey_west_lags(n)
    if lags == 0 or iid == 0:
        return iid, lags
    fit = sm.OLS(logs, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True})
    return max(iid, float(fit.bse[0])), lags


def rounds_needed(new: Sequence[float], reference: Sequence[float], alpha: float, threshold: float,
                  most: int | None = None) -> int:
    """Stein's two-stage design for an A/B trial: from the first n0 rounds' long-run spread s of the log ratios,
    the rounds at which a change of `threshold` becomes detectable at `alpha`, n = (t(1 - alpha, n0 - 1) s /
    log(1 + threshold))^2, rounded up to an even number (whole ABBA pairs), at least n0 and at most `most` (None: no cap). The
    number depends on the first stage's spread only, never on its mean, so a trial is not run on because it looks
    like a change, and the test over all n rounds keeps its level (at n = n0 it is the one-stage test; where the
    first stage was noisy its spread, also part of the final estimate, errs large)."""
    logs = np.log(np.asarray(new, float)) - np.log(np.asarray(reference, float))
    n0 = logs.size
    cap = most if most is not None else float("inf")
    if n0 < 2:
        return int(max(n0, min(cap, 2)))
    spread = long_run_se(logs)[0] * np.sqrt(n0)
    q = float(sps.t.ppf(1 - alpha, n0 - 1))
    wanted = int(np.ceil((q * spread / np.log1p(threshold)) ** 2))
    wanted += wanted % 2
    return int(min(cap, max(n0, wanted)))


def compare_paired(new: Sequence[float], reference: Sequence[float], higher_is_better: bool,
                   alpha: float) -> SessionComparison:
    """Judge an A/B trial: round i of `new` ran beside round i of `reference` on the same host (interleaved).

    Each round's log ratio log(new_i / reference_i) holds what the two environments differ by plus that round's
    noise; what drifts across rounds (host clocks, scheduling) touches both arms of a round alike and cancels.
    The test is a t-test of the mean log ratio against 0 (n - 1 df) whose standard error is autocorrelation-robust
    (`long_run_se`, Newey-West): on H200 VMs an arm can sit in a slow per-process state for several rounds while
    the other does not (an A/A of HF GPT-2 in 64 one-pass rounds: lag-1 autocorrelation 0.43 of the log ratios,
    arms uncorrelated), and the iid t-test then called a +8% "change" between identical arms significant
    (p = 0.022); the robust error widens by what that persistence costs. The ratio is the geometric mean of the
    rounds' ratios, the interval the two-sided 1 - 2 alpha one. Not Wilcoxon's signed-rank test: with n rounds
    its smallest one-sided p is 2^-n (0.001 for 10 rounds), above alpha / m for a session of 50 gated items, so
    such a suite could never fail. Needs two or more rounds."""
    new_arr, ref_arr = np.asarray(new, float), np.asarray(reference, float)
    if new_arr.size != ref_arr.size or new_arr.size < 2:
        raise ValueError(f"paired comparison needs two or more rounds of each arm, got {new_arr.size} and "
                         f"{ref_arr.size}")
    logs = np.log(new_arr) - np.log(ref_arr)
    n = logs.size
    d = float(logs.mean())
    se, lags = long_run_se(logs)
    df = n - 1
    if se > 0:
        less = float(sps.t.cdf(d / se, df))
        greater = 1.0 - less  # the t distribution is continuous: P(T > t) = 1 - P(T < t)
    else:
        less, greater = float(d >= 0), float(d <= 0)
    se = max(se, 1e-12)
    worse_p, better_p = (less, greater) if higher_is_better else (greater, less)
    q = float(sps.t.ppf(1 - alpha, df))
    return SessionComparison(
        sessions=1, repeats_new=n, median_new=float(np.median(new_arr)), median_base=float(np.median(ref_arr)),
        ratio=float(np.exp(d)), ratio_low=float(np.exp(d - q * se)), ratio_high=float(np.exp(d + q * se)),
        p_worse=worse_p, p_better=better_p, df=float(df), noise_sd=float(se * np.sqrt(n)),
        noise_source=f"{n} interleaved rounds on this host (paired; Newey-West, {lags} lag(s))",
        detectable=float(np.expm1(q * se)), cliffs_delta=cliffs_delta(new_arr, ref_arr))


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

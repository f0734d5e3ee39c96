"""Record vs baseline -> verdict. A change counts only when it is both significant (one-sided Wilcoxon
signed-rank on paired repeats, p < alpha) and larger than the threshold; direction-aware."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .stats import Comparison, cliffs_magnitude, compare_samples, min_attainable_p

# Metrics the gate can judge: (higher is better, display scale, unit); each is paired on `<metric>_samples`.
GATE_METRICS = {"throughput_tok_s": (True, 1.0, " tok/s"), "ttft_mean_s": (False, 1e3, " ms")}
# Worst first: the outcome of a test judged on several metrics is the worst of theirs.
_SEVERITY = ("error", "regression", "improvement", "underpowered", "no-baseline", "unchanged")


@dataclass(frozen=True)
class Verdict:
    outcome: str  # regression | improvement | unchanged | underpowered | no-baseline | error
    message: str
    comparison: Comparison | None = None
    baseline_ref: str | None = None

    def as_record_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"gate_verdict": self.outcome, "gate_message": self.message,
                                  "gate_baseline": self.baseline_ref}
        if self.comparison is not None:
            fields |= {f"gate_{k}": v for k, v in asdict(self.comparison).items()}
        return fields


def judge(record: dict[str, Any], baseline: dict[str, Any], threshold: float, alpha: float,
          baseline_ref: str, metrics: tuple[str, ...] = ("throughput_tok_s",)) -> Verdict:
    """One verdict over `metrics`: the worst of theirs, with every metric's message; the first metric's
    statistics go into the record's gate_* fields."""
    verdicts = [judge_metric(record, baseline, metric, threshold, alpha, baseline_ref) for metric in metrics]
    worst = min(verdicts, key=lambda v: _SEVERITY.index(v.outcome))
    if len(verdicts) == 1:
        return worst
    message = " | ".join(v.message for v in verdicts)
    return Verdict(worst.outcome, message, verdicts[0].comparison, baseline_ref)


def judge_metric(record: dict[str, Any], baseline: dict[str, Any], metric: str, threshold: float, alpha: float,
                 baseline_ref: str) -> Verdict:
    new, base = record.get(f"{metric}_samples"), baseline.get(f"{metric}_samples")
    if not new or not base:
        where = "this run" if not new else f"baseline {baseline_ref}"
        return Verdict("no-baseline", f"{metric}: {where} has no per-repeat samples of it", None, baseline_ref)
    # The interval matching a one-sided test at alpha is the two-sided 1 - 2 alpha one (90% at alpha 0.05).
    confidence = 1 - 2 * alpha
    higher_is_better, scale, unit = GATE_METRICS[metric]
    c = compare_samples(new, base, higher_is_better=higher_is_better, confidence=confidence)
    interval = (f"{confidence:.0%} CI [{c.hl_low * scale:+,.1f}, {c.hl_high * scale:+,.1f}]"
                if math.isfinite(c.hl_low) else f"too few repeats for a {confidence:.0%} CI")
    summary = (f"{metric}: baseline {c.median_base * scale:,.1f}{unit}, now {c.median_new * scale:,.1f}{unit} "
               f"(ratio {c.ratio:.3f}, {c.change:+.1%}); Wilcoxon one-sided p={min(c.p_worse, c.p_better):.4f} over "
               f"{c.n} paired repeats; Cliff's delta {c.cliffs_delta:+.2f} ({cliffs_magnitude(c.cliffs_delta)}); "
               f"Hodges-Lehmann shift {c.hl_shift * scale:+,.1f}{unit}, {interval}")
    if min_attainable_p(c.n) >= alpha:
        return Verdict("underpowered", f"{summary}; {c.n} repeats cannot reach p < {alpha} (need >= "
                                    f"{_repeats_needed(alpha)}): raise --infperf-repeats", c, baseline_ref)
    worse = c.change <= -threshold if higher_is_better else c.change >= threshold
    better = c.change >= threshold if higher_is_better else c.change <= -threshold
    if worse and c.p_worse < alpha:
        return Verdict("regression", f"REGRESSION {summary}", c, baseline_ref)
    if better and c.p_better < alpha:
        return Verdict("improvement", f"improvement {summary}", c, baseline_ref)
    return Verdict("unchanged", summary, c, baseline_ref)


def _repeats_needed(alpha: float) -> int:
    n = 1
    while min_attainable_p(n) >= alpha:
        n += 1
    return n


def fails(verdict: Verdict, fail_on: str, require_baseline: bool = False) -> bool:
    """An unreadable baseline always fails; a missing one only when required; changes as `fail_on` says."""
    if verdict.outcome == "error":
        return True
    if verdict.outcome == "no-baseline":
        return require_baseline
    if fail_on == "never":
        return False
    if fail_on == "any":
        return verdict.outcome in ("regression", "improvement")
    return verdict.outcome == "regression"

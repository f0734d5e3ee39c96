"""Record vs baseline -> verdict. A change counts only when it is both significant (one-sided Wilcoxon
signed-rank on paired repeats, p < alpha) and larger than the threshold; direction-aware."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .stats import Comparison, cliffs_magnitude, compare_samples, min_attainable_p

GATED_METRIC = "throughput_tok_s"  # higher is better; its per-repeat samples are what the test pairs


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
          baseline_ref: str) -> Verdict:
    new = record[f"{GATED_METRIC}_samples"]
    base = baseline[f"{GATED_METRIC}_samples"]
    # The interval matching a one-sided test at alpha is the two-sided 1 - 2 alpha one (90% at alpha 0.05).
    confidence = 1 - 2 * alpha
    c = compare_samples(new, base, higher_is_better=True, confidence=confidence)
    interval = (f"{confidence:.0%} CI [{c.hl_low:+,.1f}, {c.hl_high:+,.1f}]" if math.isfinite(c.hl_low)
                else f"too few repeats for a {confidence:.0%} CI")
    summary = (f"{GATED_METRIC}: baseline {c.median_base:,.1f}, now {c.median_new:,.1f} (ratio {c.ratio:.3f}, "
               f"{c.change:+.1%}); Wilcoxon one-sided p={min(c.p_worse, c.p_better):.4f} over {c.n} paired repeats; "
               f"Cliff's delta {c.cliffs_delta:+.2f} ({cliffs_magnitude(c.cliffs_delta)}); "
               f"Hodges-Lehmann shift {c.hl_shift:+,.1f}, {interval}")
    if min_attainable_p(c.n) >= alpha:
        return Verdict("underpowered", f"{summary}; {c.n} repeats cannot reach p < {alpha} (need >= "
                                    f"{_repeats_needed(alpha)}): raise --infperf-repeats", c, baseline_ref)
    if c.change <= -threshold and c.p_worse < alpha:
        return Verdict("regression", f"REGRESSION {summary}", c, baseline_ref)
    if c.change >= threshold and c.p_better < alpha:
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

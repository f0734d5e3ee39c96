"""The regression gate, in one place: which baseline a record is judged against (lookup) and what it says
(decision), including the multiple-testing bookkeeping of a session.

A change counts only when it is both larger than the threshold and significant against the between-session
noise learned from the baseline's sessions (stats.compare_sessions), at alpha / m for each of the session's m
gated items as it runs (Bonferroni), then by Holm (or Benjamini-Hochberg) over all of them when the session
ends. A failure (OOM, error, timeout) where the baseline was ok is a regression. A significant improvement
beyond the threshold says the baseline is stale. A launch-bound configuration measured on a host with another
CPU than every session of its baseline is not comparable: its throughput follows the host CPU as much as the
GPU."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .metrics import GATE_METRICS
from .records import Record, measurement_change
from .stats import (
    SessionComparison,
    adjust,
    between_session_variance,
    cliffs_magnitude,
    compare_paired,
    compare_sessions,
    pooled_variance,
    rounds_needed,
    variance_prior,
)
from .store import Baseline, BaselineError, BaselineStore, host_key

if TYPE_CHECKING:
    from .hardware.gpu import Hardware
    from .settings import Settings

# Worst first: the outcome of a test judged on several metrics is the worst of theirs.
SEVERITY = (
    "error",
    "regression",
    "improvement",
    "not-comparable",
    "underpowered",
    "no-baseline",
    "unchanged",
)
# Below this mean GPU utilisation (NVML, % of time a kernel ran) a configuration is launch-bound: the host CPU
# that schedules and launches the work sets its pace as much as the GPU does. Between hosts of one kind, the
# configurations measured busier than this moved little and those at 80-87% moved as launch-bound ones do
# (docs/RESULTS.md), so the line sits above the latter.
LAUNCH_BOUND_GPU_UTIL_PCT = 90.0
# Host facts compared between a record and its baseline's sessions: (record field, label, blocks
# launch-bound).
HOST_FIELDS = (
    ("host_cpu_model", "CPU", True),
    ("host_cpus_usable", "usable CPUs", True),
    ("host_cpu_quota", "CPU quota", True),
    ("host_memory_limit_bytes", "memory limit", False),
    ("host_kernel", "kernel", False),
)
_LEGACY_HOST_FIELDS = {"host_cpu_model": "cpu_model", "host_cpus_usable": "cpu_count"}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # one of SEVERITY
    message: str
    comparison: SessionComparison | None = None
    baseline_ref: str | None = None
    metric: str | None = None
    host_differences: tuple[str, ...] = ()
    against: str = "baseline"  # or "reference": the other arm of an interleaved A/B trial

    @property
    def stale(self) -> bool:
        """A significant improvement beyond the threshold over a stored baseline: it no longer describes this
        hardware. (Beating an A/B reference arm says nothing about stored baselines.)"""
        return self.outcome == "improvement" and self.against == "baseline"

    def as_record_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "gate_verdict": self.outcome,
            "gate_message": self.message,
            "gate_baseline": self.baseline_ref,
            "gate_stale": self.stale,
            "gate_metric": self.metric,
            "gate_host_differences": list(self.host_differences),
            "gate_against": self.against,
        }
        if self.comparison is not None:
            fields |= {f"gate_{k}": v for k, v in asdict(self.comparison).items()}
            fields["gate_change"] = self.comparison.change
        return fields


def is_launch_bound(sessions: Sequence[dict[str, Any]]) -> bool:
    """Launch-bound (host-sensitive) when the baseline's sessions kept the GPU busy less than
    LAUNCH_BOUND_GPU_UTIL_PCT of the time on average; always on CPU-only machines (the host is the
    hardware)."""
    utils = [s.get("gpu_util_mean_pct") for s in sessions]
    if not utils or any(u is None for u in utils) or any(not s.get("gpus") for s in sessions):
        return True
    return sum(utils) / len(utils) < LAUNCH_BOUND_GPU_UTIL_PCT


def _host_value(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    return record.get(_LEGACY_HOST_FIELDS[name]) if value is None and name in _LEGACY_HOST_FIELDS else value


def host_differences(record: dict[str, Any], sessions: Sequence[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(description, blocks launch-bound comparison) for each host fact of `record` that no session shares."""
    found = []
    for name, label, blocks in HOST_FIELDS:
        now = _host_value(record, name)
        before = {_host_value(s, name) for s in sessions}
        if now not in before and now is not None:
            was = ", ".join(sorted(str(b) for b in before))
            found.append((f"{label}: baseline {was}, now {now}", blocks))
    return found


def beyond_threshold(change: float, higher_is_better: bool, threshold: float) -> tuple[bool, bool]:
    """(worse, better): is the relative change beyond the threshold in the bad, or in the good, direction."""
    worse = change <= -threshold if higher_is_better else change >= threshold
    better = change >= threshold if higher_is_better else change <= -threshold
    return worse, better


def describe(c: SessionComparison, metric: str, alpha: float, before: str, count: str, noise: str) -> str:
    """A comparison as the verdict message gives it: both figures, the change and its interval, p, Cliff's
    delta and the noise it was judged against. `before`: what the earlier figure is (baseline, reference);
    `count`: what it rests on; `noise`: which spread the test used."""
    _, scale, unit = GATE_METRICS[metric]
    confidence = 1 - 2 * alpha
    return (
        f"{metric}: {before} {c.median_base * scale:,.1f}{unit} ({count}), now {c.median_new * scale:,.1f}"
        f"{unit}: {c.change:+.1%} (ratio {c.ratio:.3f}, {confidence:.2%} CI [{c.ratio_low:.3f}, "
        f"{c.ratio_high:.3f}]); one-sided p={min(c.p_worse, c.p_better):.2g} (t, {c.df:g} df, alpha "
        f"{alpha:.2g}){effect_size(c)}; {noise} {c.noise_sd:.1%} from {c.noise_source}"
    )


def effect_size(c: SessionComparison) -> str:
    """The effect size at the replicated unit (A/B rounds), or nothing (one new session against a
    baseline)."""
    if c.cliffs_delta is None:
        return ""
    hl = f", Hodges-Lehmann ratio {c.hodges_lehmann_ratio:.3f}" if c.hodges_lehmann_ratio is not None else ""
    return f"; rounds: Cliff's delta {c.cliffs_delta:+.2f} ({cliffs_magnitude(c.cliffs_delta)}){hl}"


def decide(
    c: SessionComparison,
    metric: str,
    threshold: float,
    alpha: float,
    summary: str,
    ref: str,
    against: str = "baseline",
    by_host: bool = False,
) -> Verdict:
    """The decision, the same against a stored baseline and against an A/B reference: a change counts when it
    is beyond the threshold and significant at `alpha`; when the noise hides changes of the threshold's size
    the verdict says so (underpowered) instead of calling it unchanged."""
    worse, better = beyond_threshold(c.change, GATE_METRICS[metric][0], threshold)
    if worse and c.p_worse < alpha:
        return Verdict("regression", f"REGRESSION {summary}", c, ref, metric, against=against)
    if better and c.p_better < alpha:
        what = (
            "stale baseline (significant improvement) "
            if against == "baseline"
            else "IMPROVEMENT over the reference "
        )
        remedy = "; refresh it with --infperf-save-replace" if against == "baseline" else ""
        return Verdict("improvement", f"{what}{summary}{remedy}", c, ref, metric, against=against)
    if c.detectable > threshold:
        return Verdict(
            "underpowered",
            f"{summary}; {could_not_tell(c, threshold, against, by_host)}",
            c,
            ref,
            metric,
            against=against,
        )
    return Verdict("unchanged", f"{summary}; {within(c, threshold)}", c, ref, metric, against=against)


def could_not_tell(c: SessionComparison, threshold: float, against: str, by_host: bool = False) -> str:
    """Why an underpowered verdict could not tell, and what would let it."""
    if against != "baseline":
        return (
            f"at this noise only changes beyond {c.detectable:.1%} can be told apart, not the {threshold:.0%} "
            "threshold: allow more rounds (--infperf-ab-max-rounds) or use a larger threshold"
        )
    if np.isinf(c.detectable) and by_host:
        return (
            "this host is not among the baseline's, and this launch-bound configuration moves between hosts by "
            "more than between sessions on one host; the baseline's sessions come from one host, so no change "
            "can be told apart on another: add sessions from other hosts (--infperf-save on them, infperf "
            "baseline add) or gate it with interleaved A/B (--infperf-ab-reference)"
        )
    if np.isinf(c.detectable):
        return (
            "no change can be told apart from one baseline session without a prior from other "
            "configurations: add sessions from other days or hosts (--infperf-save, infperf baseline add) or "
            "gate it with interleaved A/B (--infperf-ab-reference)"
        )
    more = "sessions from other hosts" if by_host else "sessions"
    return (
        f"at this noise only changes beyond {c.detectable:.1%} can be told apart, not the {threshold:.0%} "
        f"threshold: add {more} to the baseline, gate it with interleaved A/B (--infperf-ab-reference), or "
        f"use a threshold of {c.detectable:.0%} or more"
    )


def within(c: SessionComparison, threshold: float) -> str:
    """What `unchanged` claims: no significant change beyond the threshold; 'within the threshold' only where
    the whole interval is."""
    if 1 - threshold <= c.ratio_low and c.ratio_high <= 1 + threshold:
        return f"the interval lies within the ±{threshold:.0%} threshold"
    return (
        f"no significant change, but the interval reaches beyond ±{threshold:.0%}, so a change of the "
        "threshold's size is not ruled out"
    )


def judge_metric(
    record: Record,
    baseline: Baseline,
    metric: str,
    threshold: float,
    alpha: float,
    prior: Prior,
    floor: float,
    by_host: bool = False,
) -> Verdict:
    """One metric of an ok record against a comparable baseline, at the per-item `alpha`. Launch-bound
    configurations never assume less than their class's mean between-session variance: two sessions that agree
    on their own host say little about the next host (docs/RESULTS.md, verdicts across machines). `by_host`:
    the record comes from a host none of the baseline's sessions ran on, and the configuration is
    launch-bound, so the unit of replication is the host (`replicated_by_host`)."""
    ref = str(baseline.path)
    new = record.get(f"{metric}_samples")
    sessions = baseline.samples_by_host(metric) if by_host else baseline.samples(metric)
    if not new or not sessions:
        where = "this run" if not new else f"baseline {ref}"
        return Verdict("no-baseline", f"{metric}: {where} has no per-repeat samples of it", None, ref, metric)
    class_mean = prior.class_mean if is_launch_bound(baseline.ok_sessions) else 0.0
    unit = "host" if by_host else "session"
    c = compare_sessions(
        new, sessions, GATE_METRICS[metric][0], alpha, (prior.s0_var, prior.d0), floor, class_mean, unit
    )
    summary = describe(c, metric, alpha, "baseline", f"{c.sessions} {unit}(s)", f"between-{unit} noise")
    return decide(c, metric, threshold, alpha, summary, ref, by_host=by_host)


def replicated_by_host(record: Record, baseline: Baseline, launch_bound: bool) -> bool:
    """Whether a launch-bound record is judged with the host as its unit: it ran on a host that none of the
    baseline's sessions ran on. Such configurations move between hosts of one kind by far more than between
    sessions on one host (docs/RESULTS.md, the stored-baseline A/A on an unseen host), so sessions from one
    host cannot say what another host gives; GPU-bound ones move little."""
    return launch_bound and host_key(record) not in baseline.hosts()


def judge_paired(
    record: dict[str, Any], reference: dict[str, Any], settings: "Settings", alpha: float, ref: str
) -> Verdict:
    """An ok A/B record against its reference arm's measurement (same trial, same host, interleaved rounds):
    every gated metric by `stats.compare_paired`, the worst deciding. `ref` names the reference arm."""
    verdicts = []
    for metric in settings.gate_metrics:
        new, old = record.get(f"{metric}_samples"), reference.get(f"{metric}_samples")
        if not new or not old:
            verdicts.append(
                Verdict(
                    "no-baseline",
                    f"{metric}: no per-round samples of it in both arms",
                    None,
                    ref,
                    metric,
                    against="reference",
                )
            )
            continue
        c = compare_paired(new, old, GATE_METRICS[metric][0], alpha)
        summary = describe(c, metric, alpha, "reference", f"{c.repeats_new} rounds", "round-to-round noise")
        verdicts.append(decide(c, metric, settings.threshold, alpha, summary, ref, "reference"))
    return worst(verdicts)


def reference_failure_verdict(record: dict[str, Any], reference: dict[str, Any], ref: str) -> Verdict:
    """A/B trial outcomes that are not two ok arms: the candidate failing where the reference ran is a
    regression; a reference that failed leaves nothing to judge against. `ref` names the reference arm."""
    if reference["status"] == "ok" and record["status"] != "ok":
        return Verdict(
            "regression",
            f"REGRESSION {record['status']} where the reference ran ok "
            f"({reference['throughput_tok_s']:,.1f} tok/s): {record.get('reason')}",
            baseline_ref=ref,
            against="reference",
        )
    return Verdict(
        "no-baseline",
        f"the reference arm did not run ok ({reference['status']}): {reference.get('reason')}",
        baseline_ref=ref,
        against="reference",
    )


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The outcome of several metrics: the worst one's, with every metric's message."""
    head = min(verdicts, key=lambda v: SEVERITY.index(v.outcome))
    if len(verdicts) == 1:
        return head
    return Verdict(
        head.outcome,
        " | ".join(v.message for v in verdicts),
        head.comparison,
        head.baseline_ref,
        head.metric,
        head.host_differences,
        head.against,
    )


@dataclass(frozen=True)
class Prior:
    """What the alike configurations of a baseline folder say about between-session variance: the
    empirical-Bayes prior (s0^2, d0) and the plain mean variance of the class (a floor for host-sensitive
    configurations)."""

    s0_var: float = 0.0
    d0: float = 0.0
    class_mean: float = 0.0


def pooled_priors(
    baselines: Sequence[Baseline], metric: str, exclude: Baseline | None = None, by_host: bool = False
) -> dict[bool, Prior]:
    """Per class (keyed by is_launch_bound): the prior of between-session variance over alike configurations,
    fitted by empirical Bayes (stats.variance_prior): what another session of a configuration like this one
    moves by, and how much that says about this one; and the class's pooled mean variance. `exclude`: the
    configuration being judged, whose own sessions already count once in its own variance. `by_host`: the
    variance between hosts (each configuration's sessions grouped by host), the prior of a record judged by
    host."""
    parts: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
    for baseline in baselines:
        if baseline is exclude or (
            exclude is not None and baseline.path == exclude.path and baseline.identity == exclude.identity
        ):
            continue
        groups = baseline.samples_by_host(metric) if by_host else baseline.samples(metric)
        parts[is_launch_bound(baseline.ok_sessions)].append(between_session_variance(groups))
    return {bound: Prior(*variance_prior(found), pooled_variance(found)[0]) for bound, found in parts.items()}


def judge_against(
    record: Record,
    baseline: Baseline,
    settings: "Settings",
    alpha: float,
    priors: Any,
    metrics: Sequence[str] | None = None,
) -> Verdict:
    """An ok record against a comparable baseline: the host check, then every gated metric (`metrics`, else
    the settings' gate_metrics) at `alpha`; `priors(metric, launch_bound, by_host)` gives the class's
    Prior."""
    if not baseline.ok_sessions:
        return Verdict(
            "no-baseline", f"baseline {baseline.path} has no ok session", baseline_ref=str(baseline.path)
        )
    change = measurement_change(record, [s.get("measurement_version") for s in baseline.ok_sessions])
    if change:  # the store never hands such a baseline over; `infperf compare` pairs records of any version
        return Verdict("not-comparable", change, baseline_ref=str(baseline.path))
    launch_bound = is_launch_bound(baseline.ok_sessions)
    differences = host_differences(record, baseline.ok_sessions)
    notes = tuple(text for text, _ in differences)
    blocking = [text for text, blocks in differences if blocks]
    if launch_bound and blocking:
        return Verdict(
            "not-comparable",
            f"host differs ({'; '.join(blocking)}) and this configuration is "
            f"launch-bound (GPU busy < {LAUNCH_BOUND_GPU_UTIL_PCT:.0f}% of the time), so "
            "its throughput follows the host CPU: save a baseline on this kind of host",
            baseline_ref=str(baseline.path),
            host_differences=notes,
        )
    by_host = replicated_by_host(record, baseline, launch_bound)
    verdict = worst(
        [
            judge_metric(
                record,
                baseline,
                metric,
                settings.threshold,
                alpha,
                priors(metric, launch_bound, by_host),
                settings.noise_floor,
                by_host,
            )
            for metric in metrics or settings.gate_metrics
        ]
    )
    extra = (f"; host differs: {'; '.join(notes)}" if notes else "") + (
        f"; baseline note: {baseline.note}" if baseline.note else ""
    )
    if extra:
        verdict = dataclasses.replace(verdict, message=verdict.message + extra, host_differences=notes)
    return verdict


def failure_verdict(record: Record, baseline: Baseline) -> Verdict | None:
    """OOM, error or timeout where the baseline was ok is a regression; None when the baseline has no ok
    session."""
    if not baseline.ok_sessions:
        return None
    medians = ", ".join(f"{s['throughput_tok_s']:,.1f}" for s in baseline.ok_sessions)
    return Verdict(
        "regression",
        f"REGRESSION {record['status']} where baseline {baseline.path} was ok in "
        f"{len(baseline.ok_sessions)} session(s) ({medians} tok/s): {record.get('reason')}",
        baseline_ref=str(baseline.path),
    )


def correct(records: Sequence[dict[str, Any]], settings: "Settings", family: int) -> list[dict[str, Any]]:
    """The multiple-testing correction over judged records (gate_* fields): adds gate_p_adjusted, turns
    significant changes beyond the threshold into regressions or stale baselines, and returns the records
    whose verdict it changed. `family`: how many tests the session planned (unjudged ones count as p = 1)."""
    s = settings
    judged = [r for r in records if r.get("gate_p_worse") is not None]
    if not judged:
        return []
    padding = [1.0] * (max(family, len(judged)) - len(judged))
    worse = adjust([r["gate_p_worse"] for r in judged] + padding, s.multiple_testing)
    better = adjust([r["gate_p_better"] for r in judged] + padding, s.multiple_testing)
    changed = []
    for r, p_worse, p_better in zip(judged, worse, better):
        beyond_worse, beyond_better = beyond_threshold(
            r["gate_change"], GATE_METRICS[r["gate_metric"]][0], s.threshold
        )
        r["gate_p_adjusted"] = min(p_worse, p_better)
        if beyond_worse and p_worse < s.alpha and r["gate_verdict"] != "regression":
            r["gate_verdict"], r["gate_stale"] = "regression", False
            r["gate_message"] = (
                f"REGRESSION ({s.multiple_testing}, adjusted p={p_worse:.2g}) {r['gate_message']}"
            )
            changed.append(r)
        elif beyond_better and p_better < s.alpha and r["gate_verdict"] in ("unchanged", "underpowered"):
            stale = r.get("gate_against", "baseline") == "baseline"
            r["gate_verdict"], r["gate_stale"] = "improvement", stale
            what = "stale baseline" if stale else "IMPROVEMENT over the reference"
            r["gate_message"] = (
                f"{what} ({s.multiple_testing}, adjusted p={p_better:.2g}) {r['gate_message']}"
            )
            changed.append(r)
    return changed


def power_lines(records: Sequence[dict[str, Any]], threshold: float) -> list[str]:
    """What the gate could see, first: how many judged items could tell a change of the threshold and, for
    each of the rest, the smallest change it could tell and what would let it tell the threshold."""
    judged = [
        r for r in records if r.get("gate_verdict") not in (None, "no-baseline", "not-comparable", "error")
    ]
    blind = [r for r in judged if r["gate_verdict"] == "underpowered"]
    unjudged = len(records) - len(judged)
    lines = [
        f"infperf gate power: {len(judged) - len(blind)} of {len(records)} item(s) could tell a change of "
        f"{threshold:.0%}"
        + (f"; {len(blind)} could not" if blind else "")
        + (f"; {unjudged} had no comparable baseline" if unjudged else "")
    ]
    for r in blind:
        seen = r.get("gate_detectable")
        size = (
            "no change at all" if seen is None or seen == float("inf") else f"only changes beyond {seen:.1%}"
        )
        larger = (
            "" if seen is None or seen == float("inf") else f", or a threshold of {math.ceil(seen * 100)}%"
        )
        fix = (
            f"more rounds (--infperf-ab-max-rounds; {r.get('ab_rounds')} ran){larger}"
            if r.get("gate_against") == "reference"
            else f"more baseline sessions from other days or hosts, A/B (--infperf-ab-reference=...){larger}"
        )
        lines.append(f"  {r['case_id']}: could tell {size}; fix: {fix}")
    return lines


def item_alpha(settings: "Settings", family: int) -> float:
    """The level each item is judged at before the whole family is known: alpha / m (Bonferroni), which Holm
    and Benjamini-Hochberg both reject at least as often, so no item fails early that the end would clear."""
    return settings.alpha if settings.multiple_testing == "none" else settings.alpha / max(1, family)


# Verdicts whose session a gated --infperf-save keeps out of the baseline: a regression would become part of
# the baseline it failed against and pass on the next run; an improvement says the baseline is stale, which
# --infperf-save-replace or `infperf baseline add` after review settles explicitly; an error measured nothing.
HELD_BACK_VERDICTS = ("regression", "improvement", "error")


def joins_baseline(verdict: str | None) -> bool:
    """Whether a judged session may join the baseline it was judged against (--infperf-compare
    --infperf-save)."""
    return verdict not in HELD_BACK_VERDICTS


def fails(verdict: Verdict, fail_on: str, require_baseline: bool = False, strict: bool = False) -> bool:
    """An unreadable baseline and a regression always fail (unless fail_on is never); a missing or
    not-comparable baseline only when required or strict; a stale baseline when strict or fail_on is any; an
    underpowered item (it could not tell) only when strict."""
    if verdict.outcome == "error":
        return True
    if verdict.outcome == "underpowered":
        return strict
    if verdict.outcome in ("no-baseline", "not-comparable"):
        return require_baseline or strict
    if fail_on == "never":
        return False
    if verdict.outcome == "improvement":
        return strict or fail_on == "any"
    return verdict.outcome == "regression"


@dataclass
class Gate:
    """The session's gate: looks up each record's baseline, judges it, and at the end applies the
    multiple-testing correction over every gated item."""

    store: BaselineStore
    settings: "Settings"
    hardware: "Hardware"
    planned: int = 1  # tests of this session's gate (m): items x their gated metrics, known after collection
    _priors: dict[tuple[str, str, bool], dict[bool, Prior]] = field(default_factory=dict)
    _folders: dict[str, list[Baseline]] = field(default_factory=dict)

    @property
    def family_size(self) -> int:
        return max(1, self.planned)

    # -- lookup ------------------------------------------------------------------------------------------
    def refs(self, record: dict[str, Any]) -> list[str]:
        """Fingerprints to look in, in order: the named one; else this machine's, then that of a machine with
        just the GPUs the test uses (a 1-GPU test on 4 x H200 compares with the shipped 1 x H200 baseline)."""
        if self.settings.compare != "auto":
            return [str(self.settings.compare)]
        refs = [self.hardware.fingerprint]
        used = record["gpus"] * (
            self.settings.vllm.pipeline_parallel_size if record["engine"] == "vllm" else 1
        )
        if 0 < used < self.hardware.gpu_count:
            refs.append(self.hardware.fingerprint_with(used))
        return refs

    def lookup(self, record: dict[str, Any]) -> tuple[Baseline | None, Verdict | None]:
        """(baseline, None) when there is a comparable one, else (None, the verdict saying why not)."""
        paths = [self.store.path_for(ref, record) for ref in self.refs(record)]
        path = next((p for p in paths if p.exists()), None)
        if path is None:
            return None, Verdict("no-baseline", f"no baseline at {' or '.join(map(str, paths))}")
        try:
            baseline, why_not = self.store.find(path, record)
        except BaselineError as err:
            return None, Verdict("error", str(err), baseline_ref=str(path))
        if baseline is None:
            return None, Verdict("no-baseline", why_not, baseline_ref=str(path))
        return baseline, None

    def priors(self, baseline: Baseline) -> Any:
        """`priors(metric, launch_bound, by_host)` over the other configurations of the baseline's folder
        (same fingerprint and test; the folder read once)."""
        folder = baseline.path.parent

        def prior(metric: str, launch_bound: bool, by_host: bool = False) -> Prior:
            key = (str(baseline.path), metric, by_host)
            if key not in self._priors:
                if str(folder) not in self._folders:
                    self._folders[str(folder)] = self.store.readable(folder)
                self._priors[key] = pooled_priors(
                    self._folders[str(folder)], metric, exclude=baseline, by_host=by_host
                )
            return self._priors[key][launch_bound]

        return prior

    # -- decision ----------------------------------------------------------------------------------------
    def judge(self, record: dict[str, Any], metrics: Sequence[str] | None = None) -> Verdict:
        """The verdict on an ok record, on `metrics` (default: the settings' gate_metrics)."""
        baseline, verdict = self.lookup(record)
        if baseline is None:
            assert verdict is not None
            return verdict
        return judge_against(
            record,
            baseline,
            self.settings,
            item_alpha(self.settings, self.family_size),
            self.priors(baseline),
            metrics,
        )

    def judge_ab(self, record: dict[str, Any], reference: dict[str, Any]) -> Verdict:
        """The verdict on an A/B trial: the candidate's record against its reference arm's (`judge_paired`, or
        `reference_failure_verdict` unless both arms ran ok)."""
        ref = (
            f"A/B reference ({reference['engine']} {reference.get('engine_version')}, torch "
            f"{reference.get('torch_version')})"
        )
        if record["status"] == "ok" and reference["status"] == "ok":
            return judge_paired(
                record, reference, self.settings, item_alpha(self.settings, self.family_size), ref
            )
        return reference_failure_verdict(record, reference, ref)

    def ab_rounds_needed(self, candidate: dict[str, Any], reference: dict[str, Any]) -> int:
        """How many rounds an A/B trial needs, from its first stage (`stats.rounds_needed` on each gated
        metric's per-round samples, the most of them), at this session's per-item alpha and threshold;
        uncapped, so the record can say how far --infperf-ab-max-rounds fell short (the trial caps it)."""
        alpha, s = item_alpha(self.settings, self.family_size), self.settings
        counts = [
            rounds_needed(candidate[key], reference[key], alpha, s.threshold, s.ab_power)
            for metric in s.gate_metrics
            if (key := f"{metric}_samples") and candidate.get(key) and reference.get(key)
        ]
        return max(counts, default=s.ab_rounds)

    def judge_failure(self, record: dict[str, Any]) -> Verdict | None:
        """The verdict on a failed record (see `failure_verdict`); None when there is no baseline to
        compare."""
        baseline, _ = self.lookup(record)
        return None if baseline is None else failure_verdict(record, baseline)

    def finish(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The session's multiple-testing correction over every gated record (see `correct`)."""
        return correct(records, self.settings, self.family_size)

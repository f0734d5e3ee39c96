"""The session's terminal summary: the records table, the gate's verdicts with its power first, what was saved
and what was held back, and why a compared session judged nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .gate import power_lines

if TYPE_CHECKING:
    from .session import InfperfSession


def terminal_summary(session: "InfperfSession", reporter: Any, failed_at_end: list[dict[str, Any]]) -> None:
    records = session.session_records()
    if not records and session.required_but_nothing_judged():
        why = skip_reasons(reporter) or "no infperf test was selected"
        reporter.write_line(
            f"infperf: FAILED: --infperf-require-baseline, and nothing was judged: every test was "
            f"skipped or deselected ({why})",
            red=True,
        )
    if not records:
        return
    from .reports.terminal import gate_table, records_table

    reporter.write_sep("=", f"infperf results ({session.hardware.fingerprint})")
    for line in records_table(records):
        reporter.write_line(line)
    reporter.write_line(f"records: {session.settings.output}")
    if session.reference is not None:
        reporter.write_line(session.ab_arms_line())
    verdicts = [r for r in records if r.get("gate_verdict")]
    s = session.settings
    if verdicts:
        counts = {
            v: sum(r["gate_verdict"] == v for r in verdicts)
            for v in sorted({r["gate_verdict"] for r in verdicts})
        }
        control = (
            f"{s.multiple_testing} over {session.gate.family_size} test(s): family-wise false-alarm rate <= "
            f"{s.alpha}"
            if s.multiple_testing == "holm"
            else f"Benjamini-Hochberg over {session.gate.family_size} test(s): false discovery rate <= {s.alpha}"
            if s.multiple_testing == "bh"
            else f"alpha {s.alpha} per test, no correction"
        )
        reporter.write_sep(
            "-",
            "infperf gate: "
            + ", ".join(f"{n} {v}" for v, n in counts.items())
            + f" (threshold {s.threshold:.0%}; {control})",
        )
        blind = any(r["gate_verdict"] == "underpowered" for r in verdicts)
        for line in power_lines(verdicts, s.threshold):
            reporter.write_line(line, yellow=blind, bold=not blind)
        for line in gate_table(verdicts):
            reporter.write_line(line)
        for r in sorted(verdicts, key=lambda r: r["gate_verdict"] == "unchanged"):
            if r["gate_verdict"] != "unchanged":
                reporter.write_line(f"  {r['case_id']}: {r['gate_message']}")
        if all(r["gate_verdict"] == "no-baseline" for r in verdicts) and s.compare is not None:
            reporter.write_line(nothing_judged(session, verdicts), yellow=True)
        stale = [r["case_id"] for r in verdicts if r.get("gate_stale")]
        if stale:
            reporter.write_line(
                f"infperf: {len(stale)} stale baseline(s) (significantly faster now): "
                f"{', '.join(stale)}; refresh with --infperf-save-replace"
                + ("" if s.strict else "; --infperf-strict fails on them")
            )
        for r in failed_at_end:
            reporter.write_line(
                f"infperf: FAILED at session end by the {s.multiple_testing} correction: "
                f"{r['case_id']}: {r['gate_message']}",
                red=True,
            )
    if s.save:
        reporter.write_line(
            f"infperf: added this session to {session.saved} baseline(s) under "
            f"{s.baselines / session.hardware.fingerprint}"
        )
        for notice in session.store.notices:
            reporter.write_line(f"infperf: {notice}", yellow=True)
    if session.held_back:
        held = ", ".join(f"{case} ({verdict})" for case, verdict in session.held_back)
        reporter.write_line(
            f"infperf: NOT saved, by their verdicts: {held}; after review, add them with "
            f"`infperf baseline add {s.baselines} {s.output}` (or start over with "
            "--infperf-save-replace)",
            yellow=True,
        )


def skip_reasons(reporter: Any) -> str:
    reasons = sorted(
        {
            str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
            for report in reporter.stats.get("skipped", [])
        }
    )
    return "; ".join(reasons[:3]) + (f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else "")


def nothing_judged(session: "InfperfSession", verdicts: list[dict[str, Any]]) -> str:
    """Why a compared session judged nothing, and what to check: a wrong --infperf-baselines folder or a
    hardware fingerprint with no baselines passes every test otherwise, which a CI log easily hides."""
    root, s = session.settings.baselines, session.settings
    present = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )
    where = (
        f"{root} has baselines for {', '.join(present)}"
        if present
        else f"{root} holds no baselines"
        if root.is_dir()
        else f"{root} does not exist"
    )
    wanted = " or ".join(
        sorted({ref for r in verdicts for ref in session.gate.refs(r)})
    )  # where the gate looked
    return (
        f"infperf: nothing was judged: no test found a baseline for {wanted} ({where}); check "
        f"--infperf-baselines and --infperf-compare"
        + ("" if s.require_baseline else ", or add --infperf-require-baseline to fail such tests")
    )

"""Human-readable output: the terminal table of a session's records."""

from __future__ import annotations

from typing import Any, Iterable

from ..gate import SEVERITY


def _fmt(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]], left: int) -> list[str]:
    """Aligned text columns: the first `left` left-aligned, the rest right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        )
        for row in [header, *rows]
    ]


def _against(record: dict[str, Any]) -> str:
    """What a verdict rests on: baseline sessions, or the rounds of an A/B reference arm."""
    if record.get("gate_against") == "reference":
        return f"{record.get('gate_repeats_new') or '-'} A/B rounds"
    return f"{record['gate_sessions']} sessions" if record.get("gate_sessions") else "-"


def gate_table(records: Iterable[dict[str, Any]]) -> list[str]:
    """One line per gated record, regressions first: verdict, change and its interval, p, the noise it was
    judged against and the smallest change that noise lets the gate see."""
    header = ("case", "verdict", "change", "ratio CI", "p", "against", "noise sd", "detectable")
    rows = []
    for r in sorted(
        records, key=lambda r: SEVERITY.index(r["gate_verdict"]) if r["gate_verdict"] in SEVERITY else 0
    ):
        ci = (
            f"{r['gate_ratio_low']:.3f}-{r['gate_ratio_high']:.3f}"
            if r.get("gate_ratio_low") is not None
            else "-"
        )
        p = r.get(
            "gate_p_adjusted",
            None if r.get("gate_p_worse") is None else min(r["gate_p_worse"], r["gate_p_better"]),
        )
        rows.append(
            (
                r["case_id"],
                r["gate_verdict"] + (" (stale)" if r.get("gate_stale") else ""),
                f"{r['gate_change']:+.1%}" if r.get("gate_change") is not None else "-",
                ci,
                f"{p:.2g}" if p is not None else "-",
                _against(r),
                f"{r['gate_noise_sd']:.1%}" if r.get("gate_noise_sd") is not None else "-",
                f"{r['gate_detectable']:.1%}" if r.get("gate_detectable") is not None else "-",
            )
        )
    return _table(header, rows, 2)


def records_table(records: Iterable[dict[str, Any]]) -> list[str]:
    """One line per record: throughput (median of repeats, with min-max), latencies, utilisation, memory."""
    header = (
        "case",
        "status",
        "tok/s",
        "min-max",
        "TTLT ms",
        "TTFT ms",
        "ms/tok norm",
        "GPU %",
        "mem GiB",
        "load s",
    )
    rows = []
    for r in records:
        samples = r.get("throughput_tok_s_samples") or []
        spread = f"{min(samples):,.0f}-{max(samples):,.0f}" if samples else "-"
        rows.append(
            (
                r["case_id"],
                r["status"],
                _fmt(r.get("throughput_tok_s")),
                spread,
                _fmt(r.get("ttlt_s"), 1e3),
                _fmt(r.get("ttft_mean_s"), 1e3, 2),
                _fmt(r.get("normalised_latency_s_per_tok"), 1e3, 3),
                _fmt(r.get("gpu_util_mean_pct"), 1, 0),
                _fmt(r.get("peak_gpu_mem_bytes"), 2**-30, 1),
                _fmt(r.get("load_time_s")),
            )
        )
    lines = _table(header, rows, 2)
    reasons = [
        f"  {r['case_id']}: {r['status']}: {r['reason'].splitlines()[0]}" for r in records if r.get("reason")
    ]
    return lines + reasons

"""Human-readable output: the terminal table of a session's records."""
from __future__ import annotations

from typing import Any, Iterable


def _fmt(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def records_table(records: Iterable[dict[str, Any]]) -> list[str]:
    """One line per record: throughput (median of repeats, with min-max), latencies, utilisation, memory."""
    header = ("case", "status", "tok/s", "min-max", "TTLT ms", "TTFT ms", "ms/tok norm", "GPU %", "mem GiB", "load s")
    rows = []
    for r in records:
        samples = r.get("throughput_tok_s_samples") or []
        spread = f"{min(samples):,.0f}-{max(samples):,.0f}" if samples else "-"
        rows.append((r["case_id"], r["status"], _fmt(r.get("throughput_tok_s")), spread, _fmt(r.get("ttlt_s"), 1e3),
                     _fmt(r.get("ttft_mean_s"), 1e3, 2), _fmt(r.get("normalised_latency_s_per_tok"), 1e3, 3),
                     _fmt(r.get("gpu_util_mean_pct"), 1, 0), _fmt(r.get("peak_gpu_mem_bytes"), 2**-30, 1),
                     _fmt(r.get("load_time_s"))))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    reasons = [f"  {r['case_id']}: {r['status']}: {r['reason'].splitlines()[0]}" for r in records if r.get("reason")]
    return lines + reasons

"""`infperf compare`: two sets of records (or stored baselines) paired by configuration and judged by the
gate's own code, as a table, CSV, JSON and a PNG of the ratios; `load_source` reads either kind of source."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .record_files import read_records
from .reports.figures import pyplot
from .stats import cliffs_delta, cliffs_magnitude, wilcoxon_p
from .store import BaselineStore

CONFIG_FIELDS = ("engine", "model", "gpus", "batch_size", "workload")
# What `compare --pair-by` may pair on: leaving `engine` out pairs HF with vLLM records (the study's engine
# table).
PAIRABLE_FIELDS = (*CONFIG_FIELDS, "dtype", "num_prompts", "hardware_fingerprint")


def load_source(source: Path) -> list[dict[str, Any]]:
    """A records file, or a baselines folder for one hardware fingerprint (e.g. baselines/h100-80gb-x1)."""
    source = Path(source)
    if source.is_dir():
        return BaselineStore(source.parent).all_records(source.name)
    return read_records(source)


def _config(record: dict[str, Any], fields: tuple[str, ...] = CONFIG_FIELDS) -> tuple[Any, ...]:
    return tuple(record.get(f) for f in fields)


def _natural(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """Sort key of a configuration: numbers as numbers (batch 16 before 128), then text."""
    return tuple((0, x) if isinstance(x, (int, float)) else (1, str(x)) for x in key)


def _label(source: Path, records: list[dict[str, Any]]) -> str:
    prints = sorted({r["hardware_fingerprint"] for r in records})
    versions = sorted({f"{r['engine']} {r.get('engine_version')}" for r in records})
    return f"{source.name} ({', '.join(prints)}; {', '.join(versions)})"


def compare(
    a_source: Path,
    b_source: Path,
    metric: str = "throughput_tok_s",
    gate_settings: Any = None,
    pair_by: tuple[str, ...] = CONFIG_FIELDS,
) -> dict[str, Any]:
    """Pair configurations present in both; ratio = B / A per configuration; tests over the pairs. With
    `gate_settings` (a Settings), each pair also gets the gate's verdict: A's records of a configuration are
    the baseline's sessions, B's newest record is the new session; the correction runs over all pairs.
    `pair_by`: the fields a configuration is, e.g. without `engine` to pair HF records with vLLM ones."""
    a, b = load_source(a_source), load_source(b_source)
    a_all: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in a:
        a_all[_config(r, pair_by)].append(r)
    a_by = {
        k: [r for r in rs if r["status"] == "ok" and r.get(metric) is not None] for k, rs in a_all.items()
    }
    a_by = {k: rs for k, rs in a_by.items() if rs}
    b_by: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in sorted(b, key=lambda r: str(r.get("timestamp"))):
        if (r["status"] == "ok" and r.get(metric) is not None) or (
            gate_settings and r["status"] in ("oom", "error")
        ):
            b_by[_config(r, pair_by)] = r
    keys = sorted(set(a_by) & set(b_by), key=_natural)
    rows = []
    for k in keys:
        base_value = float(np.exp(np.mean([np.log(r[metric]) for r in a_by[k]])))
        new = b_by[k]
        value = new.get(metric) if new["status"] == "ok" else None
        rows.append(
            dict(zip(pair_by, k))
            | {
                "a": base_value,
                "b": value,
                "sessions_a": len(a_by[k]),
                "status_b": new["status"],
                "ratio": value / base_value if value else None,
            }
        )
    if gate_settings is not None:
        _gate_rows(rows, [a_all[k] for k in keys], [b_by[k] for k in keys], Path(a_source), gate_settings)
    result: dict[str, Any] = {
        "metric": metric,
        "pair_by": list(pair_by),
        "a": _label(Path(a_source), a),
        "b": _label(Path(b_source), b),
        "pairs": len(rows),
        "unpaired_a": len(a_by) - len(rows),
        "unpaired_b": len(b_by) - len(rows),
        "rows": rows,
    }
    measured = [r for r in rows if r["ratio"] is not None]
    if measured:
        av, bv = [r["a"] for r in measured], [r["b"] for r in measured]
        ratios = np.array([r["ratio"] for r in measured])
        result |= {
            "mean_ratio": float(ratios.mean()),
            "median_ratio": float(np.median(ratios)),
            "geomean_ratio": float(np.exp(np.log(ratios).mean())),
            "wilcoxon_p": wilcoxon_p(bv, av, "two-sided") if len(measured) >= 2 else None,
            "cliffs_delta": cliffs_delta(bv, av),
        }
        result["cliffs_magnitude"] = cliffs_magnitude(result["cliffs_delta"])
    return result


def _gate_rows(
    rows: list[dict[str, Any]],
    sessions: list[list[dict[str, Any]]],
    news: list[dict[str, Any]],
    source: Path,
    settings: Any,
) -> None:
    """The gate's verdict on each pair, as `infperf compare` exit codes need it (same code as the
    plugin's)."""
    from .gate import correct, failure_verdict, item_alpha, judge_against, pooled_priors
    from .store import IDENTITY_FIELDS, Baseline

    baselines = [Baseline(source, {f: runs[-1].get(f) for f in IDENTITY_FIELDS}, runs) for runs in sessions]
    family = len(rows) * len(settings.gate_metrics)
    judged = []
    for row, baseline, new in zip(rows, baselines, news):
        if new["status"] == "ok":
            verdict = judge_against(
                new,
                baseline,
                settings,
                item_alpha(settings, family),
                lambda m, bound, by_host, b=baseline: pooled_priors(baselines, m, exclude=b, by_host=by_host)[
                    bound
                ],
            )
        else:  # A's configurations all have ok sessions (see compare), so this is a verdict
            verdict = failure_verdict(new, baseline)
            assert verdict is not None
        judged.append(verdict.as_record_fields())
    correct(judged, settings, family)
    for row, fields in zip(rows, judged):
        row |= {
            "verdict": fields["gate_verdict"],
            "change": fields.get("gate_change"),
            "p_adjusted": fields.get("gate_p_adjusted"),
            "stale": fields["gate_stale"],
            "message": fields["gate_message"],
        }


def compare_table(result: dict[str, Any]) -> list[str]:
    fields = result["pair_by"]
    names = {"batch_size": "batch", "hardware_fingerprint": "hardware"}
    width = {f: max([len(names.get(f, f))] + [len(str(r[f])) for r in result["rows"]]) for f in fields}
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        " ".join(f"{names.get(f, f):{width[f]}}" for f in fields)
        + f" {'A':>12} {'B':>12} {'B/A':>7}"
        + ("  verdict" if any("verdict" in r for r in result["rows"]) else ""),
    ]
    for r in result["rows"]:
        b = f"{r['b']:>12,.1f}" if r["b"] is not None else f"{r['status_b']:>12}"
        ratio = f"{r['ratio']:>7.3f}" if r["ratio"] is not None else f"{'-':>7}"
        verdict = ""
        if "verdict" in r:
            verdict = f"  {r['verdict']}" + (" (stale)" if r["stale"] else "")
            if r.get("p_adjusted") is not None:
                verdict += f" (p_adj={r['p_adjusted']:.2g}, {r['sessions_a']} session(s) in A)"
        lines.append(
            " ".join(f"{str(r[f]):{width[f]}}" for f in fields) + f" {r['a']:>12,.1f} {b} {ratio}{verdict}"
        )
    if result["pairs"] and result.get("mean_ratio") is not None:
        p = result["wilcoxon_p"]
        lines.append(
            f"{result['pairs']} paired configurations ({result['unpaired_a']} only in A, "
            f"{result['unpaired_b']} only in B): {result['metric']} B/A mean {result['mean_ratio']:.3f}, "
            f"median {result['median_ratio']:.3f}, geometric mean {result['geomean_ratio']:.3f}; "
            f"Wilcoxon p={'n/a' if p is None else f'{p:.4g}'}; Cliff's delta {result['cliffs_delta']:+.2f} "
            f"({result['cliffs_magnitude']})"
        )
    else:
        lines.append("no configuration is present (status ok) in both")
    return lines


def write_compare(
    result: dict[str, Any], csv_path: Path | None, json_path: Path | None, plot_path: Path | None
) -> None:
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(
                f,
                fieldnames=[
                    *result["pair_by"],
                    "a",
                    "b",
                    "ratio",
                    "sessions_a",
                    "status_b",
                    "verdict",
                    "change",
                    "p_adjusted",
                    "stale",
                    "message",
                ],
            )
            writer.writeheader()
            writer.writerows(result["rows"])
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    rows = [r for r in result["rows"] if r["ratio"] is not None]
    if plot_path and rows:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rows)), 4))
        ax.bar(range(len(rows)), [r["ratio"] for r in rows], color="tab:blue")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(
            range(len(rows)),
            ["-".join(str(r[f]) for f in result["pair_by"]) for r in rows],
            rotation=90,
            fontsize=7,
        )
        ax.set_ylabel(f"{result['metric']} B / A")
        ax.set_title(f"B: {result['b']}\nvs A: {result['a']}", fontsize=8)
        fig.tight_layout()
        fig.savefig(plot_path, dpi=120)
        plt.close(fig)

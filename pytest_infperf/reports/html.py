"""The report users open first: one self-contained HTML file, no server and no network needed.

A Jinja2 template (templates/report.html.j2) lays it out so it answers first: the headline (fastest
configuration per engine and model, the engines' ratio, gate verdicts with regressions first, out-of-memory
boundaries, energy per token), then one section per engine, model and workload with an interactive landscape
(GPUs x batch size, plotly with plotly.js inlined: hover gives the value, its spread over the repeats and the
knobs; OOM cells and unmeasured cells look different) and throughput against batch size with error bars, then
the statistics. Tables are pandas' own HTML."""

from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..gate import SEVERITY


@dataclass
class Cell:
    """One (GPUs, batch size) cell of a landscape: the best ok record there (tuning landscapes hold several
    knob settings per cell, so the knobs that produced the value are kept), else the failure."""

    status: str
    value: float | None = None
    sd: float | None = None
    repeats: int = 0
    knobs: str = ""
    record: dict[str, Any] = field(default_factory=dict)


def _knobs(record: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((record.get("knobs") or {}).items())) or "defaults"


def landscape_cells(records: Sequence[dict[str, Any]], metric: str) -> dict[tuple[int, int], Cell]:
    """(GPUs, batch size) -> Cell over one group's records."""
    cells: dict[tuple[int, int], Cell] = {}
    for r in records:
        key = (r["gpus"], r["batch_size"])
        if r["status"] == "ok" and r.get(metric) is not None:
            if key in cells and cells[key].status == "ok" and cells[key].value >= r[metric]:
                continue
            samples = r.get(f"{metric}_samples") or [r[metric]]
            sd = statistics.stdev(samples) if len(samples) > 1 else None
            cells[key] = Cell("ok", r[metric], sd, len(samples), _knobs(r), r)
        elif key not in cells:
            cells[key] = Cell(r["status"], knobs=_knobs(r), record=r)
    return cells


def _stable_id(text: str) -> str:
    """An element id made from what it shows, so one report's HTML is the same byte for byte on every run
    (plotly and pandas otherwise draw a random id each time)."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _figure_html(figure: Any) -> str:
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"fig-{_stable_id(figure.to_json())}",
        config={"responsive": True, "displaylogo": False},
    )


def landscape_figure(cells: dict[tuple[int, int], Cell], metric: str, unit: str) -> str:
    """The interactive landscape: a heatmap of GPUs x batch size with the value in each cell; OOM and failed
    cells grey and labelled, unmeasured cells left blank; the best cell starred."""
    import plotly.graph_objects as go

    gpus = sorted({g for g, _ in cells})
    batches = sorted({b for _, b in cells})
    xs, ys = [str(b) for b in batches], [str(g) for g in gpus]  # categories, in numeric order
    ok_cells = {k: c for k, c in cells.items() if c.status == "ok"}
    best = max(ok_cells, key=lambda k: ok_cells[k].value) if ok_cells else None
    z, text, hover, failed, failed_text = [], [], [], [], []
    for g in gpus:
        z_row, text_row, hover_row, failed_row, failed_text_row = [], [], [], [], []
        for b in batches:
            cell = cells.get((g, b))
            ok = cell is not None and cell.status == "ok"
            z_row.append(cell.value if ok else None)
            text_row.append((f"{cell.value:,.0f}" + (" ★" if (g, b) == best else "")) if ok else "")
            spread = f" ± {cell.sd:,.1f} (sd of {cell.repeats} repeats)" if ok and cell.sd is not None else ""
            hover_row.append(
                f"{cell.value:,.1f} {unit}{spread}<br>knobs: {cell.knobs}"
                if ok
                else f"{cell.status.upper()}: {(cell.record.get('reason') or '')[:80]}"
                if cell
                else "not measured"
            )
            failed_row.append(1 if cell is not None and not ok else None)
            failed_text_row.append(cell.status.upper() if cell is not None and not ok else "")
        z.append(z_row), text.append(text_row), hover.append(hover_row)
        failed.append(failed_row), failed_text.append(failed_text_row)
    figure = go.Figure()
    figure.add_trace(
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="GPUs %{y}, batch %{x}<br>%{customdata}<extra></extra>",
            colorscale="Viridis",
            colorbar={"title": {"text": unit}},
            hoverongaps=False,
        )
    )
    figure.add_trace(
        go.Heatmap(
            x=xs,
            y=ys,
            z=failed,
            text=failed_text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="GPUs %{y}, batch %{x}<br>%{customdata}<extra></extra>",
            colorscale=[[0, "#9aa0a8"], [1, "#9aa0a8"]],
            showscale=False,
            hoverongaps=False,
        )
    )
    figure.update_layout(
        title=f"landscape: {metric} ({unit}) by GPUs and batch size; grey = failed or OOM, blank "
        "= not measured, ★ = best",
        xaxis_title="batch size",
        yaxis_title="GPUs",
        height=140 + 60 * len(gpus),
        margin={"t": 50, "b": 40},
        plot_bgcolor="white",
    )
    return _figure_html(figure)


def lines_figure(cells: dict[tuple[int, int], Cell], metric: str, unit: str) -> str:
    """The metric against batch size (log2 axis), one line per GPU count, error bars = sd of the repeats; a
    batch size that was not measured (or failed) breaks the line instead of being bridged."""
    import plotly.graph_objects as go

    gpus = sorted({g for g, _ in cells})
    batches = sorted({b for _, b in cells})
    figure = go.Figure()
    for g in gpus:
        row = [cells.get((g, b)) for b in batches]
        ok = [c if c is not None and c.status == "ok" else None for c in row]
        figure.add_trace(
            go.Scatter(
                x=batches,
                y=[c.value if c else None for c in ok],
                mode="lines+markers",
                name=f"{g} GPU(s)",
                marker={"size": 8},
                error_y={
                    "type": "data",
                    "array": [c.sd if c and c.sd is not None else 0 for c in ok],
                    "visible": True,
                },
                customdata=[c.knobs if c else "" for c in ok],
                hovertemplate=f"{g} GPU(s), batch %{{x}}: %{{y:,.1f}} {unit}<br>knobs: %{{customdata}}<extra></extra>",
            )
        )
    figure.update_layout(
        title=f"{metric} ({unit}) vs batch size; error bars: sd of the repeats; lines break "
        "where a batch size was not measured",
        xaxis={
            "title": "batch size",
            "type": "log",
            "tickvals": batches,
            "ticktext": [str(b) for b in batches],
        },
        yaxis_title=f"{metric} ({unit})",
        height=380,
        margin={"t": 50, "b": 40},
    )
    return _figure_html(figure)


def tuning_history(
    records: Sequence[dict[str, Any]], metric: str
) -> list[tuple[int, float | None, float | None]]:
    """(evaluation, value or None when it failed, best so far) over an InfPop landscape's records, in the
    order they were evaluated (the landscape file is appended to); [] when the records are not a tuning
    run's."""
    points = [r for r in records if r.get("infpop_point") is not None]
    history, best = [], None
    for i, r in enumerate(points, 1):
        value = r.get(metric) if r["status"] == "ok" else None
        if value is not None and (best is None or value > best):
            best = value
        history.append((i, value, best))
    return history


def history_figure(history: Sequence[tuple[int, float | None, float | None]], metric: str, unit: str) -> str:
    """Best so far against evaluation (how fast the tuner got there), each evaluation's value, failures
    marked."""
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[h[0] for h in history],
            y=[h[2] for h in history],
            mode="lines",
            line={"shape": "hv"},
            name="best so far",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[h[0] for h in history if h[1] is not None],
            y=[h[1] for h in history if h[1] is not None],
            mode="markers",
            name="evaluation",
        )
    )
    failed = [h[0] for h in history if h[1] is None]
    if failed:
        floor = min((h[1] for h in history if h[1] is not None), default=0)
        figure.add_trace(
            go.Scatter(
                x=failed,
                y=[floor] * len(failed),
                mode="markers",
                name="failed / OOM",
                marker={"symbol": "x", "color": "#b3261e", "size": 9},
            )
        )
    figure.update_layout(
        title=f"tuning history: {metric} ({unit}) per evaluation and best so far",
        xaxis_title="evaluation",
        yaxis_title=f"{metric} ({unit})",
        height=340,
        margin={"t": 50, "b": 40},
    )
    return _figure_html(figure)


def _html_table(frame: Any, row_class: Sequence[str] | None = None) -> str:
    """pandas' HTML of a table; `row_class` colours rows (regressions red, stale baselines green)."""
    styler = frame.style.hide(axis="index").format(precision=1, thousands=",", na_rep="")
    if row_class is not None:
        colours = {"regression": "background-color: #fdecea", "improvement": "background-color: #eaf6ee"}
        styler = styler.apply(lambda row: [colours.get(row_class[row.name], "")] * len(row), axis=1)
    return styler.set_uuid(_stable_id(frame.to_json())).to_html()


def _unit(metric: str) -> tuple[float, str]:
    return (1.0, "tok/s") if metric.endswith("tok_s") else (1e3, "ms") if metric.endswith("_s") else (1.0, "")


def _joule_per_token(record: dict[str, Any]) -> float | None:
    per_joule = record.get("tokens_per_joule")
    return 1 / per_joule if per_joule else None


def headline(
    records: Sequence[dict[str, Any]],
    groups: dict[tuple[str, str, str], dict[tuple[int, int], Cell]],
    metric: str,
    unit: str,
) -> dict[str, Any]:
    """What the top of the page says: cards, the best configuration per engine and model, the engines' ratio,
    gate verdicts (regressions first), OOM boundaries and failures."""
    import pandas as pd

    best_rows = []
    for (engine, model, workload), cells in sorted(groups.items()):
        ok = {k: c for k, c in cells.items() if c.status == "ok"}
        if not ok:
            continue
        (g, b), cell = max(ok.items(), key=lambda kv: kv[1].value)
        jpt = _joule_per_token(cell.record)
        best_rows.append(
            {
                "engine": engine,
                "version": cell.record.get("engine_version"),
                "model": model,
                "workload": workload,
                f"best {unit}": round(cell.value, 1),
                "GPUs": g,
                "batch": b,
                "sd": round(cell.sd, 1) if cell.sd is not None else None,
                "knobs": cell.knobs,
                "mJ/token": round(jpt * 1e3, 2) if jpt else None,
                "GPU util %": round(cell.record.get("gpu_util_mean_pct") or 0) or None,
            }
        )
    cards = []
    if best_rows:
        top = max(best_rows, key=lambda r: r[f"best {unit}"])
        cards.append(
            {
                "value": f"{top[f'best {unit}']:,.0f} {unit}",
                "tone": "",
                "label": f"fastest: {top['engine']} {top['model']}, {top['GPUs']} GPU(s), batch {top['batch']}",
            }
        )
    ratio_html, ratio_title = "", ""
    engines = sorted({e for e, _, _ in groups})
    if "hf" in engines and len(engines) > 1:
        rows = []
        for (engine, model, workload), cells in sorted(groups.items()):
            base = groups.get(("hf", model, workload))
            if engine == "hf" or base is None:
                continue
            common = [
                k for k, c in cells.items() if c.status == "ok" and k in base and base[k].status == "ok"
            ]
            if not common:
                continue
            ratios = [cells[k].value / base[k].value for k in common]
            best_e = max(c.value for c in cells.values() if c.status == "ok")
            best_h = max(c.value for c in base.values() if c.status == "ok")
            rows.append(
                {
                    "model": model,
                    "workload": workload,
                    "engine": engine,
                    "configurations in both": len(common),
                    "median ratio": round(statistics.median(ratios), 2),
                    "range": f"{min(ratios):.2f}-{max(ratios):.2f}",
                    "best over best": round(best_e / best_h, 2),
                }
            )
        if rows:
            frame = pd.DataFrame(rows)
            ratio_html = _html_table(frame)
            ratio_title = f"Engines over the HF pipeline ({metric}, same GPUs and batch size)"
            cards.append(
                {
                    "value": f"{statistics.median(frame['median ratio']):.2f}x",
                    "tone": "",
                    "label": "median engine / HF ratio over models",
                }
            )
    gated = [r for r in records if r.get("gate_verdict")]
    verdict_html = ""
    if gated:
        gated.sort(key=lambda r: SEVERITY.index(r["gate_verdict"]) if r["gate_verdict"] in SEVERITY else 0)
        frame = pd.DataFrame(
            [
                {
                    "case": r["case_id"],
                    "verdict": r["gate_verdict"] + (" (stale baseline)" if r.get("gate_stale") else ""),
                    "change": f"{r['gate_change']:+.1%}" if r.get("gate_change") is not None else "",
                    "ratio CI": f"{r['gate_ratio_low']:.3f}-{r['gate_ratio_high']:.3f}"
                    if r.get("gate_ratio_low")
                    else "",
                    "p (one-sided)": f"{min(r['gate_p_worse'], r['gate_p_better']):.2g}"
                    if r.get("gate_p_worse") is not None
                    else "",
                    "against": r.get("gate_against") or "baseline",
                    "noise sd": f"{r['gate_noise_sd']:.1%}" if r.get("gate_noise_sd") is not None else "",
                }
                for r in gated
            ]
        )
        verdict_html = _html_table(frame, [r["gate_verdict"] for r in gated])
        regressions = sum(r["gate_verdict"] == "regression" for r in gated)
        cards.append(
            {
                "value": str(regressions),
                "tone": "bad" if regressions else "good",
                "label": f"regression(s) among {len(gated)} gated tests",
            }
        )
    oom_rows = []
    by_key: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_key[(r["engine"], r["model"], r["workload"], r["gpus"])].append(r)
    for (engine, model, workload, gpus), rows in sorted(by_key.items()):
        ooms = [r["batch_size"] for r in rows if r["status"] == "oom"]
        if ooms:
            oks = [r["batch_size"] for r in rows if r["status"] == "ok"]
            oom_rows.append(
                {
                    "engine": engine,
                    "model": model,
                    "workload": workload,
                    "GPUs": gpus,
                    "largest batch that ran": max(oks) if oks else None,
                    "first OOM batch": min(ooms),
                }
            )
    failures = [r for r in records if r["status"] not in ("ok", "oom")]
    cards.append(
        {
            "value": str(len(oom_rows)),
            "tone": "warn" if oom_rows else "",
            "label": "engine/model/GPU combinations with an OOM boundary",
        }
    )
    energy = [(j, r) for r in records if r["status"] == "ok" and (j := _joule_per_token(r))]
    if energy:
        j, r = min(energy, key=lambda e: e[0])
        cards.append(
            {
                "value": f"{j * 1e3:,.2f} mJ/token",
                "tone": "",
                "label": f"least energy: {r['engine']} {r['model']}, batch {r['batch_size']}",
            }
        )
    return {
        "cards": cards,
        "best": _html_table(pd.DataFrame(best_rows)) if best_rows else "<p>no ok records</p>",
        "engine_ratio": ratio_html,
        "engine_ratio_title": ratio_title,
        "verdicts": verdict_html,
        "oom": _html_table(pd.DataFrame(oom_rows)) if oom_rows else "",
        "failures": _html_table(
            pd.DataFrame(
                [
                    {
                        "case": r["case_id"],
                        "status": r["status"],
                        "reason": (r.get("reason") or "").splitlines()[0][:160],
                    }
                    for r in failures
                ]
            )
        )
        if failures
        else "",
    }


def _ms(record: dict[str, Any], key: str, digits: int) -> float | None:
    """A record's seconds as milliseconds for a table, rounded; None where the record has none."""
    return round(record[key] * 1e3, digits) if record.get(key) is not None else None


def group_table(rows: Sequence[dict[str, Any]], metric: str) -> str:
    import pandas as pd

    scale, unit = _unit(metric)
    ordered = sorted(rows, key=lambda r: (r["gpus"], r["batch_size"]))

    # vLLM splits each first token on its engine core's clock: where a TTFT goes (the rest is the front end)
    split = any(r.get("prefill_p50_s") is not None for r in ordered)
    frame = pd.DataFrame(
        [
            {
                "GPUs": r["gpus"],
                "batch": r["batch_size"],
                "status": r["status"],
                "knobs": _knobs(r),
                f"{metric} ({unit})": round(r[metric] * scale, 1) if r.get(metric) is not None else None,
                "TTFT p50 ms": _ms(r, "ttft_p50_s", 2),
                **(
                    {"queue p50 ms": _ms(r, "queue_p50_s", 2), "prefill p50 ms": _ms(r, "prefill_p50_s", 2)}
                    if split
                    else {}
                ),
                "TPOT mean ms": _ms(r, "tpot_mean_s", 2),
                "E2E p50 ms": _ms(r, "e2e_p50_s", 2),
                "GPU util %": round(r["gpu_util_mean_pct"])
                if r.get("gpu_util_mean_pct") is not None
                else None,
                "mJ/token": round(j * 1e3, 2) if (j := _joule_per_token(r)) else None,
            }
            for r in ordered
        ]
    )
    return _html_table(frame)


def factors_section(analysis: Any) -> dict[str, str]:
    """One (engine, model)'s factor analysis (factors.py): the correlation matrix as an interactive heatmap
    with the r in each cell, and the permutation importances as a table."""
    import pandas as pd
    import plotly.graph_objects as go

    from ..factors import ESTIMATOR, PERMUTATION_REPEATS

    names = analysis.variables
    z = [[analysis.correlation[(a, b)] for b in names] for a in names]
    figure = go.Figure(
        go.Heatmap(
            x=names,
            y=names,
            z=z,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            text=[[f"{v:+.2f}" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="r(%{y}, %{x}) = %{z:+.3f}<extra></extra>",
            colorbar={"title": {"text": "Pearson r"}},
        )
    )
    figure.update_layout(
        title=f"Pearson correlation over {analysis.configurations} configurations",
        height=160 + 45 * len(names),
        margin={"t": 50, "b": 40},
        yaxis_autorange="reversed",
    )
    frame = pd.DataFrame(
        [
            {
                "response": response,
                **{f: f"{m:.3f} ± {sd:.3f}" for f, (m, sd) in by_factor.items()},
                "out-of-fold R²": f"{r2:+.2f}" if (r2 := analysis.cv_r2.get(response)) is not None else "-",
            }
            for response, by_factor in analysis.importance.items()
        ]
    )
    return {
        "slug": f"factors-{analysis.engine}-{analysis.model}".replace("/", "_"),
        "title": f"Latency factors: {analysis.engine} · {analysis.model}",
        "note": f"Permutation importance: the drop in R² when a factor is shuffled (mean ± sd of "
        f"{PERMUTATION_REPEATS} shuffles), estimator {ESTIMATOR}; out-of-fold R² (5 folds) says how "
        "well the factors explain the response at all.",
        "correlation": _figure_html(figure),
        "importance": _html_table(frame.round(3)),
    }


def serving_section(records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Serving records (`vllm serve` under `vllm bench serve`): one table, a row per case and session, with
    the load it ran under, what it delivered and its latencies; and, per model and dataset, latency against
    request rate, a point per session (Poisson rates; closed-loop and unbounded loads have no rate to plot and
    stay in the table)."""
    import pandas as pd
    import plotly.graph_objects as go

    ordered = sorted(records, key=lambda r: (r["case_id"], r.get("timestamp") or ""))
    frame = pd.DataFrame(
        [
            {
                "case": r["case_id"],
                "status": r["status"],
                "measured": (r.get("timestamp") or "")[:16],
                "rate (req/s)": r.get("request_rate"),
                "in flight": r.get("max_concurrency") or "no limit",
                "output tok/s": r.get("throughput_tok_s"),
                "req/s": r.get("request_throughput_req_s"),
                "goodput req/s": r.get("goodput_req_s"),
                "TTFT p50 ms": _ms(r, "ttft_p50_s", 1),
                "TTFT p99 ms": _ms(r, "ttft_p99_s", 1),
                "TPOT p50 ms": _ms(r, "tpot_p50_s", 1),
                "E2E p50 ms": _ms(r, "e2e_p50_s", 1),
                "failed": r.get("failed_requests"),
                "gate": r.get("gate_verdict") or "",
            }
            for r in ordered
        ]
    )
    figure = go.Figure()
    lines: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:  # records keep the rate as vllm bench serve's text ("16", "inf")
        rate = float(r.get("request_rate") or "inf")
        if r["status"] == "ok" and rate != float("inf") and not r.get("max_concurrency"):
            lines[(r["model"], r["workload"].rsplit("-rate", 1)[0])].append(dict(r, rate=rate))
    for (model, dataset), rows in sorted(lines.items()):
        rows.sort(key=lambda r: r["rate"])
        for key, label in (("ttft_p50_s", "TTFT p50"), ("tpot_p50_s", "TPOT p50")):
            figure.add_trace(
                go.Scatter(
                    x=[r["rate"] for r in rows],
                    y=[_ms(r, key, 1) for r in rows],
                    mode="markers",
                    name=f"{model} {dataset}: {label}",
                )
            )
    figure.update_layout(
        title="latency vs request rate (Poisson arrivals)",
        xaxis_title="request rate (req/s)",
        yaxis_title="ms",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return {
        "table": _html_table(frame),
        "figure": _figure_html(figure) if lines else "",
        "count": str(len(records)),
    }


def write_html(
    path: Path,
    title: str,
    records: Sequence[dict[str, Any]],
    metric: str,
    stats: dict[tuple[str, str, str], list[str]],
    analyses: Sequence[Any] = (),
    serving: Sequence[dict[str, Any]] = (),
) -> Path:
    """Render the report of `records` to `path` (one file; plotly.js is inlined); `analyses` are the latency
    factor analyses (factors.FactorAnalysis) to show after the groups, `serving` the serving records (their
    own section: no batch-size landscape)."""
    import jinja2
    from plotly.offline import get_plotlyjs

    scale, unit = _unit(metric)
    scaled = [
        dict(
            r,
            **{
                metric: r[metric] * scale,
                f"{metric}_samples": [x * scale for x in r.get(f"{metric}_samples") or []],
            },
        )
        if r.get(metric) is not None
        else r
        for r in records
    ]
    by_group: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in scaled:
        by_group[(r["engine"], r["model"], r["workload"])].append(r)
    landscapes = {key: landscape_cells(rows, metric) for key, rows in by_group.items()}
    ok = [r for r in records if r["status"] == "ok"]
    days = sorted({r["timestamp"][:10] for r in records if r.get("timestamp")})
    groups = []
    for key, rows in sorted(by_group.items()):
        engine, model, workload = key
        versions = ", ".join(sorted({str(r.get("engine_version")) for r in rows}))
        gpu_names = ", ".join(sorted({str(r.get("gpu_name") or r.get("hardware_fingerprint")) for r in rows}))
        groups.append(
            {
                "slug": "-".join(key).replace("/", "_"),
                "title": f"{engine} · {model} · {workload}",
                "subtitle": f"{engine} {versions} on {gpu_names}; {len(rows)} records",
                "landscape": landscape_figure(landscapes[key], metric, unit),
                "lines": lines_figure(landscapes[key], metric, unit),
                "count": len(rows),
                "history": history_figure(history, metric, unit)
                if (history := tuning_history(rows, metric))
                else "",
                "table": group_table(rows, metric),
                "stats": stats.get(key, []),
            }
        )
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_infperf", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    page = environment.get_template("report.html.j2").render(
        title=title,
        metric=metric,
        plotly_js=get_plotlyjs(),
        groups=groups,
        ok_count=len(ok),
        factors=[factors_section(a) for a in analyses],
        serving=serving_section(serving) if serving else None,
        total_count=len(records),
        hardware=", ".join(
            sorted({str(r.get("gpu_name") or r.get("hardware_fingerprint")) for r in records})
        ),
        measured=days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "no date",
        versions=", ".join(
            sorted({f"{r['engine']} {r['engine_version']}" for r in records if r.get("engine_version")})
        ),
        **headline(scaled, landscapes, metric, unit),
    )
    path.write_text(page)
    return path

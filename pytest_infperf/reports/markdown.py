"""`infperf report`: per (engine, model, workload) a PNG of throughput against batch size and GPU count with
the landscape, the tuning history of an InfPop landscape, ANOVA / Tukey HSD and Pearson lines, the engine
ratios, GPU scaling, the latency study's factors, serving, what did not run ok; summary.md beside them and the
HTML page."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import load_source
from ..stats import anova_tukey, pearson
from .figures import pyplot
from .html import landscape_cells, tuning_history, write_html


def _landscape_figure(
    plt: Any, cells: dict, metric: str, unit: str, title: str, path: Path
) -> tuple[dict[tuple[int, int], float], tuple[int, int]]:
    """One configuration group's PNG: throughput vs batch size (one line per GPU count), vs GPU count, and the
    GPUs x batch landscape with the best cell starred. Returns (the ok cells' values, the best cell)."""
    grid = {k: c.value for k, c in cells.items() if c.status == "ok"}
    gpus = sorted({g for g, _ in cells})
    batches = sorted({b for _, b in cells})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for g in gpus:  # a batch size not measured, or failed, breaks the line (NaN) instead of being bridged
        ys = [grid.get((g, b), np.nan) for b in batches]
        sds = [cells[(g, b)].sd or 0 if (g, b) in grid else 0 for b in batches]
        axes[0].errorbar(batches, ys, yerr=sds, marker="o", capsize=3, label=f"{g} GPU(s)")
    axes[0].set_xscale("log", base=2)
    axes[0].set_xticks(batches, [str(b) for b in batches], fontsize=7)
    axes[0].set(
        xlabel="batch size",
        ylabel=f"{metric} ({unit})",
        title="vs batch size (error bars: sd of repeats)",
    )
    axes[0].legend(fontsize=7)
    for b in batches:
        ys = [grid.get((g, b), np.nan) for g in gpus]
        if len(gpus) == 1 or sum(not np.isnan(y) for y in ys) > 1:
            axes[1].plot(gpus, ys, marker="o", label=f"batch {b}")
    axes[1].set_xticks(gpus)
    axes[1].set(xlabel="GPUs", ylabel=f"{metric} ({unit})", title="vs GPU count")
    axes[1].legend(fontsize=7)
    heat = np.array([[grid.get((g, b), np.nan) for b in batches] for g in gpus])
    image = axes[2].imshow(heat, aspect="auto", origin="lower", cmap="viridis")
    for i, g in enumerate(gpus):
        for j, b in enumerate(batches):
            cell = cells.get((g, b))
            if cell is not None and cell.status == "ok":
                light = image.norm(cell.value) > 0.6  # dark text on the light end of viridis
                axes[2].text(
                    j,
                    i,
                    f"{cell.value:,.0f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if light else "white",
                )
            elif cell is not None:  # failed or OOM: grey and labelled; never measured: left blank
                axes[2].add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color="#9aa0a8"))
                axes[2].text(j, i, cell.status.upper(), ha="center", va="center", fontsize=6)
    axes[2].set_xticks(range(len(batches)), batches, fontsize=7)
    axes[2].set_yticks(range(len(gpus)), gpus)
    axes[2].set(xlabel="batch size", ylabel="GPUs", title="landscape (grey: OOM/failed, blank: not measured)")
    fig.colorbar(image, ax=axes[2], label=f"{metric} ({unit})")
    best = max(grid, key=grid.get)
    # the star sits in the best cell's upper-right corner, clear of the value printed at its centre
    axes[2].scatter(
        [batches.index(best[1]) + 0.36],
        [gpus.index(best[0]) + 0.32],
        marker="*",
        s=90,
        color="red",
        edgecolors="white",
        linewidths=0.5,
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return grid, best


def _history_figure(plt: Any, history: list, metric: str, unit: str, path: Path) -> None:
    """An InfPop landscape's tuning history: each evaluation and the best so far, failures marked."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.step([h[0] for h in history], [h[2] for h in history], where="post", label="best so far")
    ax.scatter(
        [h[0] for h in history if h[1] is not None],
        [h[1] for h in history if h[1] is not None],
        s=14,
        label="evaluation",
    )
    failed = [h[0] for h in history if h[1] is None]
    if failed:
        floor = min((h[1] for h in history if h[1] is not None), default=0)
        ax.scatter(failed, [floor] * len(failed), marker="x", color="#b3261e", label="failed / OOM")
    ax.set(xlabel="evaluation", ylabel=f"{metric} ({unit})", title="tuning history")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _group_statistics(rows: list[dict[str, Any]], metric: str) -> list[str]:
    """ANOVA + Tukey HSD across GPU counts and batch sizes, and Pearson correlations of factors and responses,
    as one line each (the Markdown list and the HTML report's statistics both show them)."""
    lines: list[str] = []
    for factor in ("gpus", "batch_size"):
        samples: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            samples[str(r[factor])] += r.get(f"{metric}_samples") or [r[metric]]
        result = anova_tukey(samples)
        if result["f"] is not None:
            significant = [f"{p['a']} vs {p['b']}" for p in result["tukey"] if p["p"] < 0.05]
            lines.append(
                f"ANOVA across {factor}: F={result['f']:.2f}, p={result['p']:.3g}; Tukey HSD pairs with p<0.05: "
                f"{', '.join(significant) or 'none'}"
            )
    for factor in ("batch_size", "gpus", "input_len_mean_tokens", "output_len_tokens"):
        for target in (metric, "ttlt_s", "normalised_latency_s_per_tok"):
            pairs = [
                (math.log2(r[factor]) if factor == "batch_size" else r[factor], r[target])
                for r in rows
                if r.get(factor) is not None and r.get(target) is not None
            ]
            corr = pearson([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
            if corr:
                name = "log2(batch_size)" if factor == "batch_size" else factor
                lines.append(f"Pearson r({name}, {target}) = {corr[0]:+.3f} (p={corr[1]:.3g})")
    return lines


def report(source: Path, out: Path, metric: str = "throughput_tok_s") -> Path:
    """PNG plots and a Markdown summary of one set of records, per (engine, model, workload), and the
    self-contained HTML report (html.write_html) that users open first."""
    everything = load_source(source)
    from ..serving.cases import ENGINE as SERVING

    serving = [r for r in everything if r["engine"] == SERVING]  # no batch-size landscape: their own table
    everything = [r for r in everything if r["engine"] != SERVING]
    records = [r for r in everything if r["status"] == "ok" and r.get(metric) is not None]
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    everything_by_group: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["engine"], r["model"], r["workload"])].append(r)
    for r in everything:
        everything_by_group[(r["engine"], r["model"], r["workload"])].append(r)
    unit = "tok/s" if metric.endswith("tok_s") else "s" if metric.endswith("_s") else ""
    stats: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    hardware = sorted({f"{r.get('gpu_name') or r['hardware_fingerprint']}" for r in records})
    days = sorted({r["timestamp"][:10] for r in records})
    measured = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "no date"
    md = [
        f"# infperf report: {source}",
        "",
        f"Hardware: {', '.join(hardware) or 'none'}; measured {measured}. "
        f"Metric: `{metric}` (median of repeats). {len(records)} ok records.",
        "",
    ]
    for (engine, model, workload), rows in sorted(groups.items()):
        slug = f"{engine}-{model}-{workload}".replace("/", "_")
        versions = sorted({str(r.get("engine_version")) for r in rows})
        md += [f"## {engine} {', '.join(versions)} · {model} · {workload}", ""]
        cells = landscape_cells(everything_by_group[(engine, model, workload)], metric)
        title = f"{engine} {', '.join(versions)} · {model} · {workload} · {', '.join(hardware)} · {measured}"
        grid, best = _landscape_figure(plt, cells, metric, unit, title, out / f"{slug}.png")
        history = tuning_history(everything_by_group[(engine, model, workload)], metric)
        if history:  # an InfPop landscape: how the tuner got to its optimum
            _history_figure(plt, history, metric, unit, out / f"{slug}-history.png")
            md += [f"![{slug} tuning history]({slug}-history.png)", ""]
        md += [
            f"![{slug}]({slug}.png)",
            "",
            f"Best: {grid[best]:,.1f} at {best[0]} GPU(s), batch {best[1]}.",
            "",
        ]
        stats[(engine, model, workload)] = _group_statistics(rows, metric)
        md += [f"- {line}" for line in stats[(engine, model, workload)]]
        md.append("")
    cells = _medians(records, metric)
    from ..factors import analyse_all

    analyses = analyse_all([r for r in everything if r["status"] == "ok"])
    md += (
        _engine_ratios(cells, metric, out, plt)
        + _gpu_scaling(cells)
        + _factors(analyses, out, plt)
        + _not_ok(everything)
        + _serving(serving)
    )
    summary = out / "summary.md"
    summary.write_text("\n".join(md))
    write_html(out / "summary.html", str(source), everything, metric, stats, analyses, serving)
    return summary


def _factors(analyses: list[Any], out: Path, plt: Any) -> list[str]:
    """The latency study's factor analysis (factors.py) per engine and model: tables and one PNG each."""
    from ..factors import markdown, plot

    md = []
    for analysis in analyses:
        slug = f"factors-{analysis.engine}-{analysis.model}".replace("/", "_")
        plot(analysis, plt, out / f"{slug}.png")
        md += [
            f"## Latency factors: {analysis.engine} · {analysis.model}",
            "",
            *markdown(analysis),
            f"![{slug}]({slug}.png)",
            "",
        ]
    return md


def _serving(records: list[dict[str, Any]]) -> list[str]:
    """Serving records (vllm serve under vllm bench serve) as one table: load, throughput and latency
    medians."""
    if not records:
        return []
    md = [
        "## Serving: vllm serve under vllm bench serve",
        "",
        "| case | status | rate (req/s) | in flight | output tok/s | req/s | TTFT p50 ms | TPOT p50 ms | "
        "E2E p50 ms | failed |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def ms(r: dict[str, Any], key: str) -> str:
        return f"{r[key] * 1e3:,.1f}" if r.get(key) is not None else "-"

    for r in sorted(records, key=lambda r: r["case_id"]):
        tok_s = f"{r['throughput_tok_s']:,.1f}" if r.get("throughput_tok_s") is not None else "-"
        req_s = (
            f"{r['request_throughput_req_s']:,.2f}" if r.get("request_throughput_req_s") is not None else "-"
        )
        md.append(
            f"| {r['case_id']} | {r['status']} | {r.get('request_rate')} | {r.get('max_concurrency') or 'no limit'}"
            f" | {tok_s} | {req_s} | {ms(r, 'ttft_p50_s')} | {ms(r, 'tpot_p50_s')} | {ms(r, 'e2e_p50_s')} | "
            f"{r.get('failed_requests', '-')} |"
        )
    return md + [""]


def _medians(records: list[dict[str, Any]], metric: str) -> dict[tuple[Any, ...], float]:
    """(engine, model, workload, gpus, batch) -> the best median among records of that configuration."""
    best: dict[tuple[Any, ...], float] = {}
    for r in records:
        key = (r["engine"], r["model"], r["workload"], r["gpus"], r["batch_size"])
        best[key] = max(best.get(key, r[metric]), r[metric])
    return best


def _engine_ratios(cells: dict[tuple[Any, ...], float], metric: str, out: Path, plt: Any) -> list[str]:
    """Each engine over the reference engine (hf when present) at equal model, workload, GPUs and batch."""
    engines = sorted({k[0] for k in cells})
    if len(engines) < 2:
        return []
    reference = "hf" if "hf" in engines else engines[0]
    lines: dict[tuple[str, str, str, int], list[tuple[int, float, float]]] = defaultdict(list)
    for (engine, model, workload, gpus, batch), value in sorted(cells.items()):
        base = cells.get((reference, model, workload, gpus, batch))
        if engine != reference and base:
            lines[(engine, model, workload, gpus)].append((batch, base, value))
    if not lines:
        return []
    md = [
        f"## Engines compared: {metric} over {reference}'s",
        "",
        f"| engine | model | workload | GPUs | batch | {reference} | engine | ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    for (engine, model, workload, gpus), points in sorted(lines.items()):
        points.sort()
        md += [
            f"| {engine} | {model} | {workload} | {gpus} | {b} | {base:,.1f} | {value:,.1f} | {value / base:.2f} |"
            for b, base, value in points
        ]
        ax.plot(
            [p[0] for p in points],
            [p[2] / p[1] for p in points],
            marker="o",
            label=f"{engine} {model} {workload} {gpus} GPU(s)",
        )
    ax.set_xscale("log", base=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set(xlabel="batch size", ylabel=f"{metric} / {reference}", title=f"engines over {reference}")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "engine-ratios.png", dpi=110)
    plt.close(fig)
    return md + ["", "![engine-ratios](engine-ratios.png)", ""]


def _gpu_scaling(cells: dict[tuple[Any, ...], float]) -> list[str]:
    """Speed-up over the fewest GPUs measured, per engine, model, workload and batch size."""
    groups: dict[tuple[str, str, str, int], dict[int, float]] = defaultdict(dict)
    for (engine, model, workload, gpus, batch), value in cells.items():
        groups[(engine, model, workload, batch)][gpus] = value
    rows = [(key, by_gpus) for key, by_gpus in sorted(groups.items()) if len(by_gpus) > 1]
    if not rows:
        return []
    counts = sorted({g for _, by_gpus in rows for g in by_gpus})
    md = [
        "## GPU-count scaling: speed-up over the fewest GPUs",
        "",
        "| engine | model | workload | batch | " + " | ".join(f"{g} GPU(s)" for g in counts) + " | best |",
        "|---|---|---|---:|" + "---:|" * (len(counts) + 1),
    ]
    for (engine, model, workload, batch), by_gpus in rows:
        first = by_gpus[min(by_gpus)]
        cells_text = [
            f"{by_gpus[g]:,.0f} ({by_gpus[g] / first:.2f}x)" if g in by_gpus else "-" for g in counts
        ]
        md.append(
            f"| {engine} | {model} | {workload} | {batch} | {' | '.join(cells_text)} | "
            f"{max(by_gpus, key=by_gpus.get)} |"
        )
    return md + [""]


def _not_ok(records: list[dict[str, Any]]) -> list[str]:
    """Out-of-memory, failed and skipped configurations: the boundaries of the landscape."""
    bad = [r for r in records if r["status"] != "ok"]
    if not bad:
        return []
    md = [
        "## Configurations that did not run to the end",
        "",
        "| case | prompts | status | reason |",
        "|---|---:|---|---|",
    ]
    md += [
        f"| {r['case_id']} | {r.get('num_prompts')} | {r['status']} | "
        f"{(r.get('reason') or '').splitlines()[0][:120]} |"
        for r in bad
    ]
    return md + [""]

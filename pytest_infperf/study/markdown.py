"""The study's tables as Markdown: each side's provenance, then one section per question, as `infperf study`
writes them."""

from __future__ import annotations

from typing import Any, Sequence

from ..records import what_changed
from ..stats import cliffs_magnitude
from .paper import PAPER_TEXT_IMPROVEMENT, paper_improvements, paper_table2
from .questions import (
    _point,
    best_gpu_count,
    best_gpu_count_pooled,
    engine_table,
    generation_gains,
    over_other_prompts,
    retuning_gains,
    retuning_gains_replayed,
    throughput_by_batch,
)
from .sides import Side, _prompt_counts, provenance_rows, usual_prompts


def _fmt(x: float | None, spec: str = ",.1f") -> str:
    return "-" if x is None else format(x, spec)


def _pvalue(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


# The engine table's first columns, at batch 1 and at each engine's best batch alike: HF at its best GPU count,
# vLLM at the same count.
ENGINE_COLUMNS = ("model", "HF best GPUs", "HF tok/s", "vLLM same GPUs", "vLLM / HF")


def _engine_cells(row: dict[str, Any]) -> list[str]:
    return [
        row["model"],
        str(row["hf_gpus"]),
        _fmt(row["hf"]),
        _fmt(row["vllm_same"]),
        _fmt(row["ratio_same"], ".2f"),
    ]


def _values(values: dict[int, float], columns: Sequence[int]) -> list[str]:
    return [_fmt(values.get(c)) for c in columns]


def _level(best: int | None) -> str:
    return "- (one measured)" if best is None else str(best)


def _seeds(row: dict[str, Any]) -> str:
    missed = row["seeds_without_result"]
    return str(row["seeds"]) + (f" ({missed} more without a result)" if missed else "")


def _retuning_lines(rows: list[dict[str, Any]], absent: str | None) -> list[str]:
    """RQ5 from the InfPop summaries, per engine, model and direction; where there are none, `absent` (None:
    no section at all)."""
    if not rows and absent is None:
        return []
    lines = ["## RQ5: gain of re-tuning after the hardware changed (InfPop summaries)", ""]
    if rows:
        lines += _table(
            [
                "engine",
                "model",
                "tuned on",
                "re-tuned on",
                "previous setting, as measured here",
                "seeds",
                "median gain",
                "mean gain",
                "range",
            ],
            [
                [
                    r["engine"],
                    r["model"],
                    r["from"],
                    r["to"],
                    "; ".join(_point(p) for p in r["previous_measured_at"]),
                    str(r["seeds"]),
                    f"{r['median_gain']:+.1%}",
                    f"{r['mean_gain']:+.1%}",
                    f"{r['min_gain']:+.1%} .. {r['max_gain']:+.1%}",
                ]
                for r in rows
            ],
        )
        early = [
            f"{r['engine']} {r['model']} {r['from']} -> {r['to']} ({r['before_prompt_rule']} of {r['seeds']})"
            for r in rows
            if r["before_prompt_rule"]
        ]
        if early:
            lines += [
                "",
                "Summaries made before InfPop held batch sizes to its evaluation's prompts (no "
                "`num_prompts`): " + ", ".join(early) + ". Their points above the prompts ran over more "
                "prompts, which are longer on HumanEval, so a gain over such a setting compares workloads "
                "as well as settings.",
            ]
    else:
        lines.append(str(absent))
    return lines + [""]


def _pooled_anova_lines(name: str, side: Side, batch: int) -> list[str]:
    rows = best_gpu_count_pooled(side, batch)
    lines = [
        f"## RQ2 pooled ({name}, {side.label}): one ANOVA per engine over GPU-count groups, batch {batch}",
        "",
        "The paper's test: each group holds the models' throughputs at that GPU count (the table above "
        "tests each model over its repeats instead).",
        "",
    ]
    lines += _table(
        ["engine", "models per GPU count", "F", "p", "paper (A100): F", "paper p"],
        [
            [
                r["engine"],
                ", ".join(f"{g} GPU: {n}" for g, n in sorted(r["groups"].items())),
                _fmt(r["f"], ".2f"),
                _pvalue(r["p"]),
                _fmt(r["paper"][0] if r["paper"] else None, ".2f"),
                _pvalue(r["paper"][1] if r["paper"] else None),
            ]
            for r in rows
        ],
    )
    if all(r["f"] is None for r in rows):
        lines += ["", "Not computable here: it needs two or more GPU counts with two or more models each."]
    return lines + [""]


def _table2_lines(name: str, side: Side, batch: int) -> list[str]:
    """Table II as the paper made it (batch `batch`), the paper's own ratios beside, and their ratio."""
    rows, paper = engine_table(side, batch), paper_table2()
    lines = [
        f"## Table II ({name}, {side.label}): HF at its best GPU count vs vLLM, batch {batch} as the paper",
        "",
    ]
    if not rows:
        return lines + ["No model was measured with both engines at this batch size on this kind.", ""]

    def ratio_of(r: dict[str, Any], mine: str, theirs: str) -> list[str]:
        printed = paper.get(r["model"], {}).get(theirs)
        return [
            _fmt(printed, ".1f") + "x" if printed else "-",
            _fmt(r[mine] / printed, ".2f") if printed and r[mine] else "-",
        ]

    lines += _table(
        [
            *ENGINE_COLUMNS,
            "paper",
            "today / paper",
            "vLLM best GPUs",
            "vLLM best / HF",
            "paper",
            "today / paper",
        ],
        [
            [
                *_engine_cells(r),
                *ratio_of(r, "ratio_same", "impr_same"),
                str(r["vllm_gpus"]),
                _fmt(r["ratio_best"], ".2f"),
                *ratio_of(r, "ratio_best", "impr_best"),
            ]
            for r in rows
        ],
    )
    computed, text = paper_improvements(), PAPER_TEXT_IMPROVEMENT
    lines += [
        "",
        "The paper's Table II (A100, 20 models) gives vLLM over HF a mean (median) of "
        f"{computed['same']['mean']:.2f}x ({computed['same']['median']:.2f}x) at HF's GPU count and "
        f"{computed['best']['mean']:.2f}x ({computed['best']['median']:.2f}x) at vLLM's best, from its "
        f"throughput columns; its text prints {text['same'][0]}x ({text['same'][1]}x) and "
        f"{text['best'][0]}x ({text['best'][1]}x): the table supports the first pair with mean and median "
        "the other way round.",
        "",
    ]
    return lines


def _provenance_lines(name: str, side: Side) -> list[str]:
    """Where one side's records come from, one row per host."""
    lines: list[str] = []
    lines += [
        f"## Where {name}'s records come from ({side.label}), one row per host",
        "",
        f"Prompts per pass: {usual_prompts(side)}, unless a batch size says otherwise.",
        "",
    ]
    header = [
        "host (boot id or name)",
        "dates",
        "commits",
        "engine versions",
        "torch",
        "driver",
        "measured",
    ]
    lines += _table(header, provenance_rows(side)) + [""]
    if len(side.hosts) > 1:
        lines += [
            "Several hosts: a table below can mix their differences (launch-bound configurations move "
            "by up to a quarter between hosts of one GPU kind, docs/RESULTS.md).",
            "",
        ]
    return lines


def _best_gpu_lines(name: str, side: Side, batch: int) -> list[str]:
    """RQ2: the best GPU count at one batch size, per model (ANOVA, Tukey HSD)."""
    lines: list[str] = []
    rows = best_gpu_count(side, batch)
    counts = sorted({g for r in rows for g in r["values"]})
    lines += [f"## RQ2 ({name}, {side.label}): best GPU count at batch {batch}", ""]
    lines += _table(
        [
            "engine",
            "model",
            *(f"{g} GPU" for g in counts),
            "best",
            "ANOVA F",
            "ANOVA p",
            "Tukey p (best vs runner-up)",
        ],
        [
            [
                r["engine"],
                r["model"],
                *_values(r["values"], counts),
                _level(r["best_gpus"]),
                _fmt(r["anova_f"], ".2f"),
                _pvalue(r["anova_p"]),
                _pvalue(r["tukey_p"]),
            ]
            for r in rows
        ],
    ) + [""]
    if side.gpus_used:
        lines += [
            'Weights on fewer GPUs than named (`gpus_used`; `device_map="auto"` left the others empty): '
            + "; ".join(
                f"{e} {m} {g} GPU bs {b}: {'/'.join(map(str, sorted(used)))}"
                for (e, m, g, b), used in sorted(side.gpus_used.items())
            )
            + ".",
            "",
        ]
    return lines


def _batch_lines(name: str, side: Side, gpus: int) -> list[str]:
    """RQ3: throughput against batch size at one GPU count."""
    lines: list[str] = []
    rows = throughput_by_batch(side, gpus)
    batches = sorted({x for r in rows for x in r["values"]})
    lines += [f"## RQ3 ({name}, {side.label}): throughput vs batch size, {gpus} GPU(s)", ""]
    lines += _table(
        ["engine", "model", *(f"bs {x}" for x in batches), "best batch", "gain over smallest", "ANOVA p"],
        [
            [
                r["engine"],
                r["model"],
                *_values(r["values"], batches),
                _level(r["best_batch"]),
                _fmt(r["gain_over_smallest"], "+.1%"),
                _pvalue(r["anova_p"]),
            ]
            for r in rows
        ],
    ) + [""]
    return lines


def _best_batch_engine_lines(name: str, side: Side) -> list[str]:
    """Table II with each engine at its best batch size (the batch-1 one is `_table2_lines`)."""
    lines: list[str] = []
    rows = engine_table(side, batch=None)
    lines += [f"## Table II ({name}, {side.label}), each engine at its best batch size", ""]
    if rows:
        lines += _table(
            [*ENGINE_COLUMNS, "vLLM best GPUs", "vLLM best tok/s", "vLLM best / HF"],
            [
                [*_engine_cells(r), str(r["vllm_gpus"]), _fmt(r["vllm_best"]), _fmt(r["ratio_best"], ".2f")]
                for r in rows
            ],
        )
    else:
        lines.append("No model was measured with both engines on this kind.")
    lines.append("")
    return lines


def _generation_lines(a: Side, b: Side) -> list[str]:
    """RQ4: B's gain over A on the configurations both measured over the same prompts."""
    lines: list[str] = []
    rows = generation_gains(a, b)
    lines += [f"## RQ4: {b.label} (B) over {a.label} (A), configurations measured on both", ""]
    for engine in sorted(a.measurement.keys() & b.measurement.keys()):
        va, vb = ({v or 1 for v in side.measurement[engine]} for side in (a, b))
        if va != vb:
            lines += [
                f"Caveat: A's {engine} records are of the suite's measurement version {min(va)}, B's of "
                f"{min(vb)}, so its gains include the suite's own change: {what_changed(engine, va | vb)}.",
                "",
            ]
    if rows:
        lines += _table(
            ["engine", "pairs", "B faster", "mean gain", "median gain", "Wilcoxon p", "Cliff's delta"],
            [
                [
                    r["engine"],
                    str(r["pairs"]),
                    str(r["b_faster"]),
                    f"{r['mean_gain']:+.1%}",
                    f"{r['median_gain']:+.1%}",
                    _pvalue(r["wilcoxon_p"]),
                    f"{r['cliffs_delta']:+.2f} ({cliffs_magnitude(r['cliffs_delta'])})",
                ]
                for r in rows
            ],
        )
    else:
        lines.append("No configuration (engine, model, GPUs, batch) was measured on both kinds.")
    unpaired = over_other_prompts(a, b)
    if unpaired:
        lines += [
            "",
            "Not paired, measured over different prompts per pass on the two kinds: "
            + "; ".join(
                f"{e} {m} {g} GPU bs {bs} ({_prompt_counts(a, (e, m, g, bs))} vs {_prompt_counts(b, (e, m, g, bs))})"
                for e, m, g, bs in unpaired
            )
            + ".",
        ]
    lines.append("")
    return lines


def _replayed_retuning_lines(a: Side, b: Side, seeds: int) -> list[str]:
    """RQ5 replayed: re-tuning on the grids both kinds measured."""
    lines: list[str] = []
    rows = retuning_gains_replayed(a, b, seeds)
    lines += [
        "## RQ5, replayed: re-tuning on the recorded grids",
        "",
        "InfPop (hyperopt TPE, its start points) over each (GPUs, batch) grid measured on both kinds, its "
        "objective replaying the recorded medians: tuned on the old kind from scratch, then re-tuned on the "
        "new one starting from that setting, as `--infpop-tune` does; gain = the new kind's throughput at the "
        're-tuned setting over its throughput at the old setting. "exhaustive" is the same with every '
        "point known: how far the optimum moved.",
        "",
    ]
    if rows:
        lines += _table(
            [
                "engine",
                "model",
                "direction",
                "grid points",
                "budget",
                "seeds",
                "median gain",
                "mean gain",
                "range",
                "exhaustive",
            ],
            [
                [
                    r["engine"],
                    r["model"],
                    f"{r['direction']} ({r['from']} -> {r['to']})",
                    str(r["points"]),
                    str(r["budget"]),
                    _seeds(r),
                    f"{r['median_gain']:+.1%}",
                    f"{r['mean_gain']:+.1%}",
                    f"{r['min_gain']:+.1%} .. {r['max_gain']:+.1%}",
                    f"{r['exhaustive_gain']:+.1%}",
                ]
                for r in rows
            ],
        )
    else:
        lines.append(
            "No engine and model has 4 or more (GPUs, batch) configurations measured on both kinds where "
            "the tuner, in some seed, met a measured one."
        )
    return lines


def render(
    a: Side, b: Side | None = None, batch: int = 1, gpus: int = 1, seeds: int = 10, command: str | None = None
) -> str:
    """All the tables as Markdown, side A then side B where a table is per kind; with one kind (no B), its
    per-kind tables only (RQ2, RQ3, Table II): RQ4 and RQ5 compare two kinds. `command`, the line that made
    them, is said under the title."""
    sides = [("A", a)] + ([("B", b)] if b is not None else [])
    lines = [f"# Study tables: {a.label} (A)" + (f" vs {b.label} (B)" if b is not None else ""), ""]
    lines += [f"Made by `{command}` (paths as seen from where it ran).", ""] if command else []
    lines += [
        " ".join(f"{name}: {side.label} ({'; '.join(sorted(side.versions))})." for name, side in sides)
        + " Output tokens per second (medians); tests over the repeats (ANOVA, Tukey HSD)"
        + (" and over the configurations (paired Wilcoxon, Cliff's delta)" if b is not None else "")
        + ", scipy.",
        "",
    ]
    for name, side in sides:
        lines += _provenance_lines(name, side)
    for name, side in sides:
        lines += _best_gpu_lines(name, side, batch) + _batch_lines(name, side, gpus)
        lines += _pooled_anova_lines(name, side, batch) + _table2_lines(name, side, batch)
        lines += _best_batch_engine_lines(name, side)
    if b is None:  # a re-tune here from another kind's settings measured both here: its RQ5 needs no B
        return "\n".join(lines + _retuning_lines(retuning_gains((a,)), absent=None)) + "\n"
    lines += _generation_lines(a, b)
    lines += _retuning_lines(
        retuning_gains((a, b)),
        absent="No InfPop summary with `gain_over_previous` among the "
        "sources (run `--infpop-tune` on one kind, then on the other with the first one's baselines "
        "present).",
    )
    lines += _replayed_retuning_lines(a, b, seeds)
    return "\n".join(lines) + "\n"

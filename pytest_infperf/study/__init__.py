"""`infperf study A B`: the throughput study's tables from the records of two GPU kinds.

The study (20 code LLMs, HF pipelines vs vLLM, A100 vs V100) asked: RQ2, which GPU count is best per model and
engine at batch 1; RQ3, how throughput follows batch size; RQ4, how much a newer GPU generation gains; RQ5,
how much re-tuning gains after the hardware changes (upgrade and downgrade); and its Table II compared HF at
its best GPU count with vLLM at the same and at its own best count. This module answers the same questions
from records of today's GPUs, with the same tests (one-way ANOVA + Tukey HSD over the repeats, paired Wilcoxon
over configurations, Cliff's delta), so that a user can redo the study on their hardware and put the tables
beside the published ones (docs/STUDY.md).

RQ5 comes twice: from live InfPop summaries where they exist, and replayed on the recorded grids (InfPop
itself tuning on each kind's measurements, over seeds), which any two sides with a shared grid can answer.

A side is one or more records files (.jsonl) or folders (searched for *.jsonl records and *.tuned.json InfPop
summaries). A GPU kind is the records' `gpu_name`: records of 1 and 2 GPUs of one kind belong together even
though their hardware fingerprints (h200-140gb-x1, -x2) differ. Only ok records of one workload are used; a
configuration's value is the median of its records' medians, its samples all of their repeats."""

from __future__ import annotations

from .markdown import render
from .paper import PAPER_RQ2_POOLED, PAPER_TABLE_II, PAPER_TEXT_IMPROVEMENT, paper_improvements, paper_table2
from .questions import (
    best_gpu_count,
    best_gpu_count_pooled,
    engine_table,
    generation_gains,
    over_other_prompts,
    retuning_gains,
    retuning_gains_replayed,
    throughput_by_batch,
)
from .sides import METRIC, HostNotes, Side, load_side, provenance_rows, usual_prompts

__all__ = [
    "METRIC",
    "HostNotes",
    "Side",
    "usual_prompts",
    "provenance_rows",
    "load_side",
    "PAPER_TABLE_II",
    "PAPER_TEXT_IMPROVEMENT",
    "paper_table2",
    "paper_improvements",
    "best_gpu_count",
    "throughput_by_batch",
    "over_other_prompts",
    "generation_gains",
    "retuning_gains",
    "retuning_gains_replayed",
    "engine_table",
    "best_gpu_count_pooled",
    "PAPER_RQ2_POOLED",
    "render",
]

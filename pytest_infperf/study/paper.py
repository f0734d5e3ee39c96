"""The paper's own figures: Table II's throughputs (data/paper_table2.tsv) and the improvements its text prints."""

from __future__ import annotations

import statistics
from pathlib import Path

PAPER_TABLE_II = Path(__file__).parents[1] / "data" / "paper_table2.tsv"


# Its text's mean (median) improvements of vLLM over HF, as printed: same GPU count, then vLLM's best count.
PAPER_TEXT_IMPROVEMENT = {"same": (4.3, 6.47), "best": (7.26, 4.80)}


def paper_table2() -> dict[str, dict[str, float]]:
    """The paper's Table II by model name as this suite spells it (`Phi-1_5` -> `phi-1.5`)."""
    lines = [line for line in PAPER_TABLE_II.read_text().splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split("\t") for line in lines)
    return {
        row[0].lower().replace("_", "."): {k: float(v) for k, v in zip(header[1:], row[1:])} for row in rows
    }


def paper_improvements() -> dict[str, dict[str, float]]:
    """Mean and median of the paper's Table II improvements (vLLM / HF), from its throughput columns."""
    table = paper_table2().values()
    out = {}
    for kind, column in (("same", "vllm_same_tok_s"), ("best", "vllm_best_tok_s")):
        ratios = [row[column] / row["hf_tok_s"] for row in table]
        out[kind] = {"mean": statistics.mean(ratios), "median": statistics.median(ratios)}
    return out


# The paper's RQ2 one-way ANOVA, pooled over models per GPU-count group (A100, batch 1): engine -> (F, p).
PAPER_RQ2_POOLED = {"vllm": (5.44, 0.002), "hf": (0.37, 0.77)}

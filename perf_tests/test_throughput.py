"""Throughput of the study's workload: 5-token completions of the HumanEval single-line prefixes."""

from __future__ import annotations

from typing import Any


def test_throughput(infperf: Any, batch_size: int) -> None:
    record = infperf.measure()
    assert record["output_tokens_per_repeat"] >= batch_size * record["output_len_tokens"]
    assert record["throughput_tok_s"] > 0

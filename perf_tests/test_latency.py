"""The latency study's factor grid: batch size x input length x output length x GPU count, from the matrix's
`latency` tables, gated on time to first token and time to last token (--infperf-latency-gate-metrics).

Each case generates exactly `output_len` tokens for synthetic prompts of exactly `input_len` tokens; its
record carries TTFT, TTLT, normalised latency (TTLT / (batch x output length)), throughput and NVML GPU
utilisation, the thesis's five responses, which `infperf report` relates to the factors (correlations,
permutation importance)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.infperf(grid="latency")
def test_latency(infperf: Any, workload: Any) -> None:
    record = infperf.measure()
    assert record["output_len_tokens"] == workload.output_len
    assert record["input_len_mean_tokens"] == workload.input_len
    assert record["ttlt_s"] > 0 and record["normalised_latency_s_per_tok"] > 0
    assert record["ttft_p50_s"] is not None and record["ttft_p50_s"] <= record["ttlt_s"]

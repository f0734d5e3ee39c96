"""Serving: the OpenAI-compatible `vllm serve` under load from `vllm bench serve`, over the request rates,
concurrency limits and datasets of the matrix's `serving` tables; gated on output throughput, TTFT and
TPOT."""

from __future__ import annotations

from typing import Any


def test_serving(infperf_serving: Any, request_rate: float) -> None:
    record = infperf_serving.measure()
    assert record["failed_requests"] == 0
    assert record["completed_requests"] == record["num_prompts"] * record["repeats"]
    assert record["throughput_tok_s"] > 0 and record["ttft_p50_s"] > 0

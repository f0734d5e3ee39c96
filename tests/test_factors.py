"""The latency study's factor analysis (factors.py) on records whose responses are known functions of the
factors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from pytest_infperf import factors
from pytest_infperf.record_files import append_records
from pytest_infperf.reports.markdown import report


def grid_records() -> list[dict]:
    """TTFT = 1 ms per input token; TTLT = 10 ms x batch x output length; throughput = 50 tok/s x batch; the
    normalised latency is then constant (10 ms per token) and must be left out."""
    rows = []
    for batch, inputs, outputs in itertools.product((1, 2, 4, 8), (16, 64), (8, 32)):
        ttlt = 0.01 * batch * outputs
        rows.append(
            {
                "engine": "vllm",
                "model": "llama-3-8b",
                "workload": f"synthetic-in{inputs}-out{outputs}",
                "status": "ok",
                "batch_size": batch,
                "gpus": 1,
                "input_len_tokens": inputs,
                "output_len_tokens": outputs,
                "ttft_p50_s": 0.001 * inputs,
                "ttlt_s": ttlt,
                "normalised_latency_s_per_tok": ttlt / (batch * outputs),
                "throughput_tok_s": 50.0 * batch,
                "timestamp": "2026-11-25T00:00:00",
            }
        )
    return rows


def test_correlations_match_a_hand_computation_and_constants_are_left_out() -> None:
    rows = grid_records()
    (analysis,) = factors.analyse_all(rows)
    assert analysis.configurations == 16
    assert analysis.factors == [
        "batch_size",
        "input_len_tokens",
        "output_len_tokens",
    ]  # one GPU count: no factor
    assert analysis.responses == [
        "ttft_p50_s",
        "ttlt_s",
        "throughput_tok_s",
    ]  # constant normalised latency: none
    assert analysis.correlation[("input_len_tokens", "ttft_p50_s")] == pytest.approx(1.0)
    assert analysis.correlation[("batch_size", "throughput_tok_s")] == pytest.approx(1.0)
    expected = np.corrcoef([r["batch_size"] for r in rows], [r["ttlt_s"] for r in rows])[0, 1]
    assert analysis.correlation[("batch_size", "ttlt_s")] == pytest.approx(expected)
    assert analysis.correlation[("input_len_tokens", "ttlt_s")] == pytest.approx(0.0, abs=1e-12)


def test_permutation_importance_finds_the_factors_a_response_depends_on() -> None:
    (analysis,) = factors.analyse_all(grid_records())
    ttft = analysis.importance["ttft_p50_s"]
    assert ttft["input_len_tokens"][0] > 0.5
    assert ttft["batch_size"][0] == pytest.approx(0, abs=0.01) and ttft["output_len_tokens"][
        0
    ] == pytest.approx(0, abs=0.01)
    ttlt = analysis.importance["ttlt_s"]
    assert min(ttlt["batch_size"][0], ttlt["output_len_tokens"][0]) > 0.1 > ttlt["input_len_tokens"][0]
    assert analysis.cv_r2["throughput_tok_s"] > 0.5  # the forest explains what depends on the factors


def test_too_few_configurations_are_not_analysed() -> None:
    assert factors.analyse_all(grid_records()[: factors.MIN_CONFIGURATIONS - 1]) == []


def test_report_has_the_factor_section(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    base = {
        "schema": 1,
        "test_id": "perf_tests/test_latency.py::test_latency",
        "hardware_target": "h200",
        "hardware_fingerprint": "h200-140gb-x1",
        "gpu_name": "NVIDIA H200",
        "engine_version": "0.20.2",
        "num_prompts": 32,
    }
    rows = [
        base | r | {"case_id": f"h200-{r['engine']}-{r['batch_size']}-{r['workload']}"}
        for r in grid_records()
    ]
    append_records(records, rows)
    summary = report(records, tmp_path / "report").read_text()
    assert "## Latency factors: vllm · llama-3-8b" in summary
    assert f"estimator `{factors.ESTIMATOR}`" in summary
    assert (tmp_path / "report" / "factors-vllm-llama-3-8b.png").stat().st_size > 10_000
    html = (tmp_path / "report" / "summary.html").read_text()
    assert 'id="factors-vllm-llama-3-8b"' in html and "Permutation importance per response" in html

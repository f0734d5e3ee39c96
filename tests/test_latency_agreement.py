"""benchmarks/latency_vllm_bench.py's report, rebuilt from the files lease 10 left
(docs/results/latency-agreement- h200/lease10): the figures RESULTS.md quotes for issue "What users read"
follow from the committed per-request data, and the suite's ratios to the direct loop are what a hand
computation gives."""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
from pathlib import Path
from types import ModuleType

import pytest

from pytest_infperf.record_files import read_records

ROOT = Path(__file__).parent.parent
LEASE10 = ROOT / "docs" / "results" / "latency-agreement-h200" / "lease10"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "latency_vllm_bench", ROOT / "benchmarks" / "latency_vllm_bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(out: Path) -> argparse.Namespace:
    """The flags lease 10 ran with (REFERENCES="": the direct loop alone)."""
    return argparse.Namespace(
        out=out,
        no_bench=True,
        stream=False,
        direct=True,
        model="llama-3-8b",
        input_len=128,
        output_len=128,
        iters=30,
        requests=120,
    )


def test_committed_report_is_what_its_files_give(bench: ModuleType) -> None:
    assert bench.summarize(_args(LEASE10)) == json.loads((LEASE10 / "latency-agreement.json").read_text())


def test_suite_runs_and_their_mean_over_the_direct_loop(bench: ModuleType) -> None:
    summary = bench.summarize(_args(LEASE10))
    before = read_records(LEASE10 / "suite.jsonl")[0]
    after = read_records(LEASE10 / "suite-after.jsonl")[0]
    direct = json.loads((LEASE10 / "direct.json").read_text())
    for name in ("ttft", "tpot", "e2e"):
        bare = statistics.median(direct["bare"][name])
        row = summary["metrics"][name]
        loop = row["direct LLM.generate loop"]
        mean = (before[f"{name}_p50_s"] + after[f"{name}_p50_s"]) / 2
        assert row["suite_bracket_p50_ms"] == pytest.approx(mean * 1e3)
        assert loop["suite_over_reference"] == pytest.approx(before[f"{name}_p50_s"] / bare)
        assert loop["suite_after_over_reference"] == pytest.approx(after[f"{name}_p50_s"] / bare)
        assert loop["suite_bracket_over_reference"] == pytest.approx(mean / bare)
        low, high = loop["median_ci95_ms"]
        assert low <= bare * 1e3 <= high
    ttft = summary["metrics"]["ttft"]["direct LLM.generate loop"]
    # what RESULTS.md reads off lease 10: within 5% before the loop and for the mean, not for the run after it
    assert ttft["suite_within_5_percent"] and ttft["suite_bracket_within_5_percent"]
    assert not ttft["suite_after_within_5_percent"]


def test_a_folder_without_the_runs_files_is_named(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        bench.summarize(_args(tmp_path))
    assert Path(missing.value.filename).parent == tmp_path

"""Hardware markers, selection with -m, skip reasons, stable ids and run order."""

from __future__ import annotations

import fnmatch

import pytest

from conftest import CPU_ONLY, CPU_TINY, GRID_TESTS


def test_marker_selects_exactly_that_hardware(perf_project) -> None:
    result = perf_project(CPU_TINY).runpytest("--collect-only", "-q", "-m", "h100")
    result.stdout.fnmatch_lines(
        [
            "test_perf.py::test_throughput[[]h100-hf-llama-3-8b-gpus1-bs1[]]",
            "test_perf.py::test_throughput[[]h100-hf-llama-3-8b-gpus1-bs64[]]",
            "test_perf.py::test_throughput[[]h100-vllm-llama-3-8b-gpus1-bs1[]]",
            "test_perf.py::test_throughput[[]h100-vllm-llama-3-8b-gpus1-bs64[]]",
            "4/10 tests collected (6 deselected)*",
        ]
    )


def test_absent_hardware_is_skipped_with_reason(perf_project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFPERF_SIMULATED_HARDWARE", raising=False)
    result = perf_project(CPU_TINY).runpytest("-m", "h100", "-rs")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["*requires h100, found cpu*"])


def test_more_gpus_than_present_are_skipped(perf_project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_SIMULATED_HARDWARE", "h200x2")
    result = perf_project(CPU_TINY).runpytest("-m", "h200", "-rs", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*h200-vllm-llama-3-8b-gpus8-bs16*"])  # 8-GPU cases exist everywhere
    result = perf_project(CPU_TINY).runpytest("-m", "h200 and not h100", "-rs", "-k", "gpus4 or gpus8")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*requires 4 GPUs, found 2*", "*requires 8 GPUs, found 2*"])


def test_every_marker_is_registered(perf_project) -> None:
    result = perf_project(CPU_TINY).runpytest("--strict-markers", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result = perf_project(CPU_TINY).runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.h100: *", "@pytest.mark.cpu: *", "@pytest.mark.infperf(**fields)*"]
    )


def test_ids_are_stable_and_readable(perf_project) -> None:
    def ids() -> list[str]:
        return [
            row
            for row in perf_project(CPU_TINY).runpytest("--collect-only", "-q").stdout.lines
            if "::" in row
        ]

    first, second = ids(), ids()
    assert first == second
    assert "test_perf.py::test_throughput[cpu-hf-tiny-gpt2-gpus0-bs4]" in first


def test_marker_fields_and_workload_ids(perf_project) -> None:
    source = """
import pytest

@pytest.mark.infperf(workloads=["synthetic-in64-out8"], batch_sizes=[2])
def test_latency(infperf):
    infperf.measure()
"""
    result = perf_project(CPU_TINY, test_source=source).runpytest("--collect-only", "-q", "-m", "cpu")
    result.stdout.fnmatch_lines(["test_perf.py::test_latency[[]cpu-hf-tiny-gpt2-gpus0-bs2-in64-out8[]]"])


def test_items_sharing_a_trial_key_run_together(perf_project) -> None:
    source = """
def test_a(infperf): pass
def test_b(infperf): pass
"""
    matrix = "[cpu]\nengines=['hf']\nmodels=['tiny-gpt2','tiny-llama']\ngpus=[0]\nbatch_sizes=[1,4]\n"
    lines = [
        row
        for row in perf_project(matrix, test_source=source).runpytest("--collect-only", "-q").stdout.lines
        if "::" in row
    ]
    keys = [row.split("[")[1].rsplit("-bs", 1)[0] for row in lines]
    assert keys == sorted(keys, key=keys.index)  # each key in one contiguous block
    assert [row.split("::")[1].split("[")[0] for row in lines[:4]] == ["test_a", "test_b", "test_a", "test_b"]


def test_report_header_names_hardware(perf_project) -> None:
    result = perf_project(CPU_TINY).runpytest("--collect-only", "-q", "-m", "h100", "-v")
    result.stdout.fnmatch_lines(["infperf: hardware cpu-*: no GPU*"])


def test_xdist_workers_measure_on_gpus_of_their_own(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_infperf.cases import TrialKey
    from pytest_infperf.hardware.gpu import simulated, xdist_share
    from pytest_infperf.runner.pool import TrialPool
    from pytest_infperf.settings import Settings

    hardware = simulated("h200", 4)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        share = xdist_share(hardware.gpus)
        pool = TrialPool(Settings(), share, tmp_path)
        shares.append(pool.env_for(TrialKey("vllm", "llama-3-8b", 2))["CUDA_VISIBLE_DEVICES"])
    assert shares == ["0,1", "2,3"]
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "8")
    with pytest.raises(ValueError, match="8 xdist workers on 4 GPUs: .* run -n 4 or fewer"):
        xdist_share(hardware.gpus)


def test_cases_needing_more_than_a_workers_share_are_skipped(
    perf_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFPERF_SIMULATED_HARDWARE", "h200x4")
    result = perf_project(CPU_TINY).runpytest_subprocess(
        "-m", "h200 and not h100", "-rs", "-n", "2", "-k", "gpus4 and bs16", "-p", "no:benchmark"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*requires 4 GPUs, this xdist worker has 2 of 4 (run fewer workers)*"])


LATENCY_MATRIX = (
    CPU_TINY
    + """
[cpu.latency]
engines = ["hf"]
models = ["tiny-gpt2"]
gpus = [0]
batch_sizes = [2]
input_lens = [64, 16]
output_lens = [8]
"""
)


def test_latency_grid_comes_from_the_matrix_latency_table(perf_project) -> None:
    """Every input x output length of the table, and nothing of the target's own grid; targets without a
    latency table (h100 here) have no latency cases."""
    result = perf_project(LATENCY_MATRIX, test_source=GRID_TESTS).runpytest(
        "--collect-only", "-q", "-k", "latency"
    )
    result.stdout.fnmatch_lines(
        [
            "test_perf.py::test_latency[[]cpu-hf-tiny-gpt2-gpus0-bs2-in16-out8[]]",
            "test_perf.py::test_latency[[]cpu-hf-tiny-gpt2-gpus0-bs2-in64-out8[]]",
            "2/12 tests collected (10 deselected)*",
        ]
    )


@pytest.mark.parametrize(
    ("table", "marker", "error"),
    [
        ("input_lens = [16]", "grid='latency'", "*[[]cpu.latency[]]: missing output_lens*"),
        ("input_lens = [16]\noutput_lens = [0]", "grid='latency'", "*output_lens: *"),
        (
            "input_lens = [16]\noutput_lens = [8]\nworkloads = ['humaneval']",
            "grid='latency'",
            "*unknown field 'workloads'*",
        ),
        (
            "input_lens = [16]\noutput_lens = [8]",
            "grid='serving'",
            "*grid='serving'*choose from throughput, latency*",
        ),
    ],
)
def test_a_bad_latency_grid_is_a_usage_error(perf_project, table: str, marker: str, error: str) -> None:
    source = f"import pytest\n\n@pytest.mark.infperf({marker})\ndef test_latency(infperf):\n    infperf.measure()\n"
    result = perf_project(CPU_ONLY + "\n[cpu.latency]\n" + table + "\n", test_source=source).runpytest(
        "--collect-only", "-q"
    )
    assert result.ret != pytest.ExitCode.OK
    assert any(fnmatch.fnmatch(line, error) for line in result.stdout.lines + result.stderr.lines)

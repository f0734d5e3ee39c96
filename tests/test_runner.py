"""The trial runner for real (HF pipeline on a tiny model, on the CPU): records, OOM, crashes, timeouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CPU_ONLY as TINY
from conftest import as_from_a_terminal, assert_all_gone, wait_for_pids
from pytest_infperf.record_files import read_records

# Test doubles of a worker process, swapped in through pool.WORKER_ARGS by a conftest.
CRASHING_WORKER = (
    "import json, os, sys; sys.stdin.readline(); "
    "print(json.dumps({'ok': True, 'info': {}, 'load_time_s': 0.0}), flush=True); "
    "sys.stdin.readline(); os.kill(os.getpid(), 9)"
)
# A worker that, like the real one, first ties itself to pytest (procs.follow_parent), then starts a helper
# process as vLLM starts its engine core, writes both pids, loads, and never finishes its trial.
STUCK_WORKER_WITH_HELPER = (
    "import json, os, subprocess, sys, time; from pytest_infperf.procs import follow_parent; follow_parent(); "
    "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "open(os.environ['WORKER_PIDS_FILE'], 'w').write(f'{os.getpid()} {helper.pid}'); sys.stdin.readline(); "
    "print(json.dumps({'ok': True, 'info': {}, 'load_time_s': 0.0}), flush=True); "
    "sys.stdin.readline(); time.sleep(600)"
)
HANGING_WORKER = (
    "import json, sys, time; sys.stdin.readline(); "
    "print(json.dumps({'ok': True, 'info': {}, 'load_time_s': 0.0}), flush=True); "
    "sys.stdin.readline(); time.sleep(600)"
)


def _use_worker_double(pytester: pytest.Pytester, code: str) -> None:
    pytester.makeconftest(f"""
        import sys
        import pytest
        import pytest_infperf.runner.pool as pool

        @pytest.fixture(autouse=True)
        def worker_double(monkeypatch):
            monkeypatch.setattr(pool, "WORKER_ARGS", ["-c", {code!r}])
    """)


def test_real_hf_run_writes_records_and_table(perf_project) -> None:
    pytester = perf_project(TINY)
    result = pytester.runpytest("-m", "cpu", "--benchmark-json", "bench.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*infperf results (cpu-*)*",
            "case*status*tok/s*TTLT ms*TTFT ms*",
            "cpu-hf-tiny-gpt2-gpus0-bs1 *ok*",
            "cpu-hf-tiny-gpt2-gpus0-bs4 *ok*",
        ]
    )
    records = read_records(pytester.path / "records.jsonl")
    assert [r["batch_size"] for r in records] == [1, 4]
    for r in records:
        assert r["status"] == "ok" and r["engine"] == "hf" and r["engine_version"]
        assert len(r["throughput_tok_s_samples"]) == r["repeats"] == 2
        assert r["output_tokens_per_repeat"] == 8 * 5  # 8 prompts x 5 forced tokens
        assert r["warmup_batches"] % r["batches_per_repeat"] == 0 and r["warmup_batches"] > 0  # whole passes
        assert (
            min(r["repeat_wall_s_samples"]) >= r["min_repeat_s"]
        )  # each repeat: whole passes, >= the minimum
        assert (
            len(r["ttft_mean_s_samples"]) == 2 and min(r["ttft_mean_s_samples"]) > 0
        )  # the gate judges these
        for key in (
            "ttft_p50_s",
            "tpot_mean_s",
            "tpot_p50_s",
            "e2e_mean_s",
            "e2e_p50_s",
        ):  # per repeat, gateable
            assert len(r[f"{key}_samples"]) == 2 and min(r[f"{key}_samples"]) > 0, key
        assert r["ttft_mean_s"] > 0 and r["itl_mean_s"] > 0 and r["latency_source"] == "exact"
        # HF runs static batches: every request of a batch has the batch's TTFT and end-to-end time
        assert r["ttft_p50_s"] < r["e2e_p50_s"] and r["tpot_mean_s"] == pytest.approx(
            r["itl_mean_s"], rel=0.05
        )
        assert 0 <= r["host_cpu_steal_pct"] <= r["host_cpu_busy_pct"] <= 100  # what else the host was doing
        assert r["normalised_latency_s_per_tok"] == pytest.approx(r["ttlt_s"] / (r["batch_size"] * 5))
        assert r["load_time_s"] > 0 and r["dummy_weights"] is True
        assert r["hardware_fingerprint"].startswith("cpu-") and r["test_id"].startswith("test_perf.py::")
    bench = json.loads((pytester.path / "bench.json").read_text())
    extra = {b["name"]: b["extra_info"] for b in bench["benchmarks"]}
    assert (
        extra["test_throughput[cpu-hf-tiny-gpt2-gpus0-bs4]"]["throughput_tok_s"]
        == records[1]["throughput_tok_s"]
    )


def test_oom_is_recorded_and_larger_batches_are_not_run(perf_project) -> None:
    matrix = TINY.replace("batch_sizes = [1, 4]", "batch_sizes = [1, 4096, 8192]").replace(
        "num_prompts = 8", "num_prompts = 2"
    )
    pytester = perf_project(matrix, extra_ini="infperf_worker_memory = 3GB")
    result = pytester.runpytest(
        "-m", "cpu", "-rs", "--infperf-repeats", "1", "--infperf-warmup", "0", "--infperf-cpu-affinity", "0"
    )
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["*out of memory (recorded as oom)*", "*not run: batch size 4096 already ran out*"]
    )
    statuses = [(r["batch_size"], r["status"]) for r in read_records(pytester.path / "records.jsonl")]
    assert statuses == [(1, "ok"), (4096, "oom"), (8192, "oom")]
    ok = read_records(pytester.path / "records.jsonl")[0]  # the worker ran pinned where it was told
    assert (ok["cpu_affinity"], ok["worker_cpus"], ok["worker_cpu_count"]) == ("0", "0", 1)


def test_crashing_worker_fails_its_trial_and_the_session_goes_on(perf_project) -> None:
    pytester = perf_project(TINY)
    _use_worker_double(pytester, CRASHING_WORKER)
    result = pytester.runpytest("-m", "cpu")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*worker crashed (killed by SIGKILL)*"])
    assert [r["status"] for r in read_records(pytester.path / "records.jsonl")] == ["error", "error"]


def test_hanging_worker_times_out(perf_project) -> None:
    pytester = perf_project(TINY)
    _use_worker_double(pytester, HANGING_WORKER)
    result = pytester.runpytest("-m", "cpu", "--infperf-trial-timeout", "1", "--infperf-batch-sizes", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*timed out after 1 s*"])


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_no_worker_or_engine_process_outlives_pytest(
    perf_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Ctrl-C stops the worker and what it started at once; a pytest that is terminated (a CI cancel,
    `timeout`) or killed takes them with it too, instead of leaving an engine holding the GPUs for the next
    job."""
    pytester = perf_project(TINY)
    _use_worker_double(pytester, STUCK_WORKER_WITH_HELPER)
    monkeypatch.setenv("WORKER_PIDS_FILE", str(tmp_path / "worker-pids.txt"))
    process = pytester.popen(
        [sys.executable, "-m", "pytest", "-m", "cpu", "-p", "no:cacheprovider"],
        stdout=open(tmp_path / "out.txt", "w"),
        stderr=subprocess.STDOUT,
        stdin=None,
        env=os.environ.copy(),
        preexec_fn=as_from_a_terminal,
    )
    worker_and_helper = wait_for_pids(tmp_path / "worker-pids.txt", count=2)
    assert len(worker_and_helper) == 2, (tmp_path / "out.txt").read_text()
    time.sleep(1)  # pytest is now waiting on the trial
    process.send_signal(getattr(signal, how))
    code = process.wait(timeout=30)  # Ctrl-C does not wait for the trial (or a grace period) to end
    assert code == (pytest.ExitCode.INTERRUPTED if how == "SIGINT" else -getattr(signal, how))
    assert_all_gone(*worker_and_helper)


def test_unloadable_model_is_a_clear_error_once(perf_project, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "architectures": ["LlamaForCausalLM"],
                "hidden_size": 100,
                "num_attention_heads": 7,
                "num_hidden_layers": 1,
                "intermediate_size": 64,
                "vocab_size": 1000,
            }
        )
    )
    pytester = perf_project(TINY.replace('models = ["tiny-gpt2"]', f'models = ["{broken}"]'))
    result = pytester.runpytest("-m", "cpu")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*hf failed to load*broken-model*"])
    # the failed worker's log is kept where the message's tail came from, named for its trial key
    assert [log.name for log in (pytester.path / "logs").glob("*.log")] == [f"hf-{broken.name}-gpus0.log"]


def test_heartbeat_reports_progress_through_the_terminal(perf_project) -> None:
    pytester = perf_project(TINY.replace("batch_sizes = [1, 4]", "batch_sizes = [4]"))
    result = pytester.runpytest("-m", "cpu", "--infperf-heartbeat-s", "0", "--infperf-min-repeat-s", "0.2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "infperf: hf-tiny-gpt2-gpus0 batch 4: repeat 1/2, * tok/s, * s into the trial",
            "infperf: hf-tiny-gpt2-gpus0 batch 4: repeat 2/2, * tok/s, * s into the trial",
        ]
    )
    quiet = pytester.runpytest("-m", "cpu", "--infperf-min-repeat-s", "0.2")  # default: at most every 30 s
    quiet.assert_outcomes(passed=1)
    assert "s into the trial" not in quiet.stdout.str()

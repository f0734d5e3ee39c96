"""Shared helpers for the plugin's own tests: a pytester project with a matrix file and a perf test."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import pytest

PERF_TEST = """
def test_throughput(infperf, batch_size):
    record = infperf.measure()
    assert record["throughput_tok_s"] > 0
"""

# A throughput test beside a latency-grid test (@pytest.mark.infperf(grid="latency")), for the grid's
# selection and gating tests.
GRID_TESTS = """
import pytest

def test_throughput(infperf):
    infperf.measure()

@pytest.mark.infperf(grid="latency")
def test_latency(infperf):
    infperf.measure()
"""


@pytest.fixture
def perf_project(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory):
    """Write a perf project: `perf_project(matrix_toml, test_source=...)`; records go to records.jsonl."""
    cache = tmp_path_factory.getbasetemp() / "infperf-cache"  # shared: tokenizers are built once per run

    def make(matrix: str, test_source: str = PERF_TEST, extra_ini: str = "") -> pytest.Pytester:
        pytester.makefile(".toml", matrix=textwrap.dedent(matrix))
        pytester.makeini(f"""
            [pytest]
            infperf_matrix = matrix.toml
            infperf_output = records.jsonl
            infperf_cache_dir = {cache}
            infperf_repeats = 2
            {extra_ini}
        """)
        pytester.makepyfile(test_perf=test_source)
        return pytester

    return make


CPU_ONLY = """
[cpu]
engines = ["hf"]
models = ["tiny-gpt2"]
gpus = [0]
batch_sizes = [1, 4]
num_prompts = 8
"""

CPU_TINY = (
    CPU_ONLY
    + """
[h100]
engines = ["hf", "vllm"]
models = ["llama-3-8b"]
gpus = [1]
batch_sizes = [1, 64]

[h200]
engines = ["vllm"]
models = ["llama-3-8b"]
gpus = [1, 2, 4, 8]
batch_sizes = [16]
"""
)


def pids_in(path: Path) -> list[int]:
    """The process ids a test double wrote to `path` (whitespace-separated, any lines); none if it wrote
    none."""
    return [int(p) for line in path.read_text().splitlines() for p in line.split()] if path.exists() else []


def wait_for_pids(path: Path, count: int = 1, within_s: float = 60.0) -> list[int]:
    """The pids a test double writes to `path` once it has written `count` of them (or `within_s` has
    passed)."""
    deadline = time.monotonic() + within_s
    while len(pids_in(path)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return pids_in(path)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(*pids: int, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "processes left running"


def as_from_a_terminal() -> None:
    """preexec_fn of a pytest started to be sent Ctrl-C: SIGINT back to its default, as a terminal's pytest
    has it. A test run started in the background by a shell without job control inherits SIGINT ignored, and a
    Python that starts with it ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

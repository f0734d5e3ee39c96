"""Test double of the trial pool: replays measurements recorded from a real CPU run (tests/data), scaled.

No engine runs: each case gets `repeats` throughput samples around the recorded median, multiplied by
INFPERF_REPLAY_FACTOR (0.9 = an injected 10% drop), with seeded noise of INFPERF_REPLAY_CV (default 1%); mean
TTFT samples (mean and median) likewise, multiplied by INFPERF_REPLAY_TTFT_FACTOR (1.3 = 30% slower first
tokens), and a batch's time to last token by INFPERF_REPLAY_TTLT_FACTOR. Batch sizes from
INFPERF_REPLAY_OOM_AT up run out of memory. INFPERF_REPLAY_GPUS_USED caps the GPUs the weights sit on (HF's
device map leaving some empty)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np

from pytest_infperf.record_files import read_records
from pytest_infperf.runner.pool import Outcome

RECORDED = Path(__file__).parent / "data" / "records-cpu.jsonl"


class ReplayPool:
    def __init__(self, repeats: int) -> None:
        ok = [r for r in read_records(RECORDED) if r["status"] == "ok"]
        self.median = statistics.median(r["throughput_tok_s"] for r in ok)
        self.repeats = repeats
        self.factor = float(os.environ.get("INFPERF_REPLAY_FACTOR", "1.0"))
        self.cv = float(os.environ.get("INFPERF_REPLAY_CV", "0.01"))
        self.seed = int(os.environ.get("INFPERF_REPLAY_SEED", "0"))
        self.ttft = statistics.median(r["ttft_mean_s"] for r in ok)
        self.ttft_factor = float(os.environ.get("INFPERF_REPLAY_TTFT_FACTOR", "1.0"))
        self.ttlt_factor = float(os.environ.get("INFPERF_REPLAY_TTLT_FACTOR", "1.0"))
        self.oom_at = int(os.environ.get("INFPERF_REPLAY_OOM_AT") or 0)
        self.gpus_used = int(os.environ.get("INFPERF_REPLAY_GPUS_USED") or 0)

    def run(self, case) -> Outcome:
        if self.oom_at and case.batch_size >= self.oom_at:
            return Outcome(
                "oom", "OutOfMemoryError: replayed", load={"engine_version": "replay", "dtype": "float32"}
            )
        rng = np.random.default_rng([self.seed, case.batch_size])
        samples = (
            self.median
            * case.batch_size**0.3
            * self.factor
            * (1 + self.cv * rng.standard_normal(self.repeats))
        ).tolist()
        ttft = (
            self.ttft
            * case.batch_size**0.5
            * self.ttft_factor
            * (1 + self.cv * rng.standard_normal(self.repeats))
        ).tolist()
        tokens = case.batch_size * case.workload.output_len
        ttlt = [tokens / s * self.ttlt_factor / self.factor for s in samples]
        result = {
            "throughput_tok_s": statistics.median(samples),
            "throughput_tok_s_samples": samples,
            "ttft_mean_s": statistics.median(ttft),
            "ttft_mean_s_samples": ttft,
            "ttft_p50_s": statistics.median(ttft),
            "ttft_p50_s_samples": ttft,
            "ttlt_s": statistics.median(ttlt),
            "ttlt_s_samples": ttlt,
        }
        used = list(range(min(case.gpus, self.gpus_used or case.gpus))) or None
        return Outcome(
            "ok", result=result, load={"engine_version": "replay", "dtype": "float32", "gpus_used": used}
        )

    def close(self) -> None:
        pass


CONFTEST = f"""
import sys
import pytest
sys.path.insert(0, {str(Path(__file__).parent)!r})
from replay_pool import ReplayPool
from pytest_infperf.session import InfperfSession

@pytest.fixture(autouse=True)
def replay(monkeypatch, request):
    session = request.config.stash[__import__("pytest_infperf.plugin").plugin.session_key]
    monkeypatch.setattr(session, "_pool", ReplayPool(session.settings.repeats))
"""

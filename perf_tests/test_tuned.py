"""Throughput at the settings InfPop tuned for this hardware (`pytest perf_tests --infpop-tune`)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.infperf(tuned=True)
def test_tuned_throughput(infperf: Any) -> None:
    record = infperf.measure()
    assert record["throughput_tok_s"] > 0

"""Fault injection: every fault of the "nothing lost" table (benchmarks/fault_table.py) run as a user meets
it, in a fresh project with the real HF engine on a tiny model, on every CI run. The table's own check decides
each."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "fault_table", Path(__file__).resolve().parents[1] / "benchmarks" / "fault_table.py"
)
fault_table = importlib.util.module_from_spec(_SPEC)
sys.modules["fault_table"] = fault_table
_SPEC.loader.exec_module(fault_table)


@pytest.mark.parametrize("fault", fault_table.FAULTS, ids=lambda f: f.__name__)
def test_fault_is_handled_as_promised(
    fault, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    mask = os.umask(0o022)  # the mode row expects what umask 022 gives
    try:
        name, outcome, message, code, ok = fault(
            fault_table.Project(tmp_path / "project", tmp_path_factory.getbasetemp() / "fault-cache")
        )
    finally:
        os.umask(mask)
    assert ok, f"{name}: {outcome}; exit {code}; {message}"

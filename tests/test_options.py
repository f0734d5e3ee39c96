"""Option parsing and validation: bad values fail at parse time with a message naming the option."""

from __future__ import annotations

import pytest

from conftest import CPU_TINY


@pytest.mark.parametrize(
    "args, message",
    [
        (["--infperf-engine", "tgi"], "unknown engine 'tgi'"),
        (["--infperf-batch-sizes", "1,0"], "0 is below the minimum of 1"),
        (["--infperf-batch-sizes", "four"], "'four' is not a whole number"),
        (["--infperf-gpus", "-1"], "-1 is below the minimum of 0"),
        (["--infperf-model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--infperf-workload", "synthetic-in0-out5"], "unknown workload"),
        (["--infperf-threshold", "1.5"], "must lie strictly between 0 and 1"),
        (["--infperf-fail-on", "sometimes"], "'sometimes' is not one of regression, any, never"),
        (["--infperf-hardware", "tpu"], "unknown hardware 'tpu'"),
        (["--infperf-worker-memory", "lots"], "not a memory size"),
        (
            ["--infperf-cpu-affinity", "some"],
            "'some' is not auto, none, cores, gpu-local, shared or a CPU list",
        ),
        (["--infperf-cpu-affinity", "0,99999"], "CPUs ?99999? are not available here"),
        (
            ["--infperf-warmup", "some"],
            "'some' is not a whole number; expected a number of batches, pass or auto",
        ),
        (["--infpop-grid"], "--infpop-grid measures the offline tuning space: give it with --infpop-tune"),
    ],
)
def test_bad_option_is_a_usage_error(perf_project, args: list[str], message: str) -> None:
    result = perf_project(CPU_TINY).runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_a_path_option_written_with_a_space_stops_before_the_rootdir_moves(
    perf_project, tmp_path_factory
) -> None:
    """`--infperf-model /my/ckpt` made pytest take /my/ckpt for a test path and the rootdir (ini, matrix) from
    it; the session ran the built-in default for 13 minutes (issue 32.8). Now: a one-line usage error saying
    to use `=`."""
    checkpoint = tmp_path_factory.mktemp("elsewhere") / "ckpt"
    checkpoint.mkdir()
    project = perf_project(CPU_TINY)
    for option in ("--infperf-model", "--infperf-baselines", "--infperf-output"):
        result = project.runpytest("--collect-only", option, str(checkpoint))
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            [
                f"*{option} {checkpoint}: write it as {option}={checkpoint} (given as a "
                "separate argument, pytest takes * for a test path*"
            ]
        )
    result = project.runpytest("--collect-only", "-q", "--infperf-baselines", "no-such-folder-yet")
    assert result.ret == pytest.ExitCode.OK  # a value that is not a path on disk moves nothing
    result = project.runpytest("--collect-only", "-q", f"--infperf-baselines={checkpoint}")
    assert result.ret == pytest.ExitCode.OK


def test_bad_ini_value_is_a_usage_error(perf_project) -> None:
    result = perf_project(CPU_TINY, extra_ini="infperf_warmup = -1").runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option infperf_warmup: -1 is below the minimum of 0*"])


def test_bad_matrix_names_file_and_field(perf_project) -> None:
    result = perf_project("[cpu]\nengines = ['hf']\nbatchsizes = [1]\n").runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*matrix.toml [[]cpu[]]: unknown field 'batchsizes'*"])


def test_unknown_hardware_table(perf_project) -> None:
    result = perf_project("[tpu9]\nengines = ['hf']\n").runpytest("--collect-only")
    result.stderr.fnmatch_lines(["*[[]tpu9[]] is not a hardware generation*"])


def test_help_shows_group_and_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*LLM inference performance (pytest-infperf)*", "*--infperf-repeats=REPEATS*", "*(default: 5)*"]
    )


def test_command_line_overrides_matrix(perf_project) -> None:
    result = perf_project(CPU_TINY).runpytest(
        "--collect-only", "-q", "-m", "cpu", "--infperf-batch-sizes", "2,8"
    )
    result.stdout.fnmatch_lines(
        [
            "*test_throughput[[]cpu-hf-tiny-gpt2-gpus0-bs2[]]",
            "*test_throughput[[]cpu-hf-tiny-gpt2-gpus0-bs8[]]",
            "2/* tests collected*",
        ]
    )


def test_entry_module_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    code = (
        "import sys, pytest_infperf.plugin\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'pynvml') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = pytester.run(__import__("sys").executable, "-c", code)
    assert result.ret == 0, result.stderr.str()


def test_options_reference_is_the_generated_one() -> None:
    """docs/options.md is `infperf options`' output: an option added, renamed or given another default without
    regenerating the page fails here (`infperf options --out docs/options.md` mends it)."""
    from pathlib import Path

    from pytest_infperf.settings import OPTIONS, TUNE_INI, options_reference

    page = (Path(__file__).parents[1] / "docs" / "options.md").read_text()
    assert page == options_reference()
    for option in OPTIONS:
        assert option.flag_name in page
    for name, _, _ in TUNE_INI:
        assert f"`{name}`" in page

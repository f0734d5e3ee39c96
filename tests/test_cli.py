"""`infperf compare` and `infperf report` on records of real runs (checked in under tests/data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pytest_infperf.cli import main
from pytest_infperf.record_files import read_records

DATA = Path(__file__).parent / "data"
H100 = DATA / "records-h100-llama-3-8b.jsonl"
H200X4 = DATA / "records-h200x4-sweep.jsonl"  # vLLM at 1, 2 and 4 GPUs; HF with its out-of-memory batches


@pytest.fixture
def engines_as_runs(tmp_path: Path) -> tuple[Path, Path]:
    """The H100 HF and vLLM records as two 'runs' of one engine, so the configurations pair up."""
    records = [json.loads(line) for line in H100.read_text().splitlines()]
    a, b = tmp_path / "hf.jsonl", tmp_path / "vllm.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in records if r["engine"] == "hf"))
    b.write_text("".join(json.dumps(r | {"engine": "hf"}) + "\n" for r in records if r["engine"] == "vllm"))
    return a, b


def test_compare_tables_csv_json_plot(
    engines_as_runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = engines_as_runs
    out = tmp_path / "out"
    out.mkdir()
    assert (
        main(
            [
                "compare",
                str(a),
                str(b),
                "--csv",
                str(out / "c.csv"),
                "--json",
                str(out / "c.json"),
                "--plot",
                str(out / "c.png"),
                "--fail-on",
                "never",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "9 paired configurations" in text and "Wilcoxon p=0.003906" in text  # 9 of 9 faster: 2/2**9
    rows = list(csv.DictReader((out / "c.csv").open()))
    assert len(rows) == 9 and all(float(r["ratio"]) > 2.5 for r in rows)
    assert json.loads((out / "c.json").read_text())["cliffs_magnitude"] == "large"
    assert (out / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_pairs_across_engines_with_pair_by(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [json.loads(line) for line in H100.read_text().splitlines()]
    hf, vllm = tmp_path / "hf.jsonl", tmp_path / "vllm.jsonl"  # the engine fields stay as measured
    hf.write_text("".join(json.dumps(r) + "\n" for r in records if r["engine"] == "hf"))
    vllm.write_text("".join(json.dumps(r) + "\n" for r in records if r["engine"] == "vllm"))
    assert main(["compare", str(hf), str(vllm)]) == 2  # nothing judged is not a pass: bad input
    assert "no configuration is present" in capsys.readouterr().out  # engine is part of a configuration
    assert main(["compare", str(hf), str(vllm), "--fail-on", "never"]) == 0  # asked never to fail
    assert (
        main(
            [
                "compare",
                str(hf),
                str(vllm),
                "--fail-on",
                "never",
                "--pair-by",
                "model,gpus,batch_size,workload",
                "--csv",
                str(tmp_path / "c.csv"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "9 paired configurations" in text and "Wilcoxon p=0.003906" in text
    batches = [int(r["batch_size"]) for r in csv.DictReader((tmp_path / "c.csv").open())]
    assert batches == sorted(batches) == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # numeric, not 1, 128, 16, ...
    with pytest.raises(SystemExit) as bad:  # argparse: exit 2, the message on stderr
        main(["compare", str(hf), str(vllm), "--pair-by", "model,colour"])
    assert bad.value.code == 2 and "unknown field(s) colour" in capsys.readouterr().err


def test_compare_baseline_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_infperf.record_files import read_records
    from pytest_infperf.store import BaselineStore

    store = BaselineStore(tmp_path / "baselines")
    for record in read_records(DATA / "records-cpu.jsonl"):
        if record["status"] == "ok":
            store.save(record, keep=10)
    folder = tmp_path / "baselines" / store.fingerprints()[0]
    assert main(["compare", str(folder), str(DATA / "records-cpu.jsonl")]) == 0
    assert "2 paired configurations" in capsys.readouterr().out


def _runs(tmp_path: Path, factor: float, status: str = "ok") -> tuple[Path, Path]:
    """A: two sessions of the CPU records (1% apart); B: one more session, scaled by `factor`."""
    from pytest_infperf.record_files import read_records

    ok = [r for r in read_records(DATA / "records-cpu.jsonl") if r["status"] == "ok"]

    def scale(r, f):
        return r | {
            "throughput_tok_s": r["throughput_tok_s"] * f,  # noqa: E731
            "throughput_tok_s_samples": [x * f for x in r["throughput_tok_s_samples"]],
            "timestamp": f"{r['timestamp']}#{f}",
        }  # another session

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(scale(r, f)) + "\n" for f in (1.0, 1.01) for r in ok))
    b.write_text("".join(json.dumps(scale(r, factor) | {"status": status}) + "\n" for r in ok))
    return a, b


@pytest.mark.parametrize(
    "factor, fail_on, code",
    [
        (0.7, "regression", 1),
        (0.7, "never", 0),
        (1.0, "regression", 0),
        (1.4, "regression", 0),
        (1.4, "any", 1),
    ],
)
def test_compare_exit_code_follows_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], factor: float, fail_on: str, code: int
) -> None:
    a, b = _runs(tmp_path, factor)
    assert main(["compare", str(a), str(b), "--fail-on", fail_on]) == code
    out = capsys.readouterr()
    expected = {0.7: ("regression",), 1.0: ("unchanged", "underpowered"), 1.4: ("improvement (stale)",)}[
        factor
    ]
    assert any(f"  {e} (p_adj=" in out.out for e in expected) and "2 session(s) in A" in out.out
    assert ("fail --fail-on" in out.err) == bool(code)


def test_compare_counts_a_new_failure_as_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _runs(tmp_path, 1.0, status="oom")
    assert main(["compare", str(a), str(b)]) == 1
    assert "oom" in capsys.readouterr().out


def test_baseline_add_keeps_sessions_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _runs(tmp_path, 1.0)
    root = tmp_path / "baselines"
    assert main(["baseline", "add", str(root), str(a)]) == 0
    assert main(["baseline", "add", str(root), str(a)]) == 0  # the same sessions again: nothing doubles
    files = sorted(root.glob("*/*/*.json"))
    assert len(files) == 2 and all(len(json.loads(f.read_text())["sessions"]) == 2 for f in files)
    assert "added 4 session(s) to 2 baseline(s)" in capsys.readouterr().out
    # --replace: baselines measured the old way start over with the new sessions, which stay apart
    assert main(["baseline", "add", "--replace", str(root), str(b), str(b)]) == 0
    assert all(len(json.loads(f.read_text())["sessions"]) == 1 for f in files)  # b twice: one session


def test_baseline_check_names_every_baseline_it_cannot_compare(capsys: pytest.CaptureFixture[str]) -> None:
    """Checked-in files: one current, one of the old vLLM measurement, one of a future schema, one truncated,
    one whose sessions lack the repeat samples the gate tests."""
    assert main(["baseline", "check", str(DATA / "baselines-check")]) == 1
    lines = capsys.readouterr().out.splitlines()
    why = {Path(line.split(": ", 1)[0]).name: line.split(": ", 1)[1] for line in lines[:-1]}
    assert sorted(why) == [
        "vllm-gpt2-gpus1-bs16.json",
        "vllm-gpt2-gpus1-bs2.json",
        "vllm-gpt2-gpus1-bs4.json",
        "vllm-gpt2-gpus1-bs64.json",
    ]
    assert why["vllm-gpt2-gpus1-bs16.json"] == "schema 3 is not one this version reads (1, 2)"
    assert why["vllm-gpt2-gpus1-bs4.json"].startswith("measurement_version: baseline None, now 2")
    assert "is corrupted (line 2" in why["vllm-gpt2-gpus1-bs64.json"]
    assert "without throughput_tok_s_samples" in why["vllm-gpt2-gpus1-bs2.json"]
    assert lines[-1].endswith(
        "1 of 5 baseline(s) under " + str(DATA / "baselines-check") + " can be compared against; 4 cannot"
    )


def test_baseline_check_passes_the_shipped_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "check", str(Path(__file__).parents[1] / "baselines")]) == 0


def test_report_writes_plots_and_summary(tmp_path: Path) -> None:
    assert main(["report", str(H100), "--out", str(tmp_path / "rep")]) == 0
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "ANOVA across batch_size" in summary and "Pearson r(log2(batch_size), throughput_tok_s)" in summary
    assert "Hardware: NVIDIA H100 80GB HBM3; measured 2026-11-22." in summary
    assert sorted(p.name for p in (tmp_path / "rep").glob("*.png")) == [
        "engine-ratios.png",
        "hf-llama-3-8b-humaneval-out5.png",
        "vllm-llama-3-8b-humaneval-out5.png",
    ]
    assert "| vllm | llama-3-8b | humaneval-out5 | 1 | 4 | 81.8 | 325.7 | 3.98 |" in summary
    assert (tmp_path / "rep" / "summary.html").exists()


def test_report_shows_gpu_scaling_and_out_of_memory_boundaries(tmp_path: Path) -> None:
    assert main(["report", str(H200X4), "--out", str(tmp_path / "rep")]) == 0
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert (
        "| vllm | codellama-13b | humaneval-out5 | 256 | 830 (1.00x) | 1,416 (1.71x) | 2,180 (2.63x) | 4 |"
        in summary
    )
    assert (
        "| vllm | llama-3-8b | humaneval-out5 | 16 | 945 (1.00x) | 1,315 (1.39x) | 1,007 (1.07x) | 2 |"
        in summary
    )
    assert (
        "| h200-hf-codellama-13b-gpus1-bs256 | 256 | oom | OutOfMemoryError: CUDA out of memory." in summary
    )


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert main(["report", str(bad)]) == 2
    assert "bad.jsonl:1: not valid JSON" in capsys.readouterr().err


CROSSHOST = DATA / "baselines-h200-crosshost" / "h200-140gb-x1"  # two isolated sessions, lease 2 (2026-11-24)
AA = (
    DATA / "records-h200-crosshost-aa.jsonl"
)  # the same 12 configurations on another H200 lease, unchanged code


def test_cross_host_a_a_on_h200_passes_and_a_halving_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real records: launch-bound configurations moved by up to -27% between the two hosts, and no verdict may
    be a regression; the same records at half the throughput must fail everywhere."""
    assert main(["compare", str(CROSSHOST), str(AA), "--json", str(tmp_path / "aa.json")]) == 0
    rows = json.loads((tmp_path / "aa.json").read_text())["rows"]
    assert len(rows) == 12 and {r["verdict"] for r in rows} <= {"unchanged", "underpowered"}
    assert min(r["change"] for r in rows) < -0.25  # vLLM GPT-2 bs4: the host, not the engine
    halved = tmp_path / "halved.jsonl"
    halved.write_text(
        "".join(
            json.dumps(
                r
                | {
                    "throughput_tok_s": r["throughput_tok_s"] / 2,
                    "throughput_tok_s_samples": [x / 2 for x in r["throughput_tok_s_samples"]],
                }
            )
            + "\n"
            for r in map(json.loads, AA.read_text().splitlines())
        )
    )
    capsys.readouterr()
    assert main(["compare", str(CROSSHOST), str(halved), "--json", str(tmp_path / "half.json")]) == 1
    assert {r["verdict"] for r in json.loads((tmp_path / "half.json").read_text())["rows"]} == {"regression"}


def test_a_vllm_baseline_of_the_earlier_measurement_is_not_comparable_and_is_replaced(tmp_path: Path) -> None:
    """The checked-in lease-2 baselines predate measurement version 2 of vLLM (histograms read around every
    timed call): a vLLM record of today's suite does not compare with them and is told why, saving it starts
    the baseline over, and HF, whose measurement did not change, still compares."""
    import shutil

    from pytest_infperf.records import MEASUREMENT_VERSIONS
    from pytest_infperf.store import BaselineStore

    shutil.copytree(CROSSHOST, tmp_path / CROSSHOST.name)
    store = BaselineStore(tmp_path)
    records = {r["case_id"].split("-", 1)[1]: r for r in read_records(AA)}
    vllm = records["vllm-llama-3-8b-gpus1-bs1"] | {"measurement_version": MEASUREMENT_VERSIONS["vllm"]}
    path = store.path_for(vllm["hardware_fingerprint"], vllm)
    baseline, why_not = store.find(path, vllm)
    assert baseline is None
    assert "measurement_version: baseline None, now 2" in why_not and "save them again" in why_not
    # `infperf compare` pairs records of any version: its verdict says the same, for vLLM's pairs only
    today = tmp_path / "today.jsonl"
    today.write_text(
        "".join(
            json.dumps(r | ({"measurement_version": 2} if r["engine"] == "vllm" else {})) + "\n"
            for r in records.values()
        )
    )
    assert main(["compare", str(CROSSHOST), str(today), "--json", str(tmp_path / "cmp.json")]) == 0
    verdicts = {(r["engine"], r["verdict"]) for r in json.loads((tmp_path / "cmp.json").read_text())["rows"]}
    assert ("vllm", "not-comparable") in verdicts and not {v for e, v in verdicts if e == "vllm"} - {
        "not-comparable"
    }
    assert {v for e, v in verdicts if e == "hf"} <= {"unchanged", "underpowered"}
    store.save(vllm, keep=10)
    baseline, _ = store.find(path, vllm)
    assert baseline is not None and len(baseline.sessions) == 1
    hf = records["hf-llama-3-8b-gpus1-bs64"]
    assert "measurement_version" not in hf
    baseline, why_not = store.find(store.path_for(hf["hardware_fingerprint"], hf), hf)
    assert baseline is not None and len(baseline.sessions) == 2, why_not


def test_export_is_read_by_the_tools_it_imitates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    records = DATA / "records-h200-crosshost-aa.jsonl"  # a real H200 session, 12 configurations
    saved = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit" / "0001_infperf.json"
    assert main(["export", str(records), "--format", "pytest-benchmark", "--out", str(saved)]) == 0
    run = json.loads(saved.read_text())
    first = read_records(records)[0]
    stats = run["benchmarks"][0]["stats"]  # rounds are the measured repeats' time per pass, not the trial
    per_pass = [w / p for w, p in zip(first["repeat_wall_s_samples"], first["passes_per_repeat_samples"])]
    assert stats["rounds"] == len(per_pass) and stats["median"] == pytest.approx(
        sorted(per_pass)[len(per_pass) // 2]
    )
    # pytest-benchmark's own compare command loads the saved run from its storage folder
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_benchmark.cli import main; main()",
            "compare",
            "0001",
            "--group-by",
            "group",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "test_throughput[h200-vllm-gpt2-gpus1-bs16]" in shown.stdout and "Rounds" in shown.stdout
    # and a user's own pytest-benchmark session compares against it with --benchmark-compare, by test name
    case = first["test_id"].split("[", 1)[1].rstrip("]")  # h200-vllm-gpt2-gpus1-bs1
    (tmp_path / "perf_tests").mkdir()
    (tmp_path / "perf_tests" / "test_throughput.py").write_text(
        "import time\n\nimport pytest\n\n\n"
        f"@pytest.mark.parametrize('case', [{case!r}])\n"
        "def test_throughput(benchmark, case):\n    benchmark(time.sleep, 0.001)\n"
    )
    compared = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "perf_tests/test_throughput.py",
            "-p",
            "no:infperf",
            "-p",
            "no:cacheprovider",
            "--benchmark-compare=0001",
            "-W",
            "ignore",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert f"test_throughput[{case}] (0001_infperf)" in compared.stdout, compared.stdout

    out = tmp_path / "vllm-bench.json"
    assert main(["export", str(records), "--format", "vllm-bench", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == 12 and results[0]["output_throughput"] == first["throughput_tok_s"]
    assert results[0]["max_concurrency"] == first["batch_size"]
    for key in (
        "request_throughput",
        "total_token_throughput",
        "mean_ttft_ms",
        "median_e2el_ms",
        "p99_itl_ms",
    ):
        assert key in results[0]
    assert "wrote 12 configuration(s)" in capsys.readouterr().out


def test_baseline_add_refuses_path_parts_that_leave_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crafted record cannot write outside the baselines root, nor replace an unrelated file."""
    a, _ = _runs(tmp_path, 1.0)
    record = json.loads(a.read_text().splitlines()[0])
    victim = tmp_path / "victim.json"
    victim.write_text('{"mine": true}\n')
    root = tmp_path / "deep" / "er" / "baselines"
    for crafted in ({"hardware_fingerprint": "../../../x"}, {"case_id": "cpu-../../../../victim"}):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps(record | crafted) + "\n")
        assert main(["baseline", "add", str(root), str(bad)]) == 2
        assert "not a plain file name" in capsys.readouterr().err
    assert victim.read_text() == '{"mine": true}\n' and not (tmp_path / "x").exists()
    assert not root.exists() or not list(root.rglob("*.json"))


def test_compare_that_pairs_nothing_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = _runs(tmp_path, 1.0)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["compare", str(a), str(empty)]) == 2  # bad input, not a pass
    assert "nothing was compared" in capsys.readouterr().err
    assert main(["compare", str(a), str(empty), "--fail-on", "never"]) == 0

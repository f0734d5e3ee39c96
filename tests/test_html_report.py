"""The HTML report as users see it: built from checked-in GPU records and from a fresh CPU run, and opened in
a real headless Chromium (Playwright driving the system's chromium), which runs its plotly.js."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import CPU_ONLY
from pytest_infperf.reports.html import landscape_cells, tuning_history
from pytest_infperf.reports.markdown import report

DATA = Path(__file__).parent / "data"
H200_SWEEP = Path(__file__).parents[1] / "docs" / "results" / "h200x4-sweep.jsonl"  # 4 x H200, 98 records
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _browser():
    """A headless Chromium page factory; CI sets INFPERF_REQUIRE_BROWSER=1 where it installed one, so the
    check cannot silently skip there."""
    required = os.environ.get("INFPERF_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        if required:
            pytest.fail("INFPERF_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return sync_playwright


def _open(html: Path):
    """(playwright context manager, page) with the report loaded and its scripts run."""
    manager = _browser()()
    playwright = manager.__enter__()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(html.as_uri())
    page.wait_for_selector(".js-plotly-plot")  # plotly.js ran: the inlined library drew the figures
    return manager, page


def test_h200_sweep_report_renders_in_chromium(tmp_path: Path) -> None:
    report(H200_SWEEP, tmp_path)
    manager, page = _open(tmp_path / "summary.html")
    try:
        assert page.locator("h2").first.inner_text() == "Headline"  # the answer comes first
        assert "fastest: vllm gpt2, 2 GPU(s), batch 256" in page.locator("#headline").inner_text()
        best = page.locator("#headline table").first
        assert (
            best.locator("th").count() >= 10 and best.locator("tbody tr").count() == 14
        )  # a table, not text
        assert "| vllm |" not in page.content()  # no Markdown left raw
        groups = page.locator("section[id^='vllm-'], section[id^='hf-']").count()
        factors = page.locator(
            "section[id^='factors-']"
        ).count()  # the synthetic in/out grid's factor analysis
        assert (
            groups == 14 and factors == 1 and page.locator(".js-plotly-plot").count() == 2 * groups + factors
        )
        assert "Latency factors: vllm · llama-3-8b" in page.locator("section[id^='factors-']").inner_text()
        landscape = page.locator("#vllm-codellama-13b-humaneval-out5 .js-plotly-plot").first
        assert (
            "★" in landscape.inner_text() and "2,180" in landscape.inner_text()
        )  # values on cells, best marked
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing cut off
        assert "Out-of-memory boundaries" in page.locator("#headline").inner_text()
        assert "ANOVA across gpus" in page.locator("#appendix").inner_text()
    finally:
        manager.__exit__(None, None, None)


def test_fresh_cpu_run_report_renders_with_gate_verdicts(perf_project, tmp_path: Path) -> None:
    pytester = perf_project(CPU_ONLY)
    pytester.runpytest(
        "-m", "cpu", "--infperf-min-repeat-s", "0.2", "--infperf-save", "-p", "no:cacheprovider"
    ).assert_outcomes(passed=2)
    pytester.runpytest(
        "-m",
        "cpu",
        "--infperf-min-repeat-s",
        "0.2",
        "--infperf-compare",
        "--infperf-threshold",
        "0.9",
        "-p",
        "no:cacheprovider",
    ).assert_outcomes(passed=2)
    report(pytester.path / "records.jsonl", tmp_path)
    manager, page = _open(tmp_path / "summary.html")
    try:
        headline = page.locator("#headline").inner_text()
        assert "Gate verdicts (regressions first)" in headline and "cpu-hf-tiny-gpt2-gpus0-bs4" in headline
        assert "0\nregression(s) among 2 gated tests" in headline
        assert page.locator("#headline table").count() >= 2 and page.locator(".js-plotly-plot").count() == 2
    finally:
        manager.__exit__(None, None, None)


def test_landscape_cells_keep_the_best_knobs_and_the_failures() -> None:
    def record(batch: int, status: str, value: float | None, knobs: dict | None = None) -> dict:
        return {
            "gpus": 1,
            "batch_size": batch,
            "status": status,
            "throughput_tok_s": value,
            "knobs": knobs,
            "throughput_tok_s_samples": [value, value * 1.1] if value else None,
            "reason": "CUDA out of memory",
        }

    cells = landscape_cells(
        [
            record(8, "ok", 10.0, {"max_num_seqs": 8}),
            record(8, "ok", 20.0, {"max_num_seqs": 64}),
            record(16, "oom", None),
            record(16, "ok", 5.0),
        ],
        "throughput_tok_s",
    )
    assert (
        cells[(1, 8)].value == 20.0 and cells[(1, 8)].knobs == "max_num_seqs=64"
    )  # the knob behind the value
    assert cells[(1, 8)].sd == pytest.approx(1.4142, rel=1e-3) and cells[(1, 8)].repeats == 2
    assert cells[(1, 16)].status == "ok"  # a setting that ran beats one that ran out of memory
    only_oom = landscape_cells([record(32, "oom", None)], "throughput_tok_s")
    assert only_oom[(1, 32)].status == "oom" and only_oom[(1, 32)].value is None


def test_tuning_history_is_best_so_far_in_evaluation_order(tmp_path: Path) -> None:
    def point(value: float | None) -> dict:
        return {
            "infpop_point": {"batch_size": 8},
            "status": "ok" if value else "oom",
            "throughput_tok_s": value,
        }

    history = tuning_history([point(5.0), point(None), point(9.0), point(7.0)], "throughput_tok_s")
    assert history == [(1, 5.0, 5.0), (2, None, 5.0), (3, 9.0, 9.0), (4, 7.0, 9.0)]
    assert (
        tuning_history([{"status": "ok", "throughput_tok_s": 1.0}], "throughput_tok_s") == []
    )  # not a tuning run
    infpop = Path(__file__).parents[1] / "baselines" / "h100-80gb-x1" / "_infpop"
    report(infpop / "vllm-llama-3-8b-humaneval-out5.landscape.jsonl", tmp_path)  # the shipped H100 landscape
    assert (tmp_path / "vllm-llama-3-8b-humaneval-out5-history.png").stat().st_size > 0
    assert "tuning history" in (tmp_path / "summary.html").read_text()


def test_group_table_splits_the_first_token_where_the_engine_does() -> None:
    from pytest_infperf.reports.html import group_table

    base = {"gpus": 1, "status": "ok", "throughput_tok_s": 100.0, "ttft_p50_s": 0.016}
    vllm = group_table(
        [base | {"batch_size": 1, "queue_p50_s": 2e-5, "prefill_p50_s": 0.0145}], "throughput_tok_s"
    )
    assert ">queue p50 ms<" in vllm and ">prefill p50 ms<" in vllm and ">14.5<" in vllm
    hf = group_table(
        [base | {"batch_size": 1}], "throughput_tok_s"
    )  # HF keeps no such split: no empty columns
    assert "prefill" not in hf and ">TTFT p50 ms<" in hf

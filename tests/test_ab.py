"""Interleaved A/B (--infperf-ab-reference): two real HF workers on the CPU, alternating rounds; the paired
statistics against hand-computed values; the verdicts of arms that fail."""

from __future__ import annotations

import math
import statistics
import sys

import numpy as np
import pytest
from scipy import stats as sps

from conftest import CPU_ONLY
from pytest_infperf.gate import correct, reference_failure_verdict
from pytest_infperf.record_files import read_records
from pytest_infperf.runner.interleave import InterleavedPair, merge_rounds
from pytest_infperf.runner.pool import Outcome
from pytest_infperf.settings import Settings
from pytest_infperf.stats import compare_paired, ewc_terms, rounds_needed

ONE_BATCH = CPU_ONLY.replace("batch_sizes = [1, 4]", "batch_sizes = [4]")
AB_ARGS = (
    "-m",
    "cpu",
    f"--infperf-ab-reference={sys.executable}",
    "--infperf-ab-rounds",
    "8",
    "--infperf-ab-max-rounds",
    "8",
    "--infperf-min-repeat-s",
    "0.5",
    "-p",
    "no:cacheprovider",
)


def test_same_environment_in_both_arms_passes_and_records_both(perf_project) -> None:
    pytester = perf_project(ONE_BATCH)
    result = pytester.runpytest(*AB_ARGS, "--infperf-threshold", "0.5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*infperf gate: 1 *", "cpu-hf-tiny-gpt2-gpus0-bs4 * 8 A/B rounds *"])
    [record] = read_records(pytester.path / "records.jsonl")
    assert record["gate_against"] == "reference" and record["gate_verdict"] in ("unchanged", "underpowered")
    assert record["ab_rounds"] == 8 and record["ab_reference_status"] == "ok"
    assert (
        len(record["throughput_tok_s_samples"]) == len(record["ab_reference_throughput_tok_s_samples"]) == 8
    )
    assert record["ab_reference_python"] == sys.executable and not record["gate_stale"]
    assert record["gate_sessions"] == 1 and record["gate_repeats_new"] == 8
    logs = pytester.path / "logs"
    assert (logs / "candidate").is_dir() and (logs / "reference").is_dir()  # one worker per arm


def test_a_real_slowdown_of_the_candidate_alone_fails(perf_project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFPERF_TEST_ONLY_SLOWDOWN", "0.6")  # the reference arm must not inherit it
    pytester = perf_project(ONE_BATCH)
    result = pytester.runpytest(*AB_ARGS, "--infperf-threshold", "0.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*REGRESSION throughput_tok_s: reference *(8 rounds)*paired*"])
    [record] = read_records(pytester.path / "records.jsonl")
    assert record["test_only_slowdown"] == 0.6 and record["gate_verdict"] == "regression"
    assert -0.8 < record["gate_change"] < -0.35  # the reference ran at full speed


def test_a_trial_too_noisy_for_its_threshold_runs_a_second_stage(perf_project) -> None:
    """Two real workers: at a 0.1% threshold no first stage of 4 rounds is quiet enough, so the trial runs on to
    --infperf-ab-max-rounds, and the record says how many rounds it ran and how many the first stage asked for."""
    pytester = perf_project(ONE_BATCH)
    args = [a for a in AB_ARGS if a not in ("--infperf-ab-rounds", "--infperf-ab-max-rounds", "8")]
    result = pytester.runpytest(
        *args,
        "--infperf-ab-rounds",
        "4",
        "--infperf-ab-max-rounds",
        "6",
        "--infperf-min-repeat-s",
        "0.1",
        "--infperf-threshold",
        "0.001",
    )
    result.stdout.fnmatch_lines(["*6 A/B rounds*"])
    [record] = read_records(pytester.path / "records.jsonl")
    assert record["ab_rounds"] == 6 and record["ab_rounds_planned"] > 6
    assert (
        len(record["throughput_tok_s_samples"]) == len(record["ab_reference_throughput_tok_s_samples"]) == 6
    )
    result = pytester.runpytest(*args, "--infperf-ab-rounds", "8", "--infperf-ab-max-rounds", "4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--infperf-ab-max-rounds (4) is below --infperf-ab-rounds (8)*"])


def test_reference_option_is_checked_when_parsed(perf_project) -> None:
    pytester = perf_project(ONE_BATCH)
    result = pytester.runpytest("-m", "cpu", "--infperf-ab-reference=/no/such/python")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--infperf-ab-reference*does not exist; expected a Python interpreter*"])
    result = pytester.runpytest("-m", "cpu", f"--infperf-ab-reference={sys.executable}", "--infperf-save")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot be combined with --infperf-compare or --infperf-save*"])


def ewc_by_hand(logs: list[float], terms: int) -> float:
    """The EWC long-run variance from its definition: (1/B) sum_j (sqrt(2/n) sum_t cos(pi j (t + 1/2) / n)
    e_t)^2."""
    n, mean = len(logs), sum(logs) / len(logs)
    return (
        sum(
            (
                math.sqrt(2 / n)
                * sum(math.cos(math.pi * j * (t + 0.5) / n) * (x - mean) for t, x in enumerate(logs))
            )
            ** 2
            for j in range(1, terms + 1)
        )
        / terms
    )


def test_paired_comparison_against_hand_computed_values() -> None:
    reference = [100.0, 200.0, 100.0, 50.0]
    new = [90.0, 184.0, 89.0, 46.0]  # log ratios: log .9, log .92, log .89, log .92
    logs = [math.log(0.9), math.log(0.92), math.log(0.89), math.log(0.92)]
    mean = sum(logs) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 3)
    se = max(sd / 2, math.sqrt(ewc_by_hand(logs, 2) / 4))  # 4 rounds: B = 2 cosine terms, never below iid
    t = mean / se
    c = compare_paired(new, reference, higher_is_better=True, alpha=0.05)
    assert c.ratio == pytest.approx(math.exp(mean)) and c.noise_sd == pytest.approx(se * 2)
    assert c.p_worse == pytest.approx(sps.t.cdf(t, 2)) and c.p_better == pytest.approx(sps.t.sf(t, 2))
    q = sps.t.ppf(0.95, 2)
    assert (c.ratio_low, c.ratio_high) == pytest.approx((math.exp(mean - q * se), math.exp(mean + q * se)))
    assert c.cliffs_delta == pytest.approx(
        (5 - 11) / 16
    )  # of 16 pairs of rounds, new > reference in 5, < in 11
    walsh = sorted((logs[i] + logs[j]) / 2 for i in range(4) for j in range(i, 4))
    assert c.hodges_lehmann_ratio == pytest.approx(math.exp((walsh[4] + walsh[5]) / 2))
    assert c.df == 2 and c.repeats_new == 4
    latency = compare_paired(new, reference, higher_is_better=False, alpha=0.05)  # lower seconds are better
    assert latency.p_better == pytest.approx(c.p_worse)
    with pytest.raises(ValueError, match="two or more rounds"):
        compare_paired([1.0], [1.0], True, 0.05)


def test_paired_comparison_widens_for_autocorrelated_rounds() -> None:
    """Rounds whose log ratios persist (runs of high and low) get the EWC long-run error, with B = 0.3 n^(2/3)
    cosine terms and B degrees of freedom: 64 rounds, 4 terms."""
    logs = [0.10, 0.12, 0.11, 0.02, 0.00, 0.01, 0.09, 0.11] * 8
    n = len(logs)
    assert [ewc_terms(k) for k in (4, 16, 64, 128, 512)] == [2, 2, 4, 7, 19]
    se = math.sqrt(ewc_by_hand(logs, 4) / n)
    mean = sum(logs) / n
    c = compare_paired([100 * math.exp(x) for x in logs], [100.0] * n, higher_is_better=True, alpha=0.05)
    assert c.noise_sd == pytest.approx(max(se, statistics.stdev(logs) / math.sqrt(n)) * math.sqrt(n))
    assert c.df == 4 and c.p_better == pytest.approx(sps.t.sf(mean / (c.noise_sd / math.sqrt(n)), 4))
    assert "long-run variance over 4 cosine terms" in c.noise_source


def test_paired_comparison_keeps_its_level_for_persistent_rounds() -> None:
    """AR(1) log ratios with lag-1 autocorrelation 0.5, no change, 48 rounds: at alpha 0.05 the one-sided test
    rejects about 5% of 4,000 trials (where the Newey-West error with n - 1 df rejected about twice that)."""
    rng = np.random.default_rng(7)
    trials, n, phi = 4000, 48, 0.5
    x = np.empty((trials, n))
    x[:, 0] = rng.standard_normal(trials) / math.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.standard_normal(trials)
    rejected = np.mean(
        [compare_paired(np.exp(0.05 * row), np.ones(n), True, 0.05).p_worse < 0.05 for row in x]
    )
    assert 0.035 < rejected < 0.065


def test_rounds_merge_into_one_measurement() -> None:
    rounds = [
        {
            "throughput_tok_s": 10.0,
            "throughput_tok_s_samples": [10.0],
            "ttft_mean_s": 0.1,
            "generate_s": 1.0,
            "telemetry_samples": 3,
            "latency_source": "exact",
            "itl_mean_s": None,
        },
        {
            "throughput_tok_s": 30.0,
            "throughput_tok_s_samples": [30.0],
            "ttft_mean_s": 0.3,
            "generate_s": 2.0,
            "telemetry_samples": 4,
            "latency_source": "exact",
            "itl_mean_s": None,
        },
        {
            "throughput_tok_s": 20.0,
            "throughput_tok_s_samples": [20.0],
            "ttft_mean_s": 0.2,
            "generate_s": 3.0,
            "telemetry_samples": 5,
            "latency_source": "exact",
            "itl_mean_s": None,
        },
    ]
    merged = merge_rounds(rounds)
    assert merged["throughput_tok_s_samples"] == [10.0, 30.0, 20.0] and merged["throughput_tok_s"] == 20.0
    assert merged["ttft_mean_s"] == 0.2 and merged["generate_s"] == 6.0 and merged["telemetry_samples"] == 12
    assert merged["latency_source"] == "exact" and merged["itl_mean_s"] is None and merged["ab_rounds"] == 3


def test_arm_failures() -> None:
    reference = {"status": "ok", "throughput_tok_s": 100.0}
    oom = reference_failure_verdict(
        {"status": "oom", "reason": "CUDA out of memory"}, reference, "/old/python"
    )
    assert oom.outcome == "regression" and "where the reference ran ok" in oom.message
    broken = reference_failure_verdict(
        {"status": "ok"}, {"status": "error", "reason": "old vllm: no such arch"}, "/old/python"
    )
    assert broken.outcome == "no-baseline" and "no such arch" in broken.message


def test_beating_the_reference_is_an_improvement_not_a_stale_baseline() -> None:
    record = {
        "gate_p_worse": 0.99,
        "gate_p_better": 0.001,
        "gate_change": 0.2,
        "gate_metric": "throughput_tok_s",
        "gate_verdict": "underpowered",
        "gate_message": "m",
        "gate_against": "reference",
    }
    [changed] = correct([record], Settings(), family=1)
    assert changed["gate_verdict"] == "improvement" and changed["gate_stale"] is False
    assert changed["gate_message"].startswith("IMPROVEMENT over the reference")


def test_rounds_needed_follows_steins_rule_with_a_power_term() -> None:
    """n = the fewest even rounds at which a change of twice the threshold is significant and beyond it, and
    the threshold itself can be told apart (else the verdict is underpowered), s the first stage's long-run
    spread of the log ratios, held between n0 and the most. Here the log ratios alternate +-d (negatively
    correlated, so the long-run error falls back to the iid one) and s is their sample sd."""
    n0, d = 8, 0.10
    reference = [100.0] * n0
    new = [100 * math.exp(d if i % 2 else -d) for i in range(n0)]
    s = d * math.sqrt(n0 / (n0 - 1))

    def enough(n: int, power: float) -> bool:  # a change of twice the threshold: significant and beyond it
        df = ewc_terms(n)
        z = sps.t.ppf(power, df)
        q = sps.t.ppf(1 - 0.001, df)
        return (
            (q + z) * s / math.sqrt(n) <= math.log(1.10)
            and z * s / math.sqrt(n) <= math.log(1.10) - math.log(1.05)
            and q * s / math.sqrt(n) <= math.log(1.05)
        )

    for power in (0.5, 0.95, 0.999):
        wanted = next(n for n in range(n0, 10_000, 2) if enough(n, power))
        assert rounds_needed(new, reference, alpha=0.001, threshold=0.05, power=power, most=5000) == wanted
    assert rounds_needed(new, reference, 0.001, 0.05, power=0.999, most=5000) > rounds_needed(
        new, reference, 0.001, 0.05, power=0.5, most=5000
    )  # power costs rounds
    assert rounds_needed(new, reference, alpha=0.001, threshold=0.05, most=20) == 20  # capped
    quiet = [100 * math.exp(0.0001 if i % 2 else -0.0001) for i in range(n0)]
    assert (
        rounds_needed(quiet, reference, alpha=0.001, threshold=0.05, most=500) == n0
    )  # the first stage is enough


class ScriptedPool:
    """A named test double of TrialPool for one arm: each run returns the next throughput of its script."""

    def __init__(self, throughputs: list[float]) -> None:
        self.script, self.runs = list(throughputs), 0

    def ensure_loaded(self, case: object) -> None:
        return None

    def run(self, case: object, repeats: int, warmup: int | None) -> Outcome:
        value = self.script[self.runs % len(self.script)]
        self.runs += 1
        return Outcome("ok", result={"throughput_tok_s": value, "throughput_tok_s_samples": [value]})


def _pair(rounds: int, most: int, candidate: list[float], reference: list[float]) -> InterleavedPair:
    pair = InterleavedPair.__new__(InterleavedPair)  # the interleaving alone, with scripted arms
    pair.settings = Settings(ab_rounds=rounds, ab_max_rounds=most)
    pair.candidate, pair.reference = ScriptedPool(candidate), ScriptedPool(reference)
    return pair


def test_a_noisy_first_stage_runs_the_rounds_its_noise_needs() -> None:
    """After the first stage the plan sees both arms' rounds so far and the trial runs on to what it asks,
    capped at the most; a plan that asks for no more ends the trial there."""
    asked = []

    def plan(candidate: dict, reference: dict) -> int:
        asked.append((len(candidate["throughput_tok_s_samples"]), len(reference["throughput_tok_s_samples"])))
        return 12

    pair = _pair(4, 64, [90.0, 110.0], [100.0])
    outcome = pair.run(object(), plan=plan)
    assert asked == [(4, 4)] and outcome.planned == 12
    assert outcome.candidate.result["ab_rounds"] == outcome.reference.result["ab_rounds"] == 12
    assert pair.candidate.runs == pair.reference.runs == 12
    capped = _pair(4, 8, [90.0, 110.0], [100.0]).run(object(), plan=plan)
    assert capped.candidate.result["ab_rounds"] == 8
    fixed = _pair(4, 64, [90.0, 110.0], [100.0]).run(object(), plan=lambda c, r: 4)
    assert fixed.candidate.result["ab_rounds"] == 4 and fixed.planned == 4
    unplanned = _pair(4, 4, [90.0, 110.0], [100.0]).run(object(), plan=plan)  # most = rounds: never asks
    assert unplanned.candidate.result["ab_rounds"] == 4 and unplanned.planned is None and len(asked) == 2

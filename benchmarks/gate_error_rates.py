"""The gate's false alarms and detection, per item and per suite: stored baselines and interleaved A/B.

Noise source: the H200 sessions measured for the cross-host check (docs/results/gate-crosshost): two isolated
sessions on one lease and one on each of two other leases (the shipped baselines), 12 configurations, 5
repeats each. Per configuration it keeps the between-session sd of the session medians (log scale) and the
within-session residuals of the repeats. A simulated build draws, for each of m items (the 12 configurations,
cycled), k baseline sessions and one new session: session offset ~ N(0, sd_b of that configuration), repeats
resampled from its residuals; the new session is multiplied by (1 - drop). Each build then goes through the
product's own gate code (pooled priors by launch-bound class, alpha / m per item, Holm at the end), so what is
measured is what `pytest --infperf-compare` decides.

A/B mode (--infperf-ab-reference): noise from the measured A/A sessions of docs/results/gate-ab (both arms the
same environment, 16 rounds): per configuration, the rounds' log ratios centred on 0 (an A/A session's own
mean is sampling error, not an effect). A simulated item is a circular block bootstrap of that series: blocks
of BLOCK consecutive rounds from random starts, each block with a random sign, until n rounds (blocks keep the
persistence of rounds, where an arm sits in a slow state for several rounds, which the gate's Newey-West error
must account for; whole rounds keep the heavy tails where one arm hits a host hiccup the other misses; the
sign because in A/A the arms are exchangeable, so a ratio and its inverse are equally likely). It adds log(1 -
drop) and goes through `gate.judge_paired` and the Holm correction, as `pytest --infperf-ab-reference=...`
decides. Noise sources: both arms unpinned; both pinned to the same four CPUs (--infperf-cpu-affinity 0-3);
and HF GPT-2 bs64 pinned in four sessions, each a fresh pair of workers (how much the noise depends on the
pair drawn).

    python benchmarks/gate_error_rates.py [--builds 200] [--sessions 2,3,5] [--rounds 16,32,64,16-64] [--mode both]
    python benchmarks/gate_error_rates.py --mode sequence --builds 300   # a regression over 5 compare-and-save runs

"16-64" simulates the plugin's two-stage A/B design (--infperf-ab-rounds 16 --infperf-ab-max-rounds 64): each
item's first 16 rounds decide, by `stats.rounds_needed`, how many it runs in all; the table adds the mean.

Reported: per-item false-alarm rate, per-suite false-alarm rate (P(any item fails) in an A/A build) at 50 and
200 items, and the fraction of items a 5% and a 10% drop fails, for all configurations, the GPU-bound ones and
the launch-bound ones."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pytest_infperf.gate import (
    correct,
    is_launch_bound,
    item_alpha,
    joins_baseline,
    judge_against,
    judge_paired,
    pooled_priors,
)
from pytest_infperf.record_files import read_records
from pytest_infperf.settings import Settings
from pytest_infperf.stats import long_run_se, rounds_needed
from pytest_infperf.store import Baseline

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "gate-crosshost"
SESSIONS = (
    "h200-lease2-S1.jsonl",
    "h200-lease2-S2.jsonl",
    "h200-lease3-B1-aa.jsonl",
    "h200-lease4-B2-aa.jsonl",
)
AB_RESULTS = RESULTS.parent / "gate-ab"
AB_NOISE = {
    "unpinned": ("h200-AA.jsonl",),
    "pinned 0-3": ("h200-AAPIN-partial.jsonl", "h200-AAPINL.jsonl"),
    "pinned 0-3, one worker pair per session": tuple(f"h200-PAIRS{i}.jsonl" for i in range(1, 5)),
}
BLOCK = 4  # rounds per bootstrap block: the Newey-West window at 16-64 rounds is 2-3 lags


class Config:
    """One configuration's measured noise: between-session sd (log) and within-session residuals (log)."""

    def __init__(self, name: str, records: list[dict[str, Any]]) -> None:
        self.name = name
        logs = [np.log(r["throughput_tok_s_samples"]) for r in records]
        medians = np.array([np.median(x) for x in logs])
        self.sd_between = float(np.std(medians, ddof=1))
        self.residuals = np.concatenate([x - np.median(x) for x in logs])
        self.template = {
            k: records[0][k]
            for k in ("gpus", "gpu_util_mean_pct", "host_cpu_model", "host_cpus_usable", "host_cpu_quota")
        }
        self.launch_bound = is_launch_bound(records)

    def session(
        self,
        rng: np.random.Generator,
        repeats: int,
        factor: float,
        level: float | None = None,
        phi: float = 0.0,
    ) -> dict[str, Any]:
        """One session: its level drawn (or given, in sd units of this configuration), its repeats resampled;
        with `phi`, the repeats' residuals follow an AR(1) in their order (a slow state within the
        session)."""
        level = rng.normal(0.0, self.sd_between) if level is None else level * self.sd_between
        if phi:
            draws = rng.choice(self.residuals, repeats)
            ar = np.empty(repeats)
            ar[0] = draws[0]
            for i in range(1, repeats):
                ar[i] = phi * ar[i - 1] + np.sqrt(1 - phi**2) * draws[i]
            samples = np.exp(np.log(1000.0) + level + ar) * factor
            return self.template | {
                "status": "ok",
                "throughput_tok_s_samples": samples.tolist(),
                "throughput_tok_s": float(np.median(samples)),
            }
        samples = np.exp(np.log(1000.0) + level + rng.choice(self.residuals, repeats)) * factor
        return self.template | {
            "status": "ok",
            "throughput_tok_s_samples": samples.tolist(),
            "throughput_tok_s": float(np.median(samples)),
        }


def load_configs() -> list[Config]:
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in SESSIONS:
        for r in read_records(RESULTS / name):
            if r["status"] == "ok":
                by_case[r["case_id"]].append(r)
    return [Config(case, runs) for case, runs in sorted(by_case.items()) if len(runs) == len(SESSIONS)]


def ar1_levels(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """n session levels in sd units, an AR(1) in session order (days that drift), marginal sd 1."""
    levels = np.empty(n)
    levels[0] = rng.normal()
    for i in range(1, n):
        levels[i] = phi * levels[i - 1] + np.sqrt(1 - phi**2) * rng.normal()
    return levels


def build(
    configs: list[Config],
    items: int,
    sessions: int,
    drop: float,
    rng: np.random.Generator,
    settings: Settings,
    repeats: int = 5,
    phi: float = 0.0,
) -> list[str]:
    """One simulated build of `items` gated tests; returns each item's final verdict. With `phi`, the
    sessions' levels (baseline ones, then the new one) follow an AR(1) in time, and so do the repeats within a
    session."""
    picks = [configs[i % len(configs)] for i in range(items)]
    levels = [ar1_levels(rng, sessions + 1, phi) if phi else [None] * (sessions + 1) for _ in picks]
    baselines = [
        Baseline(
            Path(f"{c.name}.json"), {}, [c.session(rng, repeats, 1.0, lv[j], phi) for j in range(sessions)]
        )
        for c, lv in zip(picks, levels)
    ]
    priors = pooled_priors(baselines, "throughput_tok_s")
    alpha = item_alpha(settings, items)
    judged = []
    for config, baseline, lv in zip(picks, baselines, levels):
        verdict = judge_against(
            config.session(rng, repeats, 1 - drop, lv[-1], phi),
            baseline,
            settings,
            alpha,
            lambda metric, bound: priors[bound],
        )
        judged.append(verdict.as_record_fields())
    correct(judged, settings, items)
    return [j["gate_verdict"] for j in judged]


class PairedConfig:
    """One configuration's measured A/A rounds: log(candidate / reference) per round, centred on 0."""

    def __init__(self, record: dict[str, Any], source: str) -> None:
        self.name = record["case_id"] if source.startswith("h200-AA") else f"{record['case_id']} ({source})"
        logs = np.log(record["throughput_tok_s_samples"]) - np.log(
            record["ab_reference_throughput_tok_s_samples"]
        )
        self.log_ratios = logs - logs.mean()
        self.sd = float(np.std(logs, ddof=1))
        self.long_run_sd = long_run_se(logs)[0] * np.sqrt(logs.size)  # what the gate's Newey-West error sees
        self.launch_bound = is_launch_bound([record])

    def trial(
        self, rng: np.random.Generator, rounds: int, factor: float
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A simulated A/B trial: (candidate record, reference arm) with `rounds` resampled rounds."""
        reference = 1000.0 * np.exp(rng.normal(0.0, 0.05, rounds))
        n, blocks = self.log_ratios.size, -(-rounds // BLOCK)
        starts = rng.integers(0, n, blocks)
        signs = rng.choice((-1.0, 1.0), blocks)  # A/A arms are exchangeable: a ratio and its inverse alike
        logs = np.concatenate(
            [
                sign * np.take(self.log_ratios, range(start, start + BLOCK), mode="wrap")
                for start, sign in zip(starts, signs)
            ]
        )[:rounds]
        candidate = reference * np.exp(logs) * factor
        return (
            {"status": "ok", "throughput_tok_s_samples": candidate.tolist()},
            {"status": "ok", "throughput_tok_s_samples": reference.tolist()},
        )


def stages(rounds: str) -> tuple[int, int]:
    """ "16" -> (16, 16), a fixed count; "16-64" -> (16, 64): Stein's two stages as --infperf-ab-rounds 16
    --infperf-ab-max-rounds 64 run them."""
    first, _, most = rounds.partition("-")
    return int(first), int(most or first)


def staged_trial(
    config: PairedConfig, rng: np.random.Generator, rounds: str, factor: float, alpha: float, threshold: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One simulated A/B trial as the plugin runs it: the first stage, then as many rounds as
    `stats.rounds_needed` asks (the same series continued), at most the second number of `rounds`."""
    first, most = stages(rounds)
    candidate, reference = config.trial(rng, most, factor)
    n = first
    if most > first:
        n = rounds_needed(
            candidate["throughput_tok_s_samples"][:first],
            reference["throughput_tok_s_samples"][:first],
            alpha,
            threshold,
            Settings.ab_power,
            most=most,
        )
    return (
        {**candidate, "throughput_tok_s_samples": candidate["throughput_tok_s_samples"][:n]},
        {**reference, "throughput_tok_s_samples": reference["throughput_tok_s_samples"][:n]},
    )


def load_paired(names: tuple[str, ...]) -> list[PairedConfig]:
    return [
        PairedConfig(r, Path(name).stem)
        for name in names
        for r in read_records(AB_RESULTS / name)
        if r["status"] == "ok"
    ]


class RoundCount:
    """The rounds of the trials simulated since the last `mean()`: what a cell of a two-stage design costs."""

    def __init__(self) -> None:
        self.rounds: list[int] = []

    def mean(self) -> float:
        mean = float(np.mean(self.rounds)) if self.rounds else float("nan")
        self.rounds.clear()
        return mean


def ab_build(
    configs: list[PairedConfig],
    items: int,
    rounds: str,
    drop: float,
    rng: np.random.Generator,
    settings: Settings,
    count: RoundCount,
) -> list[str]:
    """One simulated A/B build of `items` gated tests; returns each item's final verdict."""
    alpha = item_alpha(settings, items)
    judged = []
    for i in range(items):
        candidate, reference = staged_trial(
            configs[i % len(configs)], rng, rounds, 1 - drop, alpha, settings.threshold
        )
        count.rounds.append(len(candidate["throughput_tok_s_samples"]))
        judged.append(judge_paired(candidate, reference, settings, alpha, "reference").as_record_fields())
    correct(judged, settings, items)
    return [j["gate_verdict"] for j in judged]


def detection_alone(
    config: PairedConfig, rounds: str, settings: Settings, rng: np.random.Generator, trials: int = 200
) -> float:
    """The share of simulated 10% drops of one configuration that its item fails at alpha / 50."""
    alpha = item_alpha(settings, 50)
    verdicts = [
        judge_paired(
            *staged_trial(config, rng, rounds, 0.9, alpha, settings.threshold), settings, alpha, "reference"
        ).outcome
        for _ in range(trials)
    ]
    return float(np.mean([v == "regression" for v in verdicts]))


def rates(run_build: Any, items: int, builds: int) -> dict[float, tuple[float, float]]:
    """Per drop (0, 5%, 10%): the share of items failed and the share of builds with any item failed."""
    found = {}
    for drop in (0.0, 0.05, 0.10):
        verdicts = [run_build(drop) for _ in range(builds)]
        flat = [v == "regression" for vs in verdicts for v in vs]
        found[drop] = (
            float(np.mean(flat)),
            float(np.mean([any(v == "regression" for v in vs) for vs in verdicts])),
        )
    return found


def row(label: str, k: str, items: int, found: dict[float, tuple[float, float]]) -> str:
    return (
        f"{label:14s} {k:>8s} {items:5d} {found[0.0][0]:16.3%} {found[0.0][1]:17.1%} "
        f"{found[0.05][0]:14.1%} {found[0.10][0]:15.1%}"
    )


def groups_of(configs: list[Any]) -> dict[str, list[Any]]:
    return {
        "all": configs,
        "GPU-bound": [c for c in configs if not c.launch_bound],
        "launch-bound": [c for c in configs if c.launch_bound],
    }


def table(configs: list[Any], what: str, counts: str, builds: int, run_build: Any, cost: Any = None) -> None:
    """The rates table: per group of configurations, per count of `what` (sessions or rounds; "16-64": two
    stages) and build size; `run_build(group, items, count, drop)` simulates one build; `cost()`, if given,
    says what the cell's builds cost (the mean rounds a trial ran) and starts counting afresh."""
    print(
        f"{'configurations':14s} {what:>8s} {'items':>5s} {'false alarm/item':>16s} "
        f"{'false alarm/suite':>17s} {'5% drop failed':>14s} {'10% drop failed':>15s}"
        + ("  mean rounds" if cost else "")
    )
    for label, group in groups_of(configs).items():
        if not group:
            continue
        for count in counts.split(","):
            for items in (50, 200):
                found = rates(
                    lambda drop: run_build(group, items, count, drop), items, max(20, builds * 50 // items)
                )
                print(row(label, count, items, found) + (f"  {cost():11.1f}" if cost else ""))


def stored_mode(args: argparse.Namespace, settings: Settings, rng: np.random.Generator) -> None:
    configs = load_configs()
    leases = len({name.split("-")[1] for name in SESSIONS})
    print(
        f"STORED BASELINES. noise: {len(configs)} H200 configurations, {len(SESSIONS)} sessions each ({leases} "
        f"leases); gate defaults: threshold {settings.threshold:.0%}, alpha {settings.alpha}, "
        f"{settings.multiple_testing}, noise floor {settings.noise_floor:.0%}, {settings.repeats} repeats; "
        f"{args.builds} builds per cell (fewer at 200 items)"
    )
    for c in configs:
        print(
            f"  {c.name:34s} between-session sd {c.sd_between:6.1%}  "
            f"{'launch-bound' if c.launch_bound else 'GPU-bound'}"
        )
    print()
    table(
        configs,
        "sessions",
        args.sessions,
        args.builds,
        lambda group, items, k, drop: build(group, items, int(k), drop, rng, settings),
    )
    for phi in args.phis:
        print(
            f"\nAR(1), phi {phi}: session levels drift in time (each new session correlated with the last "
            f"ones) and the repeats within a session follow an AR(1) too"
        )
        table(
            configs,
            "sessions",
            args.sessions,
            args.builds,
            lambda group, items, k, drop: build(group, items, int(k), drop, rng, settings, phi=phi),
        )


def ab_mode(args: argparse.Namespace, settings: Settings, rng: np.random.Generator) -> None:
    print(
        f"\nINTERLEAVED A/B. noise: the rounds of H200 A/A sessions (16 rounds of 64 prompts, >= 1 s each); "
        f"threshold {settings.threshold:.0%}, alpha {settings.alpha}, {settings.multiple_testing}; "
        f"{args.builds} builds per cell (fewer at 200 items)"
    )
    for source, names in AB_NOISE.items():
        configs = load_paired(names)
        print(
            f"\nnoise: {source} ({', '.join(names)}, {len(configs)} configurations); "
            "per configuration, the share of 10% "
            f"drops failed at alpha / 50 (an item of a 50-item build, before Holm) with "
            f"{', '.join(args.rounds.split(','))} rounds"
        )
        for c in configs:
            alone = [detection_alone(c, r, settings, rng) for r in args.rounds.split(",")]
            print(
                f"  {c.name:48s} round sd {c.sd:6.1%} (long-run {c.long_run_sd:6.1%})  "
                f"{'launch-bound' if c.launch_bound else 'GPU-bound':12s}"
                f"  10% drop failed {' / '.join(f'{x:.0%}' for x in alone)}"
            )
        count = RoundCount()
        table(
            configs,
            "rounds",
            args.rounds,
            args.builds,
            lambda group, items, rounds, drop: ab_build(group, items, rounds, drop, rng, settings, count),
            count.mean,
        )


def sequence_build(
    configs: list[Config],
    runs: int,
    sessions: int,
    drop: float,
    rng: np.random.Generator,
    settings: Settings,
    gated_save: bool,
    repeats: int = 5,
) -> list[float]:
    """`runs` successive `--infperf-compare --infperf-save` sessions of one build (every configuration once),
    each `drop` slower than the baseline's sessions: judged by the gate's code (priors, alpha / m, Holm), then
    saved the way the plugin saves (`gate.joins_baseline`; with gated_save False, every ok session, as
    before). Returns, per run, the share of items flagged a regression."""
    baselines = [
        Baseline(Path(f"{c.name}.json"), {}, [c.session(rng, repeats, 1.0) for _ in range(sessions)])
        for c in configs
    ]
    flagged = []
    for _ in range(runs):
        priors = pooled_priors(baselines, "throughput_tok_s")
        alpha = item_alpha(settings, len(configs))
        news = [c.session(rng, repeats, 1 - drop) for c in configs]
        judged = [
            judge_against(new, b, settings, alpha, lambda metric, bound: priors[bound]).as_record_fields()
            for new, b in zip(news, baselines)
        ]
        correct(judged, settings, len(configs))
        flagged.append(float(np.mean([j["gate_verdict"] == "regression" for j in judged])))
        for b, new, j in zip(baselines, news, judged):
            if not gated_save or joins_baseline(j["gate_verdict"]):
                b.sessions[:] = (b.sessions + [new])[-settings.baseline_sessions :]
    return flagged


def sequence_mode(args: argparse.Namespace, settings: Settings, rng: np.random.Generator) -> None:
    """A regression that persists over 5 compare-and-save runs: flagged on every run only if the baseline
    never absorbs it. Noise: the measured H200 configurations, and the synthetic case of the issue
    (between-session sd 2%, within 1%)."""
    measured = load_configs()
    synthetic = Config.__new__(Config)
    synthetic.name, synthetic.sd_between, synthetic.residuals = "synthetic", 0.02, rng.normal(0, 0.01, 400)
    synthetic.template, synthetic.launch_bound = dict(measured[0].template), False
    print(
        f"\nCOMPARE AND SAVE, 5 runs: `--infperf-compare --infperf-save` each run, the regression persisting; "
        f"share of items flagged per run, {args.builds} builds per cell"
    )
    print(f"{'noise':24s} {'sessions':>8s} {'drop':>5s} {'save rule':>12s}  runs 1-5 flagged")
    for label, configs in (("measured H200 (12)", measured), ("synthetic sd 2% (12)", [synthetic] * 12)):
        for sessions, drop in ((4, 0.20), (10, 0.10), (4, 0.0)):
            for gated in (True, False):
                runs = np.mean(
                    [
                        sequence_build(configs, 5, sessions, drop, rng, settings, gated)
                        for _ in range(args.builds)
                    ],
                    axis=0,
                )
                print(
                    f"{label:24s} {sessions:8d} {drop:5.0%} {'gated' if gated else 'save all':>12s}  "
                    + "  ".join(f"{x:6.1%}" for x in runs)
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=200, help="simulated builds per cell")
    parser.add_argument("--sessions", default="2,3,5", help="baseline sessions to simulate (stored mode)")
    parser.add_argument(
        "--rounds",
        default="16,32,64,16-64",
        help="A/B rounds to simulate (A/B mode): a count, or FIRST-MOST for the two-stage design",
    )
    parser.add_argument(
        "--mode",
        choices=("stored", "ab", "sequence", "both"),
        default="both",
        help="both: stored and ab; sequence: the compare-and-save runs",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--phis",
        type=lambda t: [float(x) for x in t.split(",") if x],
        default=[0.5, 0.8],
        help="stored mode: AR(1) cases to add (session levels and repeats), e.g. 0.5,0.8; '' none",
    )
    args = parser.parse_args()
    settings = Settings()
    rng = np.random.default_rng(args.seed)
    if args.mode in ("stored", "both"):
        stored_mode(args, settings, rng)
    if args.mode in ("ab", "both"):
        ab_mode(args, settings, rng)
    if args.mode == "sequence":
        sequence_mode(args, settings, rng)


if __name__ == "__main__":
    main()

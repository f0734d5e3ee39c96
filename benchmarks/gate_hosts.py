"""Stored baselines judged on a host they never saw: false alarms and detection, through the gate's own code.

Launch-bound configurations move between hosts of one kind by far more than between sessions on one host
(docs/RESULTS.md: the stored-baseline A/A on an unseen H100 host). A simulated suite has 12 configurations, 8
launch-bound (GPU busy 20%) and 4 GPU-bound (95%), as the cross-host set has. Each host gets an offset ~ N(0,
HOST_SD) on the log scale (launch-bound: --host-sd, GPU-bound: --gpu-host-sd), each session on it a further
offset ~ N(0, --session-sd), each of its 5 repeats ~ N(0, 1%). The baseline's sessions sit on the hosts of the
layout (`4x1`: four sessions on one host; `2x2`: two on each of two; `1x3`, `2x3`); the new session runs on a
new host (or, `--same-host`, on the baseline's first one), slowed by `drop` on every configuration. Every
build goes through `gate.judge_against` with the folder's pooled priors, alpha / m per item and Holm at the
end (`gate.correct`), as `pytest --infperf-compare` decides. `--by-session` judges every record at the session
level (the rule before the host became the unit of a launch-bound record from an unseen host), for the
before/after.

    python benchmarks/gate_hosts.py [--builds 400] [--layouts 4x1,2x2,1x3,2x3]

Reported per layout: the per-suite false-alarm rate (P(any item fails) with no change), and for a 20% and a
50% drop the share of launch-bound and of GPU-bound items failed, and the share called underpowered."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from pytest_infperf import gate
from pytest_infperf.gate import correct, item_alpha, judge_against, pooled_priors
from pytest_infperf.settings import Settings
from pytest_infperf.store import Baseline

CONFIGS = [(f"lb{i}", 20.0) for i in range(8)] + [(f"gb{i}", 95.0) for i in range(4)]
REPEATS, REPEAT_SD = 5, 0.01


def session(rng: np.random.Generator, level: float, util: float, host: str, when: int) -> dict[str, Any]:
    samples = list(1000.0 * np.exp(level + rng.normal(0, REPEAT_SD, REPEATS)))
    return {
        "status": "ok",
        "throughput_tok_s": float(np.median(samples)),
        "throughput_tok_s_samples": samples,
        "gpu_util_mean_pct": util,
        "gpus": 1,
        "host_boot_id": host,
        "timestamp": f"t{when}",
        "measurement_version": 2,
        "engine": "vllm",
    }


def build(
    rng: np.random.Generator, layout: tuple[int, int], drop: float, args: argparse.Namespace
) -> list[dict]:
    """One suite: every configuration's baseline and new record, judged and corrected; the judged records."""
    per_host, hosts = layout
    baselines, news = [], []
    for name, util in CONFIGS:
        host_sd = args.host_sd if util < gate.LAUNCH_BOUND_GPU_UTIL_PCT else args.gpu_host_sd
        offsets = rng.normal(0, host_sd, hosts + 1)
        sessions = [
            session(rng, offsets[h] + rng.normal(0, args.session_sd), util, f"host{h}", h * per_host + i)
            for h in range(hosts)
            for i in range(per_host)
        ]
        new_host = 0 if args.same_host else hosts
        level = offsets[new_host] + rng.normal(0, args.session_sd) + np.log(1 - drop)
        news.append(session(rng, level, util, f"host{new_host}", 999))
        baselines.append(Baseline(Path(f"{name}.json"), {"engine": "vllm"}, sessions))
    settings = Settings()
    alpha = item_alpha(settings, len(CONFIGS))
    judged = []
    for baseline, new in zip(baselines, news):

        def priors(metric: str, bound: bool, by_host: bool = False, b: Baseline = baseline) -> Any:
            return pooled_priors(baselines, metric, exclude=b, by_host=by_host)[bound]

        if args.by_session:
            new = new | {"host_boot_id": "host0"}  # looks like a baseline host: judged per session, as before
        verdict = judge_against(new, baseline, settings, alpha, priors)
        judged.append(verdict.as_record_fields() | {"case_id": baseline.path.stem})
    correct(judged, settings, len(CONFIGS))
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=400)
    parser.add_argument("--layouts", default="4x1,2x2,1x3,2x3")
    parser.add_argument("--host-sd", type=float, default=0.20, help="launch-bound between-host sd (log)")
    parser.add_argument("--gpu-host-sd", type=float, default=0.015, help="GPU-bound between-host sd (log)")
    parser.add_argument("--session-sd", type=float, default=0.03, help="between sessions on one host (log)")
    parser.add_argument(
        "--same-host", action="store_true", help="the new session on the baseline's first host"
    )
    parser.add_argument("--by-session", action="store_true", help="judge per session (the rule before)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rule = "per session (before)" if args.by_session else "per host for unseen hosts (now)"
    where = "the baseline's first host" if args.same_host else "a new host"
    print(
        f"new session on {where}; rule: {rule}; host sd {args.host_sd:.0%} launch-bound, {args.gpu_host_sd:.1%} "
        f"GPU-bound; session sd {args.session_sd:.0%}; {args.builds} builds of 12 items per cell"
    )
    print("layout  suite false alarm | 20% drop: LB failed / LB underpowered / GB failed | 50% drop: same")
    for text in args.layouts.split(","):
        layout = tuple(int(x) for x in text.split("x"))
        alarms = sum(
            any(r["gate_verdict"] == "regression" for r in build(rng, layout, 0.0, args))
            for _ in range(args.builds)
        )
        cells = [f"{text:6}  {alarms / args.builds:17.1%}"]
        for drop in (0.20, 0.50):
            rows = [r for _ in range(args.builds // 2) for r in build(rng, layout, drop, args)]
            lb = [r for r in rows if r["case_id"].startswith("lb")]
            gb = [r for r in rows if r["case_id"].startswith("gb")]
            share = lambda rs, v: sum(r["gate_verdict"] == v for r in rs) / len(rs)  # noqa: E731
            cells.append(
                f"{share(lb, 'regression'):6.1%} / {share(lb, 'underpowered'):6.1%} / {share(gb, 'regression'):6.1%}"
            )
        print(" | ".join(cells))


if __name__ == "__main__":
    main()

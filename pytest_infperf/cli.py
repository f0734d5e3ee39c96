"""`infperf compare | report | study | export | baseline`: analyse records and baselines outside a test
session.

Exit codes: 0 done (and, for compare, nothing that --fail-on fails on), 1 compare found what --fail-on fails
on, 2 bad input (unreadable records or baselines, bad arguments; compare pairing no configuration, unless
--fail-on never)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from .gate import Verdict, fails
from .record_files import read_records
from .records import RecordError
from .settings import FAIL_ON, MULTIPLE_TESTING, Settings, fraction, non_negative_float, positive_int
from .store import BaselineError


def _pair_fields(text: str) -> tuple[str, ...]:
    from .analysis import PAIRABLE_FIELDS

    fields = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in fields if f not in PAIRABLE_FIELDS]
    if unknown or not fields:
        raise argparse.ArgumentTypeError(
            f"unknown field(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(PAIRABLE_FIELDS)}"
        )
    return fields


def study_command(args: argparse.Namespace) -> str:
    """The `infperf study` line that makes this output again, written into it: a reader of the committed
    tables (and tests/test_study.py) regenerates them from the records it names."""
    words = ["infperf", "study", str(args.a)] + ([str(args.b)] if args.b else [])
    words += ["--workload", args.workload] if args.workload else []
    words += ["--batch", str(args.batch), "--gpus", str(args.gpus), "--seeds", str(args.seeds)]
    words += ["--out", str(args.out)] if args.out else []
    return shlex.join(words)


def check_baselines(root: Path) -> int:
    """`infperf baseline check`: 0 when every baseline under `root` can be judged against, else 1, naming
    each."""
    from .store import BaselineStore

    if not root.is_dir():
        print(f"infperf: error: {root} is not a folder of baselines", file=sys.stderr)
        return 2
    store = BaselineStore(root)
    problems = store.problems()
    for path, why in problems:
        print(f"{path}: {why}")
    total = sum(1 for p in root.glob("*/*/*.json") if p.parent.name != "_infpop")
    stale = len({path for path, _ in problems})
    print(f"{total - stale} of {total} baseline(s) under {root} can be compared against; {stale} cannot")
    return 1 if problems else 0


def _add_compare(sub: Any) -> None:
    """`infperf compare A B`."""
    cmp = sub.add_parser(
        "compare",
        help="pair two sets of records by configuration (e.g. A100 vs H100, or "
        "two engine versions) and test the difference",
    )
    cmp.add_argument(
        "a", type=Path, help="records file (.jsonl) or baselines folder (baselines/<fingerprint>)"
    )
    cmp.add_argument("b", type=Path, help="the same, for the other side")
    cmp.add_argument(
        "--metric", default=Settings.gate_metrics[0], help="what the gate judges (default: %(default)s)"
    )
    cmp.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=Settings.fail_on,
        help="exit 1 on: regression (default), any significant change beyond the threshold (stale "
        "baselines too), never",
    )
    cmp.add_argument(
        "--threshold",
        type=fraction,
        default=Settings.threshold,
        help="smallest relative change that counts (default: %(default)s)",
    )
    cmp.add_argument(
        "--alpha", type=fraction, default=Settings.alpha, help="family-wise level (default: %(default)s)"
    )
    cmp.add_argument(
        "--multiple-testing",
        choices=MULTIPLE_TESTING,
        default=Settings.multiple_testing,
        help="correction over the pairs (default: %(default)s)",
    )
    cmp.add_argument(
        "--noise-floor",
        type=non_negative_float,
        default=Settings.noise_floor,
        help="smallest between-session spread assumed (default: %(default)s)",
    )
    cmp.add_argument(
        "--pair-by",
        type=_pair_fields,
        default=None,
        metavar="FIELDS",
        help="the fields that make a configuration, comma-separated, from: "
        "engine, model, gpus, batch_size, workload, dtype, num_prompts, hardware_fingerprint "
        "(default: engine,model,gpus,batch_size,workload); leave engine out to pair HF with vLLM",
    )
    cmp.add_argument("--csv", type=Path)
    cmp.add_argument("--json", type=Path)
    cmp.add_argument("--plot", type=Path, help="PNG of the per-configuration ratios")


def _add_report(sub: Any) -> None:
    """`infperf report SOURCE`."""
    rep = sub.add_parser(
        "report", help="plots (vs batch, vs GPUs, landscape) and ANOVA/Tukey/Pearson summary"
    )
    rep.add_argument("source", type=Path, help="records file or baselines folder")
    rep.add_argument("--out", type=Path, default=Path("infperf-report"))
    rep.add_argument("--metric", default="throughput_tok_s")


def _add_study(sub: Any) -> None:
    """`infperf study A [B]`."""
    stu = sub.add_parser(
        "study",
        help="the throughput study's tables (RQ2-RQ5, the engine table) from the "
        "records of two GPU kinds, or the per-kind ones of one kind, as Markdown",
    )
    stu.add_argument(
        "a",
        type=Path,
        help="kind A: a records file (.jsonl) or a folder of them (and of InfPop *.tuned.json summaries)",
    )
    stu.add_argument(
        "b",
        type=Path,
        nargs="?",
        help="kind B, the same; RQ4 reports B's gain over A, RQ5 the "
        "gain of re-tuning between them (without B: RQ2, RQ3 and the engine table of A alone)",
    )
    stu.add_argument("--workload", help="the workload to use where the records hold several")
    stu.add_argument("--batch", type=positive_int, default=1, help="batch size of RQ2 (default: %(default)s)")
    stu.add_argument("--gpus", type=positive_int, default=1, help="GPU count of RQ3 (default: %(default)s)")
    stu.add_argument(
        "--seeds",
        type=positive_int,
        default=10,
        help="tuner seeds of the replayed RQ5 (default: %(default)s)",
    )
    stu.add_argument("--out", type=Path, help="write the Markdown here (default: standard output)")


def _add_export(sub: Any) -> None:
    """`infperf export RECORDS`."""
    exp = sub.add_parser(
        "export",
        help="write records in the JSON other tools read (vllm bench serve's result, "
        "a saved pytest-benchmark run)",
    )
    exp.add_argument("records", type=Path, help="records file (.jsonl)")
    exp.add_argument("--format", required=True, choices=("vllm-bench", "pytest-benchmark"))
    exp.add_argument(
        "--out",
        type=Path,
        required=True,
        help="JSON file to write (for pytest-benchmark, put it "
        "under .benchmarks/<machine>/NNNN_name.json to use --benchmark-compare)",
    )


def _add_baseline(sub: Any) -> None:
    """`infperf baseline add | check`."""
    base = sub.add_parser("baseline", help="manage stored baselines")
    base_sub = base.add_subparsers(dest="action", required=True)
    add = base_sub.add_parser(
        "add",
        help="add the ok records of finished sessions to the baselines, each record "
        "as one session of its configuration (by its hardware fingerprint)",
    )
    add.add_argument("baselines", type=Path, help="the baselines root folder (e.g. baselines)")
    add.add_argument(
        "records", type=Path, nargs="+", help="records files (.jsonl), one per session, oldest first"
    )
    add.add_argument(
        "--keep",
        type=positive_int,
        default=Settings.baseline_sessions,
        help="sessions a baseline keeps (default: %(default)s)",
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="start every baseline these records touch over with "
        "them (for baselines measured the old way); baselines they do not touch stay as they are",
    )
    chk = base_sub.add_parser(
        "check",
        help="list every baseline this version cannot compare against "
        "(schema, measurement version, missing fields); exit 1 if any",
    )
    chk.add_argument("baselines", type=Path, help="the baselines root folder (e.g. baselines)")


def _add_options(sub: Any) -> None:
    """`infperf options`: the options reference (docs/options.md), made from the plugin's OPTIONS table."""
    opt = sub.add_parser("options", help="print the plugin's options as the Markdown of docs/options.md")
    opt.add_argument("--out", type=Path, help="write it here (default: standard output)")


def _run_compare(args: argparse.Namespace) -> int:
    """Exit 1 on what --fail-on fails on, 2 when nothing pairs."""
    from . import analysis

    settings = Settings(
        threshold=args.threshold,
        alpha=args.alpha,
        multiple_testing=args.multiple_testing,
        noise_floor=args.noise_floor,
        gate_metrics=(args.metric,),
    )
    result = analysis.compare(args.a, args.b, args.metric, settings, args.pair_by or analysis.CONFIG_FIELDS)
    print("\n".join(analysis.compare_table(result)))
    analysis.write_compare(result, args.csv, args.json, args.plot)
    if not result["pairs"]:  # bad input, not a pass: a wrong file or a renamed configuration
        print("infperf: nothing was compared: no configuration ran ok in both", file=sys.stderr)
        return 0 if args.fail_on == "never" else 2
    failing = [r for r in result["rows"] if fails(Verdict(r["verdict"], r["message"]), args.fail_on)]
    if failing:
        print(f"infperf: {len(failing)} configuration(s) fail --fail-on {args.fail_on}", file=sys.stderr)
        return 1
    return 0


def _run_study(args: argparse.Namespace) -> int:
    """Write or print the study's Markdown."""
    from . import study

    text = study.render(
        study.load_side([args.a], args.workload),
        study.load_side([args.b], args.workload) if args.b else None,
        args.batch,
        args.gpus,
        args.seeds,
        command=study_command(args),
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    """Records as another tool's JSON."""
    import json

    from . import export

    records = [r for r in read_records(args.records) if r["status"] == "ok"]
    data: Any = (
        [export.to_vllm_bench(r) for r in records]
        if args.format == "vllm-bench"
        else export.to_pytest_benchmark(records)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2, default=str))
    print(f"wrote {len(records)} configuration(s) as {args.format} to {args.out}")
    return 0


def _run_baseline_add(args: argparse.Namespace) -> int:
    """Each ok record as one session of its baseline."""
    from .store import BaselineStore

    store = BaselineStore(args.baselines)
    added: list[Path] = []
    for path in args.records:
        for record in (r for r in read_records(path) if r["status"] == "ok"):
            fresh = args.replace and store.path_for(record["hardware_fingerprint"], record) not in added
            added.append(store.save(record, replace=fresh, keep=args.keep))
    print(f"added {len(added)} session(s) to {len(set(added))} baseline(s) under {args.baselines}")
    for notice in store.notices:
        print(f"infperf: {notice}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    """Plots, tables and the HTML page."""
    from .reports import markdown

    print(f"wrote {markdown.report(args.source, args.out, args.metric)}")
    return 0


def _run_options(args: argparse.Namespace) -> int:
    from .settings import options_reference

    text = options_reference()
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _run_baseline(args: argparse.Namespace) -> int:
    return check_baselines(args.baselines) if args.action == "check" else _run_baseline_add(args)


RUNS = {
    "compare": _run_compare,
    "report": _run_report,
    "study": _run_study,
    "export": _run_export,
    "baseline": _run_baseline,
    "options": _run_options,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infperf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_compare, _add_report, _add_study, _add_export, _add_baseline, _add_options):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return RUNS[args.command](args)
    except (RecordError, BaselineError, OSError, RuntimeError, ValueError) as err:
        print(f"infperf: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

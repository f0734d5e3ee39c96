"""`infperf compare | report`: analyse records and baselines outside a test session."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .records import RecordError
from .store import BaselineError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infperf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="pair two sets of records by configuration (e.g. A100 vs H100, or "
                                         "two engine versions) and test the difference")
    cmp.add_argument("a", type=Path, help="records file (.jsonl) or baselines folder (baselines/<fingerprint>)")
    cmp.add_argument("b", type=Path, help="the same, for the other side")
    cmp.add_argument("--metric", default="throughput_tok_s")
    cmp.add_argument("--csv", type=Path)
    cmp.add_argument("--json", type=Path)
    cmp.add_argument("--plot", type=Path, help="PNG of the per-configuration ratios")
    rep = sub.add_parser("report", help="plots (vs batch, vs GPUs, landscape) and ANOVA/Tukey/Pearson summary")
    rep.add_argument("source", type=Path, help="records file or baselines folder")
    rep.add_argument("--out", type=Path, default=Path("infperf-report"))
    rep.add_argument("--metric", default="throughput_tok_s")
    args = parser.parse_args(argv)
    from . import analysis

    try:
        if args.command == "compare":
            result = analysis.compare(args.a, args.b, args.metric)
            print("\n".join(analysis.compare_table(result)))
            analysis.write_compare(result, args.csv, args.json, args.plot)
        else:
            print(f"wrote {analysis.report(args.source, args.out, args.metric)}")
    except (RecordError, BaselineError, OSError) as err:
        print(f"infperf: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

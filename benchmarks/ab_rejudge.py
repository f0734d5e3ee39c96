"""Judge recorded interleaved A/B sessions again with the gate as it is now, beside the verdict each session
gave live: what a change to the paired statistics does to measured rounds, with no GPU.

python benchmarks/ab_rejudge.py docs/results/gate-ab/h200-AAPIN1.jsonl docs/results/gate-ab/h200-D10PIN1.jsonl

Each file is one pytest session: its ok records are judged at alpha / m (m = the session's records) on the
default gate metrics by `gate.judge_paired`, then Holm over the session, as `--infperf-ab-reference` decides.
The reference arm is rebuilt from the record's `ab_reference_*` fields.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_infperf.gate import correct, item_alpha, judge_paired
from pytest_infperf.record_files import read_records
from pytest_infperf.settings import Settings

PREFIX = "ab_reference_"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, nargs="+")
    settings = Settings()
    print(
        f"{'session':16s} {'case':32s} {'live':12s} {'now':12s} {'change':>7s} {'ratio CI':>13s} {'p':>8s} "
        f"{'noise':>6s}  rounds"
    )
    for file in parser.parse_args().records:
        records = [r for r in read_records(file) if r["status"] == "ok" and r.get("ab_rounds")]
        alpha = item_alpha(settings, len(records))
        judged = []
        for r in records:
            reference = {k[len(PREFIX) :]: v for k, v in r.items() if k.startswith(PREFIX)}
            fresh = {k: v for k, v in r.items() if not k.startswith("gate_")}
            fresh.update(judge_paired(r, reference, settings, alpha, "reference").as_record_fields())
            judged.append((r.get("gate_verdict"), fresh))
        correct([j for _, j in judged], settings, len(judged))
        for live, j in judged:
            print(
                f"{file.stem:16s} {j['case_id']:32s} {live or '-':12s} {j['gate_verdict']:12s} "
                f"{j['gate_change']:+7.1%} {j['gate_ratio_low']:.3f}-{j['gate_ratio_high']:.3f} "
                f"{j['gate_p_adjusted']:8.2g} {j['gate_noise_sd']:6.1%}  {j['ab_rounds']}"
            )


if __name__ == "__main__":
    main()

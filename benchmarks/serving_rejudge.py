"""Judge recorded serving sessions again against the baselines as they stood before a given time, on the
default serving gate metrics, as a live `--infperf-compare` session would (Bonferroni per item, Holm at the
end).

    python benchmarks/serving_rejudge.py docs/results/serving/h200-lease6-AA.jsonl --before 2026-11-25T03:5

Sessions of a baseline saved at or after `--before` (a timestamp prefix) are left out, so a session that was
later added to the baselines is not judged against itself."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

from pytest_infperf.gate import Gate
from pytest_infperf.record_files import read_records
from pytest_infperf.settings import Settings
from pytest_infperf.store import BaselineStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, nargs="+")
    parser.add_argument("--baselines", type=Path, default=Path("baselines"))
    parser.add_argument("--fingerprint", default="h200-140gb-x1")
    parser.add_argument(
        "--before", required=True, help="leave out baseline sessions from this timestamp prefix on"
    )
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp()) / "baselines"
    shutil.copytree(opts.baselines, folder)
    for path in (folder / opts.fingerprint / "test_serving").glob("*.json"):
        data = json.loads(path.read_text())
        data["sessions"] = [s for s in data["sessions"] if s["timestamp"] < opts.before]
        path.write_text(json.dumps(data))
    settings = Settings(compare=opts.fingerprint, baselines=folder)
    for file in opts.records:
        records = [{k: v for k, v in r.items() if not k.startswith("gate_")} for r in read_records(file)]
        gate = Gate(
            BaselineStore(folder), settings, SimpleNamespace(fingerprint=opts.fingerprint, gpu_count=1)
        )
        gate.planned = len(records) * len(settings.serve_gate_metrics)
        for record in records:
            record |= gate.judge(record, settings.serve_gate_metrics).as_record_fields()
        gate.finish(records)
        for r in records:
            change = "" if r.get("gate_change") is None else f" ({r['gate_change']:+.1%})"
            print(f"{file.name}: {r['case_id']}: {r['gate_verdict']}{change}: {r['gate_message']}")


if __name__ == "__main__":
    main()

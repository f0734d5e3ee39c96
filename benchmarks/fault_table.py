"""The fault table of issue "Nothing lost": each fault run as a user meets it, on this machine's CPU, with the
real HF engine on a tiny model, in a fresh project folder per fault; prints fault, outcome, the message a user
reads, and the exit code, as a Markdown table for docs/RESULTS.md.

    python benchmarks/fault_table.py [--out docs/results/fault-table.md]

Each row is checked as well as printed: a row whose outcome is not what the product promises says FAILED, and
the script exits 1. The tests in tests/ assert the same behaviours one by one; this is the table on one
commit."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Callable

MATRIX = """
[cpu]
engines = ["hf"]
models = ["tiny-gpt2"]
gpus = [0]
batch_sizes = [4]
"""
TEST = """
def test_throughput(infperf, batch_size):
    assert infperf.measure()["throughput_tok_s"] > 0
"""
FAST = ["--infperf-repeats", "2", "--infperf-min-repeat-s", "0", "--infperf-num-prompts", "8"]


class Project:
    """A fresh pytest project with a matrix and one perf test; runs pytest or the CLI in it."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        (root / "matrix.toml").write_text(MATRIX)
        (root / "test_perf.py").write_text(TEST)
        (root / "pytest.ini").write_text(
            textwrap.dedent(f"""\
            [pytest]
            infperf_matrix = matrix.toml
            infperf_output = records.jsonl
            infperf_cache_dir = {cache}
            """)
        )

    def pytest(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:benchmark",
                "-m",
                "cpu",
                *args,
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_infperf.cli", *args], cwd=self.root, capture_output=True, text=True
        )


def line_with(done: subprocess.CompletedProcess[str], pattern: str) -> str:
    """The first output line matching `pattern` (what the user reads), or '(no such line)'."""
    for line in (done.stdout + done.stderr).splitlines():
        if re.search(pattern, line):
            return line.strip()[:240]
    return "(no such line)"


Row = tuple[str, str, str, int, bool]


def records_kept(p: Project) -> Row:
    p.pytest(*FAST)
    before = (p.root / "records.jsonl").read_text()
    help_run = p.pytest("--help")
    collect = p.pytest("--collect-only", "-q")
    kept = (p.root / "records.jsonl").read_text() == before
    return (
        "1. `pytest --help`, `--collect-only` after a run",
        "records file unchanged" if kept else "LOST",
        "(nothing printed)",
        collect.returncode,
        kept and help_run.returncode == 0,
    )


def output_not_records(p: Project) -> Row:
    (p.root / "notes.md").write_text("# mine\n")
    done = p.pytest("--infperf-output=notes.md", *FAST)
    kept = (p.root / "notes.md").read_text() == "# mine\n"
    return (
        "1. `--infperf-output notes.md` (not a records file)",
        "refused, file kept" if kept else "OVERWRITTEN",
        line_with(done, "infperf-output"),
        done.returncode,
        kept and done.returncode == 4,
    )


def save_other_settings(p: Project) -> Row:
    p.pytest("--infperf-save", *FAST)
    p.pytest("--infperf-save", *FAST)
    done = p.pytest("--infperf-save", *FAST[:-1], "6")
    archived = list(p.root.glob("baselines/*/*/*.archived-*"))
    return (
        "2. `--infperf-save` at other settings (8 -> 6 prompts)",
        f"{len(archived)} archive kept, reported",
        line_with(done, "started over"),
        done.returncode,
        len(archived) == 1 and done.returncode == 0,
    )


def save_over_corrupted(p: Project) -> Row:
    p.pytest("--infperf-save", *FAST)
    [path] = list(p.root.glob("baselines/*/*/*.json"))
    path.write_text("{broken")
    done = p.pytest("--infperf-save", *FAST)
    aside = list(p.root.glob("baselines/*/*/*.corrupt-*"))
    return (
        "2. `--infperf-save` over a corrupted baseline",
        "moved aside, reported",
        line_with(done, "unreadable"),
        done.returncode,
        len(aside) == 1 and "unreadable" in done.stdout,
    )


def crafted_record(p: Project) -> Row:
    p.pytest(*FAST)
    record = json.loads((p.root / "records.jsonl").read_text().splitlines()[0])
    (p.root / "crafted.jsonl").write_text(json.dumps({**record, "hardware_fingerprint": "../../x"}) + "\n")
    done = p.cli("baseline", "add", "baselines", "crafted.jsonl")
    escaped = (p.root.parent / "x").exists()
    return (
        "3. `infperf baseline add` of a record with fingerprint `../../x`",
        "refused" if not escaped else "WRITTEN OUTSIDE",
        line_with(done, "plain file name"),
        done.returncode,
        not escaped and done.returncode == 2,
    )


def readonly_baselines(p: Project) -> Row:
    folder = p.root / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        done = p.pytest("--infperf-save", "--infperf-baselines=ro", *FAST)
    finally:
        folder.chmod(stat.S_IRWXU)
    ran = "passed" in done.stdout
    root = os.geteuid() == 0  # root writes anywhere: the check cannot fire, say so
    return (
        "4. `--infperf-save` into a read-only folder" + (" (as root: writable)" if root else ""),
        "stopped before any trial" if not ran else "ran (root can write)",
        line_with(done, "writ"),
        done.returncode,
        root or (not ran and done.returncode == 4),
    )


def baselines_is_a_file(p: Project) -> Row:
    (p.root / "afile").write_text("x")
    done = p.pytest("--infperf-compare", "--infperf-baselines=afile", *FAST)
    return (
        "4. `--infperf-compare` with `--infperf-baselines` a file",
        "stopped before any trial",
        line_with(done, "is a file"),
        done.returncode,
        done.returncode == 4,
    )


def compare_nothing(p: Project) -> Row:
    p.pytest(*FAST)
    (p.root / "empty.jsonl").write_text("")
    done = p.cli("compare", "records.jsonl", "empty.jsonl")
    return (
        "5. `infperf compare` pairing no configuration",
        "bad input",
        line_with(done, "nothing was compared"),
        done.returncode,
        done.returncode == 2,
    )


def required_nothing_judged(p: Project) -> Row:
    p.pytest("--infperf-save", *FAST)
    done = p.pytest("--infperf-compare", "--infperf-require-baseline", "--infperf-gpus", "3", *FAST)
    return (
        "5. `--infperf-gpus 3 --infperf-compare --infperf-require-baseline` on CPU",
        "failed, says why",
        line_with(done, "nothing was judged"),
        done.returncode,
        done.returncode == 1,
    )


def hub_ids(p: Project) -> Row:
    (p.root / "matrix.toml").write_text(
        MATRIX.replace('"tiny-gpt2"', '"orgx/infperf-none", "orgy/infperf-none"')
    )
    done = p.pytest("--collect-only", "-q", *FAST)
    ids = [line for line in done.stdout.splitlines() if "test_throughput[" in line]
    crafted = p.pytest("--collect-only", "--infperf-model", "a/..")
    distinct = len(set(ids)) == 2 and all("--infperf-none" in i for i in ids)
    return (
        "6. hub ids `orgx/m`, `orgy/m`; then `a/..`",
        "distinct ids; `a/..` refused",
        line_with(crafted, "unknown model"),
        crafted.returncode,
        distinct and crafted.returncode == 4,
    )


def file_mode(p: Project) -> Row:
    p.pytest("--infperf-save", *FAST)
    [path] = list(p.root.glob("baselines/*/*/*.json"))
    mode = path.stat().st_mode & 0o777
    return ("7. a saved baseline's mode (umask 022)", f"{mode:o}", "(nothing printed)", 0, mode == 0o644)


def space_before_path(p: Project) -> Row:
    elsewhere = Path(tempfile.mkdtemp()) / "ckpt"
    elsewhere.mkdir()
    done = p.pytest("--infperf-model", str(elsewhere), *FAST)
    return (
        "8. `--infperf-model /path/ckpt` (a space, not `=`)",
        "stopped before anything ran",
        line_with(done, "write it as"),
        done.returncode,
        done.returncode == 4,
    )


FAULTS: tuple[Callable[[Project], Row], ...] = (
    records_kept,
    output_not_records,
    save_other_settings,
    save_over_corrupted,
    crafted_record,
    readonly_baselines,
    baselines_is_a_file,
    compare_nothing,
    required_nothing_judged,
    hub_ids,
    file_mode,
    space_before_path,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.umask(0o022)
    work = Path(tempfile.mkdtemp(prefix="infperf-faults-"))
    lines = ["| fault | outcome | message | exit code | as promised |", "|---|---|---|---:|---|"]
    bad = 0
    for i, fault in enumerate(FAULTS):
        name, outcome, message, code, ok = fault(Project(work / f"p{i}", work / "cache"))
        message = re.sub(r"/tmp/[\w.-]+/(p\d+/)?", "<project>/", message)  # the same in every run
        bad += not ok
        lines.append(
            f"| {name} | {outcome} | `{message.replace('|', '/')}` | {code} | {'yes' if ok else 'FAILED'} |"
        )
        print(lines[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

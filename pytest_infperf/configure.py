"""Configure time: the settings read from options and ini, and every check that must stop a session before any
trial runs (records file, baselines folder, the A/B reference environment)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .refenv import ReferenceBuildError, ReferenceEnv, ensure_reference
from .settings import OPTIONS, Settings, build_settings


def read_settings(config: pytest.Config) -> Settings:
    """Command line beats ini beats the default (Settings' own); ini values get the same validation as
    options."""
    import argparse

    raw: dict[str, Any] = {}
    for option in OPTIONS:
        value = config.getoption(option.dest)
        text = config.getini(option.dest) if value is None and option.ini else None
        if text:
            try:
                value = option.parse(text)
            except argparse.ArgumentTypeError as err:
                raise pytest.UsageError(f"ini option {option.dest}: {err}") from None
        raw[option.dest] = value
    settings = build_settings(raw, Path(str(config.rootpath)))
    if settings.tune.grid and (not settings.tune.tune or settings.tune.serve):
        raise pytest.UsageError(
            "--infpop-grid measures the offline tuning space: give it with --infpop-tune, without --infpop-serve"
        )
    return settings


def check_output(path: Path) -> None:
    """--infperf-output must be a records file or not exist yet: never a folder, never some other file."""
    if path.is_dir():
        raise pytest.UsageError(f"--infperf-output {path} is a folder; name a records file (.jsonl) in it")
    if path.exists():
        with path.open() as f:
            first = f.readline().strip()
        try:
            looks_like_records = not first or (
                first.startswith("{") and '"schema"' in first and json.loads(first)
            )
        except json.JSONDecodeError:
            looks_like_records = False
        if not looks_like_records:
            raise pytest.UsageError(
                f"--infperf-output {path} exists and is not a records file; the suite would "
                "replace it: name another path"
            )
    check_writable(path.parent, f"--infperf-output {path}")


def check_writable(folder: Path, what: str) -> None:
    """The folder, or the nearest one above it that exists, must be writable; found before any trial runs."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise pytest.UsageError(f"{what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise pytest.UsageError(f"{what}: {existing} cannot be written")


def reference_env(settings: Settings, measuring: bool) -> ReferenceEnv | None:
    """The A/B reference arm's environment, built from its spec now (so a spec that cannot be installed stops
    the session before any trial, in one line), or None without --infperf-ab-reference or when nothing is
    measured."""
    if settings.ab_reference is None or not measuring:
        return None
    try:
        return ensure_reference(settings.ab_reference, settings.cache_dir)
    except ReferenceBuildError as err:
        raise pytest.UsageError(
            f"--infperf-ab-reference {settings.ab_reference}: could not build the reference "
            f"environment: {err}"
        ) from None


def check_baselines_folder(root: Path, saving: bool) -> None:
    """--infperf-baselines must be a folder (or not exist yet); with --infperf-save, one this process can write."""
    if root.exists() and not root.is_dir():
        raise pytest.UsageError(f"--infperf-baselines {root} is a file, not a folder of baselines")
    if saving:
        check_writable(root, f"--infperf-save into --infperf-baselines {root}")

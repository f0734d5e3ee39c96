"""The test matrix: hardware targets (from a TOML file) x engines x models x GPU counts x batch sizes x workloads.

Each table of the matrix file is one hardware target named by its generation marker:

    [h100]
    engines = ["hf", "vllm"]
    models = ["llama-3-8b"]
    gpus = [1]
    batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    workloads = ["humaneval"]
    num_prompts = 256

Command-line options override a field for every target; `@pytest.mark.infperf(workloads=[...])` overrides it
for one test function. A table's `serving` sub-table declares its serving cases (serving/cases.py). Case ids
are stable and readable; they key the baselines.
"""
from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from . import settings as parsers
from .models import resolve
from .workloads import WorkloadSpec, parse_workload


@dataclass(frozen=True)
class TrialKey:
    """What one worker process serves: the model stays loaded for every batch size of this key."""

    engine: str
    model: str
    gpus: int
    knobs: tuple[tuple[str, Any], ...] = ()  # load-time engine settings (tuned ones), overriding the options

    @property
    def id(self) -> str:
        base = f"{self.engine}-{resolve(self.model).slug}-gpus{self.gpus}"
        return "-".join([base, *(f"{k.replace('_', '')}{v}" for k, v in self.knobs)])


@dataclass(frozen=True)
class Case:
    hardware: str
    engine: str
    model: str
    gpus: int
    batch_size: int
    workload: WorkloadSpec
    num_prompts: int | None = None
    knobs: tuple[tuple[str, Any], ...] = ()

    @property
    def trial_key(self) -> TrialKey:
        return TrialKey(self.engine, self.model, self.gpus, self.knobs)

    @property
    def id(self) -> str:
        """`h100-hf-llama-3-8b-gpus1-bs64`; non-default workloads add `-in512-out128`."""
        base = f"{self.hardware}-{self.trial_key.id}-bs{self.batch_size}"
        if self.workload.name == "humaneval":
            return base
        return f"{base}-in{self.workload.input_len}-out{self.workload.output_len}"


@dataclass(frozen=True)
class Target:
    """One table of the matrix."""

    hardware: str
    engines: tuple[str, ...] = ("hf",)
    models: tuple[str, ...] = ("tiny-llama",)
    gpus: tuple[int, ...] = (0,)
    batch_sizes: tuple[int, ...] = (1, 4, 16)
    workloads: tuple[str, ...] = ("humaneval",)
    num_prompts: int | None = None
    serving: tuple[Any, ...] = ()  # serving.cases.ServingTarget: the table's `serving` sub-table(s)


# Matrix field -> parser taking the comma-separated text form (the same validation as the options).
_FIELD_PARSERS: dict[str, Callable[[str], Any]] = {
    "engines": parsers.engines, "models": parsers.models, "gpus": parsers.gpu_counts,
    "batch_sizes": parsers.batch_sizes, "workloads": parsers.workloads, "num_prompts": parsers.positive_int,
}
# Settings attribute -> matrix field it overrides.
OVERRIDES = {"engine": "engines", "model": "models", "gpus": "gpus", "batch_sizes": "batch_sizes",
             "workload": "workloads", "num_prompts": "num_prompts"}


class MatrixError(ValueError):
    pass


def parse_fields(values: dict[str, Any], where: str,
                 field_parsers: dict[str, Callable[[str], Any]] = _FIELD_PARSERS) -> dict[str, Any]:
    """Validate matrix or marker fields (or a serving table's, with its parsers); errors name `where` and the
    field."""
    parsed = {}
    for name, value in values.items():
        if name not in field_parsers:
            raise MatrixError(f"{where}: unknown field {name!r}; known: {', '.join(field_parsers)}")
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        try:
            parsed[name] = field_parsers[name](text)
        except argparse.ArgumentTypeError as err:
            raise MatrixError(f"{where}: {name}: {err}") from None
    return parsed


def load_matrix(path: Path) -> list[Target]:
    from .hardware import GENERATIONS

    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MatrixError(f"matrix file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise MatrixError(f"matrix file {path} is not valid TOML: {err}") from None
    targets = []
    for hardware, table in data.items():
        if hardware not in GENERATIONS:
            raise MatrixError(f"{path}: [{hardware}] is not a hardware generation; known: {', '.join(GENERATIONS)}")
        if not isinstance(table, dict):
            raise MatrixError(f"{path}: [{hardware}] must be a table")
        table = dict(table)
        serving = table.pop("serving", ())
        if serving:
            from .serving.cases import parse_targets

            serving = parse_targets(hardware, serving, f"{path} [{hardware}.serving]")
        targets.append(Target(hardware, **parse_fields(table, f"{path} [{hardware}]"), serving=serving))
    return targets


def default_target(hardware: str, gpu_count: int) -> Target:
    return Target(hardware, gpus=(1,) if gpu_count else (0,))


def expand(targets: list[Target], overrides: dict[str, Any], marker_fields: dict[str, Any],
           output_len: int) -> Iterator[Case]:
    """All cases in declaration order. Marker fields beat the matrix; command-line overrides beat both."""
    for target in targets:
        target = replace(target, **marker_fields, **overrides)
        for engine in target.engines:
            for model in target.models:
                for gpus in target.gpus:
                    for workload in target.workloads:
                        spec = parse_workload(workload, output_len)
                        for batch_size in target.batch_sizes:
                            yield Case(target.hardware, engine, model, gpus, batch_size, spec, target.num_prompts)


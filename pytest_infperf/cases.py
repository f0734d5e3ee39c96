"""The test matrix: hardware targets (from a TOML file) x engines x models x GPU counts x batch sizes x
workloads.

Each table of the matrix file is one hardware target named by its generation marker:

    [h100]
    engines = ["hf", "vllm"]
    models = ["llama-3-8b"]
    gpus = [1]
    batch_sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    workloads = ["humaneval"]
    num_prompts = 256

Command-line options override a field for every target; `@pytest.mark.infperf(workloads=[...])` overrides it
for one test function. A table's `serving` sub-table declares its serving cases (serving/cases.py), its
`latency` sub-table the latency study's factor grid, which `@pytest.mark.infperf(grid="latency")` tests run:

    [h200.latency]
    engines = ["vllm"]
    models = ["llama-3-8b"]
    gpus = [1]
    batch_sizes = [1, 8, 32]
    input_lens = [128, 1024]     # synthetic prompts of exactly this many tokens
    output_lens = [32, 128]      # generation forced to exactly this many tokens
    num_prompts = 64

Case ids are stable and readable; they key the baselines (under the test's name, so a configuration of both
grids keeps two baselines).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import tomllib

from . import settings as parsers
from .fields import FIELD_PARSERS as _FIELD_PARSERS
from .fields import MatrixError, parse_fields
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
    grid: str = "throughput"  # which grid of the matrix declared it: throughput (the table) or latency

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
    latency: "Target | None" = (
        None  # the table's `latency` sub-table: the factor grid, as synthetic workloads
    )


# The grids a perf test can run (`@pytest.mark.infperf(grid=...)`): the target's own fields, or its latency
# table.
GRIDS = ("throughput", "latency")


# Matrix field -> parser taking the comma-separated text form (the same validation as the options).
# A `latency` table's fields: the target's, with the workloads given as the factors input x output length.
_LATENCY_PARSERS: dict[str, Callable[[str], Any]] = {
    **{k: v for k, v in _FIELD_PARSERS.items() if k != "workloads"},
    "input_lens": parsers.positive_ints,
    "output_lens": parsers.positive_ints,
}
# Settings attribute -> matrix field it overrides.
OVERRIDES = {
    "engine": "engines",
    "model": "models",
    "gpus": "gpus",
    "batch_sizes": "batch_sizes",
    "workload": "workloads",
    "num_prompts": "num_prompts",
}


def load_matrix(path: Path) -> list[Target]:
    from .hardware.gpu import GENERATIONS

    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MatrixError(f"matrix file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise MatrixError(f"matrix file {path} is not valid TOML: {err}") from None
    targets = []
    for hardware, table in data.items():
        if hardware not in GENERATIONS:
            raise MatrixError(
                f"{path}: [{hardware}] is not a hardware generation; known: {', '.join(GENERATIONS)}"
            )
        if not isinstance(table, dict):
            raise MatrixError(f"{path}: [{hardware}] must be a table")
        table = dict(table)
        serving = table.pop("serving", ())
        if serving:
            from .serving.cases import parse_targets

            serving = parse_targets(hardware, serving, f"{path} [{hardware}.serving]")
        latency = table.pop("latency", None)
        if latency is not None:
            latency = parse_latency(hardware, latency, f"{path} [{hardware}.latency]")
        targets.append(
            Target(hardware, **parse_fields(table, f"{path} [{hardware}]"), serving=serving, latency=latency)
        )
    return targets


def parse_latency(hardware: str, table: Any, where: str) -> Target:
    """A `latency` table as a Target whose workloads are every input x output length (synthetic prompts)."""
    if not isinstance(table, dict):
        raise MatrixError(f"{where} must be a table")
    fields = parse_fields(table, where, _LATENCY_PARSERS)
    missing = [name for name in ("input_lens", "output_lens") if name not in fields]
    if missing:
        raise MatrixError(
            f"{where}: missing {', '.join(missing)} (the factor grid's prompt and output lengths)"
        )
    inputs, outputs = fields.pop("input_lens"), fields.pop("output_lens")
    workloads = tuple(f"synthetic-in{i}-out{o}" for i in inputs for o in outputs)
    return Target(hardware, **fields, workloads=workloads)


def default_target(hardware: str, gpu_count: int) -> Target:
    return Target(hardware, gpus=(1,) if gpu_count else (0,))


def expand(
    targets: list[Target],
    overrides: dict[str, Any],
    marker_fields: dict[str, Any],
    output_len: int,
    grid: str = "throughput",
) -> Iterator[Case]:
    """All cases of `grid` in declaration order. Marker fields beat the matrix; command-line overrides beat
    both. A target without a latency table has no latency cases."""
    for target in targets:
        if grid == "latency":
            if target.latency is None:
                continue
            target = target.latency
        target = replace(target, **marker_fields, **overrides)
        for engine in target.engines:
            for model in target.models:
                for gpus in target.gpus:
                    for workload in target.workloads:
                        spec = parse_workload(workload, output_len)
                        for batch_size in target.batch_sizes:
                            yield Case(
                                target.hardware,
                                engine,
                                model,
                                gpus,
                                batch_size,
                                spec,
                                target.num_prompts,
                                grid=grid,
                            )

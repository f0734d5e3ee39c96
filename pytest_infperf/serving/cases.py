"""Serving cases: the `serving` sub-table of a hardware target in the matrix file, expanded.

    [h100.serving]
    models = ["llama-3-8b"]
    gpus = [1]
    datasets = ["synthetic-in128-out128"]   # humaneval | synthetic-in<N>-out<M> | jsonl:<path of prompts>
    request_rates = [8, 32, "inf"]          # requests/s, Poisson arrivals; inf sends them all at once
    max_concurrency = [0]                   # at most this many requests in flight (0 = no limit)
    num_prompts = 160                       # requests per repeat
    goodput = ["ttft:500", "tpot:50"]       # SLOs in ms: a request counts toward goodput if it meets all of them

Several `[[h100.serving]]` tables declare cases with other fields (say, more requests at saturation, so that
each run lasts long enough to measure).

Command-line options override a field for every target (--infperf-model, --infperf-gpus, --infperf-num-prompts,
--infperf-request-rates, --infperf-max-concurrency, --infperf-serve-datasets, --infperf-goodput). A server is
started once per ServerKey and serves every case of that key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from .. import settings as parsers
from ..fields import MatrixError, parse_fields
from ..models import resolve
from .datasets import Dataset, parse_dataset

# The engine name of serving records (offline records say hf or vllm).
ENGINE = "vllm-serve"


def rate_text(rate: float) -> str:
    """A request rate as ids, records and `vllm bench serve --request-rate` write it: 8, 0.5, inf."""
    return "inf" if rate == float("inf") else f"{rate:g}"


@dataclass(frozen=True)
class ServerKey:
    """What one server process serves: every case of this key reuses it."""

    model: str
    gpus: int

    @property
    def id(self) -> str:
        return f"vllmserve-{resolve(self.model).slug}-gpus{self.gpus}"


@dataclass(frozen=True)
class ServingCase:
    hardware: str
    model: str
    gpus: int
    dataset: Dataset
    request_rate: float
    max_concurrency: int  # 0: no limit
    num_prompts: int
    goodput: tuple[tuple[str, float], ...] = ()

    engine = ENGINE

    @property
    def server_key(self) -> ServerKey:
        return ServerKey(self.model, self.gpus)

    @property
    def id(self) -> str:
        """`h100-vllmserve-llama-3-8b-gpus1-in128-out128-rate8` (`-c16` with a concurrency limit)."""
        limit = f"-c{self.max_concurrency}" if self.max_concurrency else ""
        return f"{self.hardware}-{self.server_key.id}-{self.dataset.id}-rate{rate_text(self.request_rate)}{limit}"


@dataclass(frozen=True)
class ServingTarget:
    hardware: str
    models: tuple[str, ...] = ("tiny-llama",)
    gpus: tuple[int, ...] = (0,)
    datasets: tuple[str, ...] = ("humaneval",)
    request_rates: tuple[float, ...] = (float("inf"),)
    max_concurrency: tuple[int, ...] = (0,)
    num_prompts: int = 64
    goodput: tuple[tuple[str, float], ...] = ()


_FIELD_PARSERS: dict[str, Callable[[str], Any]] = {
    "models": parsers.models,
    "gpus": parsers.gpu_counts,
    "datasets": parsers.serve_datasets,
    "request_rates": parsers.request_rates,
    "max_concurrency": parsers.concurrencies,
    "num_prompts": parsers.positive_int,
    "goodput": parsers.goodput,
}
# Settings attribute -> serving field it overrides.
OVERRIDES = {
    "model": "models",
    "gpus": "gpus",
    "num_prompts": "num_prompts",
    "request_rates": "request_rates",
    "max_concurrency": "max_concurrency",
    "serve_datasets": "datasets",
    "goodput": "goodput",
}


def parse_targets(hardware: str, tables: Any, where: str) -> tuple[ServingTarget, ...]:
    """One `[h100.serving]` table, or several `[[h100.serving]]` (say, another num_prompts at saturation)."""
    if isinstance(tables, list):
        return tuple(parse_target(hardware, table, f"{where} #{i + 1}") for i, table in enumerate(tables))
    return (parse_target(hardware, tables, where),)


def parse_target(hardware: str, table: Any, where: str) -> ServingTarget:
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: must be a table")
    return ServingTarget(hardware, **parse_fields(table, where, _FIELD_PARSERS))


def expand(targets: list[ServingTarget], overrides: dict[str, Any], output_len: int) -> Iterator[ServingCase]:
    """All serving cases in declaration order; a server key's cases stay together, lightest load first."""
    for target in targets:
        target = replace(target, **overrides)
        for model in target.models:
            for gpus in target.gpus:
                for text in target.datasets:
                    dataset = parse_dataset(text, output_len)
                    for concurrency in target.max_concurrency:
                        for rate in sorted(target.request_rates):
                            yield ServingCase(
                                target.hardware,
                                model,
                                gpus,
                                dataset,
                                rate,
                                concurrency,
                                target.num_prompts,
                                target.goodput,
                            )

"""Serving cases: the `serving` sub-table of a hardware target in the matrix file, expanded.

    [h100.serving]
    models = ["llama-3-8b"]
    gpus = [1]
    datasets = ["synthetic-in128-out128"]   # humaneval | synthetic-in<N>-out<M> | jsonl:<path of prompts>
    request_rates = [8, 32, "inf"]          # requests/s, Poisson arrivals; inf sends them all at once
    max_concurrency = [0]                   # at most this many requests in flight (0 = no limit)
    num_prompts = 160                       # requests per repeat
    goodput = ["ttft:500", "tpot:50"]       # SLOs in ms: a request counts toward goodput if it meets all of them

Several `[[h100.serving]]` tables declare cases with other fields (say, more requests at saturation, so that each
run lasts long enough to measure).

Command-line options override a field for every target (--infperf-model, --infperf-gpus, --infperf-num-prompts,
--infperf-request-rates, --infperf-max-concurrency, --infperf-serve-datasets, --infperf-goodput). A server is
started once per ServerKey and serves every case of that key.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import settings as parsers
from ..models import resolve

_SYNTHETIC = re.compile(r"synthetic-in(\d+)-out(\d+)")
GOODPUT_METRICS = ("ttft", "tpot", "e2el")


@dataclass(frozen=True)
class Dataset:
    """What the requests are: HumanEval prefixes, fixed-length random tokens, or a user's JSONL of prompts."""

    name: str  # humaneval | synthetic | jsonl
    output_len: int
    input_len: int | None = None
    path: str | None = None

    @property
    def id(self) -> str:
        if self.name == "humaneval":
            return f"humaneval-out{self.output_len}"
        if self.name == "synthetic":
            return f"in{self.input_len}-out{self.output_len}"
        return f"jsonl-{re.sub(r'[^a-z0-9.]+', '-', Path(str(self.path)).stem.lower())}-out{self.output_len}"


def parse_dataset(text: str, output_len: int) -> Dataset:
    """`output_len` applies to humaneval and to JSONL files (each line may set its own `output_tokens`)."""
    if text == "humaneval":
        return Dataset("humaneval", output_len)
    match = _SYNTHETIC.fullmatch(text)
    if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
        return Dataset("synthetic", int(match.group(2)), int(match.group(1)))
    if text.startswith("jsonl:"):
        path = Path(text.removeprefix("jsonl:")).expanduser()
        if not path.is_file() or path.suffix != ".jsonl":
            raise ValueError(f"serving dataset {text!r}: {path} is not a .jsonl file")
        return Dataset("jsonl", output_len, path=str(path.resolve()))
    raise ValueError(f"unknown serving dataset {text!r}: use humaneval, synthetic-in<N>-out<M> or jsonl:<path>")


def datasets(text: str) -> tuple[str, ...]:
    found = tuple(parsers._csv(text))
    for item in found:
        try:
            parse_dataset(item, 5)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return found


def request_rates(text: str) -> tuple[float, ...]:
    rates = []
    for item in parsers._csv(text):
        rate = float("inf") if item.lower() == "inf" else parsers.positive_float(item)
        rates.append(rate)
    return tuple(rates)


def concurrencies(text: str) -> tuple[int, ...]:
    return tuple(parsers.non_negative_int(item) for item in parsers._csv(text))


def goodput(text: str) -> tuple[tuple[str, float], ...]:
    """`ttft:500,tpot:50` -> (("ttft", 500.0), ("tpot", 50.0)), in milliseconds, as `vllm bench serve --goodput`."""
    slos = []
    for item in parsers._csv(text):
        name, _, value = item.partition(":")
        if name not in GOODPUT_METRICS or not value:
            raise argparse.ArgumentTypeError(f"goodput SLO {item!r}: use <metric>:<ms> with metric one of "
                                             f"{', '.join(GOODPUT_METRICS)}")
        slos.append((name, parsers.positive_float(value)))
    return tuple(slos)


def _rate_id(rate: float) -> str:
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

    engine = "vllm-serve"

    @property
    def server_key(self) -> ServerKey:
        return ServerKey(self.model, self.gpus)

    @property
    def id(self) -> str:
        """`h100-vllmserve-llama-3-8b-gpus1-in128-out128-rate8` (`-c16` with a concurrency limit)."""
        limit = f"-c{self.max_concurrency}" if self.max_concurrency else ""
        return f"{self.hardware}-{self.server_key.id}-{self.dataset.id}-rate{_rate_id(self.request_rate)}{limit}"


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
    "models": parsers.models, "gpus": parsers.gpu_counts, "datasets": datasets, "request_rates": request_rates,
    "max_concurrency": concurrencies, "num_prompts": parsers.positive_int, "goodput": goodput}
# Settings attribute -> serving field it overrides.
OVERRIDES = {"model": "models", "gpus": "gpus", "num_prompts": "num_prompts", "request_rates": "request_rates",
             "max_concurrency": "max_concurrency", "serve_datasets": "datasets", "goodput": "goodput"}


def parse_targets(hardware: str, tables: Any, where: str) -> tuple[ServingTarget, ...]:
    """One `[h100.serving]` table, or several `[[h100.serving]]` (say, another num_prompts at saturation)."""
    if isinstance(tables, list):
        return tuple(parse_target(hardware, table, f"{where} #{i + 1}") for i, table in enumerate(tables))
    return (parse_target(hardware, tables, where),)


def parse_target(hardware: str, table: Any, where: str) -> ServingTarget:
    from ..cases import MatrixError, parse_fields

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
                            yield ServingCase(target.hardware, model, gpus, dataset, rate, concurrency,
                                              target.num_prompts, target.goodput)

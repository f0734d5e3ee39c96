"""What a serving test sends: a dataset of requests, parsed from its spec (options and matrix alike)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..workloads import parse_workload


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
    """`jsonl:<path>`, or an offline workload spec (humaneval, synthetic-in<N>-out<M>); `output_len` applies
    to humaneval and to JSONL files (each line may set its own `output_tokens`)."""
    if text.startswith("jsonl:"):
        path = Path(text.removeprefix("jsonl:")).expanduser()
        if not path.is_file() or path.suffix != ".jsonl":
            raise ValueError(f"serving dataset {text!r}: {path} is not a .jsonl file")
        return Dataset("jsonl", output_len, path=str(path.resolve()))
    try:
        spec = parse_workload(text, output_len)
    except ValueError:
        raise ValueError(
            f"unknown serving dataset {text!r}: use humaneval, synthetic-in<N>-out<M> or jsonl:<path>"
        ) from None
    return Dataset(spec.name, spec.output_len, spec.input_len)

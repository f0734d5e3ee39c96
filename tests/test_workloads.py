"""Workloads: the study's 1033 HumanEval prefixes and exact-length synthetic prompts."""

from __future__ import annotations

import pytest

from pytest_infperf.models import materialize, resolve
from pytest_infperf.workloads import (
    HUMANEVAL_PREFIX_COUNT,
    build_prompts,
    humaneval_prefixes,
    humaneval_problems,
    parse_workload,
)


def test_humaneval_gives_1033_single_line_prefixes() -> None:
    prefixes = humaneval_prefixes()
    assert len(prefixes) == HUMANEVAL_PREFIX_COUNT == 1033
    first = humaneval_problems()[0]
    assert prefixes[0] == first["prompt"]  # the first line is completed from the bare prompt
    second_line = [row for row in first["canonical_solution"].splitlines(keepends=True) if row.strip()][0]
    assert prefixes[1] == first["prompt"] + second_line


def test_workload_specs() -> None:
    assert parse_workload("humaneval", output_len=5).id == "humaneval-out5"
    spec = parse_workload("synthetic-in512-out128", output_len=5)
    assert (spec.input_len, spec.output_len) == (512, 128)
    with pytest.raises(ValueError, match="unknown workload"):
        parse_workload("synthetic-512", output_len=5)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    folder = materialize(resolve("tiny-gpt2"), tmp_path_factory.mktemp("cache"))
    return AutoTokenizer.from_pretrained(folder)


def test_synthetic_prompts_have_exact_length(tokenizer) -> None:
    prompts = build_prompts(parse_workload("synthetic-in300-out8", 5), tokenizer, count=6, seed=1)
    assert [len(p.token_ids) for p in prompts] == [300] * 6
    assert [len(tokenizer.encode(p.text, add_special_tokens=False)) for p in prompts] == [300] * 6
    again = build_prompts(parse_workload("synthetic-in300-out8", 5), tokenizer, count=6, seed=1)
    assert again == prompts  # seeded


def test_humaneval_prompts_cycle_to_count(tokenizer) -> None:
    prompts = build_prompts(parse_workload("humaneval", 5), tokenizer, count=1040, seed=0)
    assert len(prompts) == 1040 and prompts[1033] == prompts[0]
    assert all(p.token_ids for p in prompts)

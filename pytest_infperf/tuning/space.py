"""InfPop's search space: the built-in spaces per engine (or a TOML file), the GPU counts this hardware has,
batch sizes held to an evaluation's prompts, other hardware's settings snapped onto the space, the start points,
every point of the grid, and the trial (Case) of a point."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import tomllib

from ..cases import Case
from ..workloads import prompt_count

DEFAULT_SPACE: dict[str, dict[str, list[Any]]] = {
    "vllm": {
        "batch_size": [2**i for i in range(11)],
        "max_num_seqs": [32, 64, 128, 256, 512],
        "max_num_batched_tokens": [2048, 4096, 8192, 16384],
        "gpu_memory_utilization": [0.8, 0.85, 0.9, 0.95],
    },
    "hf": {"batch_size": [2**i for i in range(11)], "dtype": ["bfloat16", "float16"]},
}


CPU_SPACE = {
    "vllm": {"batch_size": [2**i for i in range(8)], "max_num_seqs": [16, 64, 256]},
    "hf": {"batch_size": [2**i for i in range(11)], "dtype": ["float32", "bfloat16"]},
}


# `vllm serve`'s scheduler knobs, tuned for goodput (requests/s within the case's SLOs) at the case's load;
# the GPU count and the load are the serving case's own (--infpop-serve).
SERVE_ENGINE = "vllmserve"


DEFAULT_SPACE[SERVE_ENGINE] = {
    "max_num_seqs": [16, 32, 64, 128, 256, 512],
    "max_num_batched_tokens": [1024, 2048, 4096, 8192, 16384],
}


CPU_SPACE[SERVE_ENGINE] = {"max_num_seqs": [1, 4, 16, 64], "max_num_batched_tokens": [256, 2048]}


SERVE_KNOBS = ("max_num_seqs", "max_num_batched_tokens")


LOAD_KNOBS = ("max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager", "dtype")


def load_space(path: Path | None, engine: str, gpu_choices: list[int], on_cpu: bool) -> dict[str, list[Any]]:
    """The declared space for `engine` (file, else built in) plus the GPU counts this hardware has."""
    spaces = CPU_SPACE if on_cpu else DEFAULT_SPACE
    if path is not None:
        try:
            spaces = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"infpop space {path}: {err}") from None
    if engine not in spaces:
        raise ValueError(f"infpop space has no [{engine}] table")
    space = {k: list(v) for k, v in spaces[engine].items()}
    allowed = set(SERVE_KNOBS) if engine == SERVE_ENGINE else {"batch_size", "gpus", *LOAD_KNOBS}
    unknown = set(space) - allowed
    if unknown:
        raise ValueError(f"infpop space [{engine}]: unknown knob(s) {', '.join(sorted(unknown))}")
    if engine == SERVE_ENGINE:
        return space  # the serving case fixes its GPU count
    space.setdefault("gpus", gpu_choices)
    space["gpus"] = [g for g in space["gpus"] if g in gpu_choices] or gpu_choices
    return space


def grid_points(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every point of the space, batch size varying fastest: points that share their load knobs (one engine
    load) come together, so measuring the grid costs one load per combination of them, and batch sizes run
    smallest first, so the pool skips those above one that ran out of memory."""
    import itertools

    names = sorted(space, key=lambda n: (n == "batch_size", n))
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]


def start_points_for(space: dict[str, list[Any]], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where InfPop starts: the settings tuned on the previous hardware (the study's transfer: re-tuning
    starts from them, and the gain over them is measured anyway), then the largest configuration of the space
    (the most GPUs, the largest batch and knob values, the first listed choice), since throughput rises with
    batch size and, for larger models, with GPUs until memory runs out; an OOM there is an ordinary failed
    point."""
    largest = {
        name: max(vals) if all(isinstance(v, (int, float)) for v in vals) else vals[0]
        for name, vals in space.items()
    }
    return [p for p in (previous, largest) if p]


def encoding(space: dict[str, list[Any]]) -> tuple[list[str], set[str], dict[str, list[Any]]]:
    """(knob names, the ordered ones, each knob's values). Ordered numeric knobs (batch size, max_num_seqs,
    ...) are searched by their index in the sorted value list, so TPE can exploit that neighbours perform
    alike (log scale for the power-of-two lists); others are choices."""
    names = sorted(space)
    ordinal = {n for n in names if len(space[n]) > 1 and all(isinstance(v, (int, float)) for v in space[n])}
    return names, ordinal, {n: sorted(space[n]) if n in ordinal else list(space[n]) for n in names}


def snap_to_space(point: dict[str, Any], space: dict[str, list[Any]]) -> dict[str, Any] | None:
    """`point` as this space can run it: each ordered knob at its nearest value (log scale), as InfPop starts
    from it; None when it has a choice the space lacks or misses a knob. Settings tuned elsewhere (batch 512
    where this space stops at the prompts, say) are measured here as snapped, so the gain over them compares
    points of one workload."""
    names, ordinal, values = encoding(space)
    encoded = as_hyperopt(point, values, ordinal)
    return None if encoded is None else {n: values[n][encoded[n]] for n in names}


def within_prompts(space: dict[str, list[Any]], prompts: int) -> tuple[dict[str, list[Any]], list[int]]:
    """(the space without batch sizes above the `prompts` of an evaluation, the batch sizes dropped). Such a
    batch is one batch of all the prompts under a larger name; raising the prompts to fill it instead changes
    the workload with the point: HumanEval's later prefixes are longer, so the larger batch would also be a
    longer workload and look slower for it (docs/RESULTS.md has the measured case)."""
    batches = space.get("batch_size")
    if not batches:
        return space, []
    kept = [b for b in batches if b <= prompts]
    return {**space, "batch_size": kept}, sorted(b for b in batches if b > prompts)


def as_hyperopt(
    point: dict[str, Any], values: dict[str, list[Any]], ordinal: set[str]
) -> dict[str, int] | None:
    """A point as hyperopt's `points_to_evaluate` wants it (value indices), snapped to the nearest value of
    each ordered knob (log scale); None when it has a choice the space lacks or misses a dimension."""
    encoded: dict[str, int] = {}
    for name, vals in values.items():
        if name not in point:
            return None
        value = point[name]
        if name in ordinal and isinstance(value, (int, float)) and value > 0:
            encoded[name] = min(range(len(vals)), key=lambda i: abs(math.log(vals[i] / value)))
        elif value in vals:
            encoded[name] = vals.index(value)
        else:
            return None
    return encoded


def case_for(
    point: dict[str, Any], engine: str, model: str, workload: Any, hardware: str, num_prompts: int | None
) -> Case:
    """The trial of one point. The tuner's space holds no batch above its evaluation's prompts
    (`within_prompts`); a tuned setting run with fewer prompts than it was tuned over runs over as many
    prompts as its batch, rather than as one batch of all the prompts under a larger name."""
    knobs = tuple(sorted((k, v) for k, v in point.items() if k in LOAD_KNOBS))
    batch = point["batch_size"]
    if batch > prompt_count(workload, num_prompts):
        num_prompts = batch
    return Case(hardware, engine, model, point.get("gpus", 0), batch, workload, num_prompts, knobs)

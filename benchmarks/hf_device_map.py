"""Where an HF trial on several GPUs puts each registry model: the plugin's own placement
(`pytest_infperf.engines.hf.balanced_device_map`, as `device_map="auto"`) beside what accelerate's
`infer_auto_device_map` alone gives (the placement before 2026-12-01), computed on the meta device, so it runs
on a CPU machine in seconds and allocates no weights.

    python benchmarks/hf_device_map.py [--gpus 2 4] [--gib 140] [--models gpt2 codellama-34b ...]

Prints, per model and GPU count, how many modules each GPU gets; a GPU that gets none is one the test's id
names but no layer runs on (the suite records `gpus_used` and warns)."""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from collections import Counter

STUDY_MODELS = [
    "gpt2",
    "phi-1",
    "starcoder2-3b",
    "codellama-7b",
    "starcoder2-7b",
    "llama-3-8b",
    "codellama-13b",
    "starcoder-15b",
    "codestral-22b",
    "codellama-34b",
]


def placements(name: str, gpus: int, gib: float) -> tuple[dict[str, int], dict[str, int]]:
    """(balanced map, map filling GPU 0 first) of registry model `name`: module name -> GPU."""
    import torch
    from accelerate import infer_auto_device_map, init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    from pytest_infperf.engines.hf import balanced_device_map
    from pytest_infperf.models import CONFIG_DIR

    config = AutoConfig.for_model(**json.loads((CONFIG_DIR / f"{name}.json").read_text()))
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    memory = {gpu: int(gib * 2**30) for gpu in range(gpus)}
    balanced = balanced_device_map(model, gpus, torch.bfloat16, max_memory=memory)
    first_fit = infer_auto_device_map(
        model, max_memory=memory, no_split_module_classes=model._no_split_modules, dtype=torch.bfloat16
    )
    return balanced, first_fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[2, 4])
    parser.add_argument(
        "--gib", type=float, default=140.0, help="memory per GPU (default: an H200's 140 GiB)"
    )
    parser.add_argument("--models", nargs="+", default=STUDY_MODELS)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # accelerate warns that the GPUs it is told about are not here
    warnings.filterwarnings("ignore")

    def cells(placement: dict[str, int], gpus: int) -> str:
        if set(placement) == {""}:  # the whole model on one GPU
            return " / ".join("all" if gpu == placement[""] else "0" for gpu in range(gpus))
        counts = Counter(placement.values())
        return " / ".join(str(counts.get(gpu, 0)) for gpu in range(gpus))

    print(f"modules per GPU (GPU 0 / 1 / ...), {args.gib:g} GiB each, bf16")
    print(f"{'model':16} {'GPUs':>4}  {'balanced (the suite)':24} {'GPU 0 first (before)':24}")
    for name in args.models:
        for gpus in args.gpus:
            balanced, first_fit = placements(name, gpus, args.gib)
            print(f"{name:16} {gpus:>4}  {cells(balanced, gpus):24} {cells(first_fit, gpus):24}")


if __name__ == "__main__":
    main()

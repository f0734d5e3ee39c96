"""Where HF trials on several GPUs put a random-weight model: balanced over all of the trial's GPUs, never
offloaded. Computed on the CPU from explicit per-GPU memory, as accelerate does on the GPU machine."""

from __future__ import annotations

import json

import pytest
from scaled_models import scaled_down

from pytest_infperf.engines.hf import balanced_device_map, gpus_holding
from pytest_infperf.models import CONFIG_DIR
from pytest_infperf.runner.worker import classify

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")


def _model(name: str):
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    full = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    # narrow, but all of its layers, which outweigh the embeddings as at full size
    config = scaled_down(full, hidden=256) | {
        "num_hidden_layers": full["num_hidden_layers"],
        "vocab_size": 1024,
    }
    with no_init_weights():
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(**config), dtype=torch.bfloat16)


def _bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize("gpus", [2, 4])
def test_a_model_that_fits_one_gpu_is_spread_over_all_of_the_trials_gpus(gpus: int) -> None:
    # CodeLlama-34B in bf16 (68 GB) fits one 141 GB H200, as this copy fits one of these GPUs twice over:
    # filling GPU 0 first (accelerate's infer_auto_device_map alone) would have measured one GPU for a 2-GPU
    # test
    model = _model("codellama-34b")
    per_gpu = {gpu: 2 * _bytes(model) for gpu in range(gpus)}
    placement = balanced_device_map(model, gpus, torch.bfloat16, max_memory=per_gpu)
    assert gpus_holding(placement) == list(range(gpus))
    layers = [placement[f"model.layers.{i}"] for i in range(48)]
    assert layers == sorted(layers)  # a pipeline: consecutive layers, GPU after GPU


def test_what_would_be_offloaded_is_out_of_memory_not_a_bus_measurement() -> None:
    with pytest.raises(torch.OutOfMemoryError, match="does not fit in the trial's GPUs.*2 module") as error:
        gpus_holding(
            {"model.embed_tokens": 0, "model.layers.0": 1, "model.layers.1": "cpu", "lm_head": "disk"}
        )
    assert classify(error.value) == "oom"  # recorded as oom, larger batches not run


def test_device_names_count_as_their_gpu() -> None:
    assert gpus_holding({"": "cuda"}) == [0]
    assert gpus_holding({"a": "cuda:1", "b": 0, "c": torch.device("cuda:3")}) == [0, 1, 3]

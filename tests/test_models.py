"""Every registry architecture builds in transformers, scaled down (same architecture class, attention layout and
vocabulary, a few small layers), so a config that names a wrong field or class fails here, not on a GPU."""
from __future__ import annotations

import json

import pytest

from pytest_infperf.models import CONFIG_DIR, known_models

# Size fields under each architecture's own names, and the small value each gets.
SHRINK = {"num_hidden_layers": 2, "n_layer": 2, "hidden_size": 64, "n_embd": 64, "d_model": 64,
          "intermediate_size": 128, "n_inner": 128, "ffn_dim": 128, "head_dim": 16, "max_position_embeddings": 256,
          "n_positions": 256, "num_local_experts": 4}


def scaled_down(config: dict) -> dict:
    small = {k: SHRINK.get(k, v) for k, v in config.items()}
    heads = config.get("num_attention_heads") or config.get("n_head")
    kv_heads = config.get("num_key_value_heads")
    # keep the attention layout: grouped (kv < heads), multi-query (kv = 1) or multi-head (kv = heads)
    small_heads, small_kv = 4, (1 if kv_heads == 1 else 2 if kv_heads and kv_heads < heads else 4)
    for key in ("num_attention_heads", "n_head"):
        if key in config:
            small[key] = small_heads
    if kv_heads:
        small["num_key_value_heads"] = small_kv
    if "head_dim" in config:
        small["head_dim"] = 64 // small_heads
    return small


@pytest.mark.parametrize("name", known_models())
def test_registry_architecture_builds_in_transformers(name: str) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    config = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    small = AutoConfig.for_model(**scaled_down(config))
    model = AutoModelForCausalLM.from_config(small)
    assert type(model).__name__ == config["architectures"][0]
    ids = torch.randint(0, min(small.vocab_size, 1000), (1, 8))
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, 8, small.vocab_size)


def test_the_four_study_models_once_missing_are_registered() -> None:
    # CodeLlama-70B, Codestral-22B, WizardCoder-15B and WizardCoder-33B, architectures from their model cards
    assert {"codellama-70b", "codestral-22b", "wizardcoder-15b", "wizardcoder-33b"} <= set(known_models())

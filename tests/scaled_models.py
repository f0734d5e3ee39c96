"""Scaled-down copies of registry architectures: same architecture class, attention layout (multi-head,
grouped or multi-query) and vocabulary, a few small layers. Shared by tests/test_models.py and
tests/vllm_architectures.py."""

from __future__ import annotations

from typing import Any

# Size fields under each architecture's own names, and the small value each gets (hidden size set apart).
SHRINK = {
    "num_hidden_layers": 2,
    "n_layer": 2,
    "max_position_embeddings": 256,
    "n_positions": 256,
    "num_local_experts": 4,
}
HIDDEN = ("hidden_size", "n_embd", "d_model")
FEED_FORWARD = ("intermediate_size", "n_inner", "ffn_dim")


def scaled_down(config: dict[str, Any], hidden: int = 64) -> dict[str, Any]:
    """`hidden` sets the width: 4 heads of hidden / 4 each (vLLM's CPU attention wants head sizes of 32 or
    more, transformers takes any), feed-forward 2 x hidden."""
    small = {k: SHRINK.get(k, v) for k, v in config.items()}
    for key in HIDDEN:
        if key in config:
            small[key] = hidden
    for key in FEED_FORWARD:
        if key in config and config[key] is not None:
            small[key] = 2 * hidden
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
        small["head_dim"] = hidden // small_heads
    return small

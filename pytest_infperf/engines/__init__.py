"""Engine adapters behind one Protocol (base.Engine); each imports its heavy library only when loaded."""

from __future__ import annotations

from .base import Engine


def make_engine(name: str) -> Engine:
    """The adapter of engine `name`; its module (and with it torch, transformers or vllm) is imported here
    only."""
    if name == "hf":
        from .hf import HfPipelineEngine

        return HfPipelineEngine()
    if name == "vllm":
        from .vllm import VllmEngine

        return VllmEngine()
    raise ValueError(f"unknown engine {name!r}")

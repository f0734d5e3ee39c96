"""HuggingFace transformers pipeline engine (the study's HF_pl): pipeline("text-generation") with batch_size=b.

Runs inside a worker process whose CUDA_VISIBLE_DEVICES already holds the trial's GPUs, so `device_map="auto"`
spreads the model over exactly those. Architecture-only models get random weights: built without the slow
default initialisation, placed, then filled with N(0, 0.02) on the device.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

from ..latency import Histogram
from ..workloads import Prompt
from .base import BatchResult, LoadRequest


def resolve_dtype(torch: Any, name: str, on_gpu: bool) -> Any:
    if name != "auto":
        return getattr(torch, name)
    if not on_gpu:
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextmanager
def _skip_weight_init() -> Iterator[None]:
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():
        yield


class _TokenClock:
    """A stopping criterion that never stops: it timestamps every generation step (after a device sync), which
    gives TTFT and inter-token latency for a whole batch without a streamer (streamers take batch 1 only)."""

    def __init__(self, torch: Any, sync: bool) -> None:
        self.torch, self.sync, self.stamps = torch, sync, []

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        if self.sync:
            self.torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())
        return self.torch.zeros(input_ids.shape[0], dtype=self.torch.bool, device=input_ids.device)


class HfPipelineEngine:
    name = "hf"

    def __init__(self) -> None:
        self.pipe: Any = None
        self.on_gpu = False

    def load(self, request: LoadRequest) -> dict[str, Any]:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, pipeline

        torch.manual_seed(request.seed)
        self.on_gpu = request.gpus > 0
        if self.on_gpu and torch.cuda.device_count() < request.gpus:
            raise RuntimeError(f"trial asks for {request.gpus} GPUs, torch sees {torch.cuda.device_count()}")
        dtype = resolve_dtype(torch, request.dtype, self.on_gpu)
        tokenizer = AutoTokenizer.from_pretrained(request.model_dir)
        tokenizer.padding_side = "left"  # decoder-only: pad on the left so generation continues the prompt
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        device_map: Any = None
        if request.dummy:
            config = AutoConfig.from_pretrained(request.model_dir)
            with _skip_weight_init():
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            if request.gpus == 1:
                model.to("cuda")
            elif request.gpus > 1:
                from accelerate import dispatch_model, infer_auto_device_map

                device_map = infer_auto_device_map(model, no_split_module_classes=model._no_split_modules, dtype=dtype)
                model = dispatch_model(model, device_map=device_map)
            with torch.no_grad():
                for param in model.parameters():
                    param.normal_(0.0, 0.02)
        else:
            model = AutoModelForCausalLM.from_pretrained(request.model_dir, dtype=dtype,
                                                         device_map="auto" if self.on_gpu else None)
            device_map = getattr(model, "hf_device_map", None)
        model.eval()
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        self.pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)
        self.torch = torch
        return {"dtype": str(dtype).removeprefix("torch."), "engine_version": transformers.__version__,
                "torch_version": torch.__version__,
                "device_map": sorted({str(v) for v in device_map.values()}) if device_map else None}

    def generate(self, prompts: list[Prompt], output_len: int) -> BatchResult:
        clock = _TokenClock(self.torch, self.on_gpu)
        start = time.perf_counter()
        self.pipe([p.text for p in prompts], batch_size=len(prompts), max_new_tokens=output_len,
                  min_new_tokens=output_len, do_sample=False, return_full_text=False,
                  stopping_criteria=[clock])
        steps = len(clock.stamps)
        if steps != output_len:
            raise RuntimeError(f"generated {steps} tokens per prompt, expected exactly {output_len}")
        ttft, e2e = clock.stamps[0] - start, clock.stamps[-1] - start
        gaps = [b - a for a, b in zip(clock.stamps, clock.stamps[1:])]
        tpot = (e2e - ttft) / (steps - 1) if steps > 1 else None
        n = len(prompts)  # a static batch: every request starts and finishes with the batch
        return BatchResult(output_tokens=steps * n, ttft_s=[ttft] * n, e2e_s=[e2e] * n,
                           tpot_s=[tpot] * n if tpot is not None else [], itl_s=gaps)

    def close(self) -> None:
        self.pipe = None
        import gc

        gc.collect()
        if self.on_gpu:
            self.torch.cuda.empty_cache()

    def memory_peak_bytes(self) -> int | None:
        if not self.on_gpu:
            return None
        torch = self.torch
        return max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))

    def histograms(self) -> dict[str, Histogram]:
        return {}  # every latency is timed per request and per step

    def reset_memory_peak(self) -> None:
        if self.on_gpu:
            for i in range(self.torch.cuda.device_count()):
                self.torch.cuda.reset_peak_memory_stats(i)

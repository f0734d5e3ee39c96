"""HuggingFace transformers pipeline engine (the study's HF_pl): pipeline("text-generation") with
batch_size=b.

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


def balanced_device_map(
    model: Any, gpus: int, dtype: Any, max_memory: dict[int, int] | None = None
) -> dict[str, Any]:
    """Where each module of a model built in host memory goes on `gpus` GPUs: balanced shares, as
    `from_pretrained(device_map="auto")` places real checkpoints. accelerate's `infer_auto_device_map` alone
    fills GPU 0 first, so any model that fits one GPU would run on one while its trial says two. `max_memory`
    (bytes per GPU) defaults to what each GPU has free."""
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory, get_max_memory

    if max_memory is None:
        max_memory = {
            gpu: free for gpu, free in get_max_memory().items() if isinstance(gpu, int) and gpu < gpus
        }
    shares = get_balanced_memory(
        model,
        max_memory=max_memory,
        no_split_module_classes=model._no_split_modules,
        dtype=dtype,
        low_zero=False,
    )
    return infer_auto_device_map(
        model, max_memory=shares, no_split_module_classes=model._no_split_modules, dtype=dtype
    )


def gpus_holding(device_map: dict[str, Any]) -> list[int]:
    """The GPUs a device map puts weights on. A module left for host memory or disk would make every forward
    pass copy it over PCIe, measuring the bus instead of the GPUs: that is the model not fitting the trial's
    GPUs, so it is reported as out of memory."""
    gpus = {name: _gpu_index(device) for name, device in device_map.items()}
    offloaded = sorted(name for name, gpu in gpus.items() if gpu is None)
    if offloaded:
        import torch

        raise torch.OutOfMemoryError(
            f"the model does not fit in the trial's GPUs: accelerate would offload {len(offloaded)} module(s) "
            f"({', '.join(offloaded[:3])}{', ...' if len(offloaded) > 3 else ''}) to host memory or disk"
        )
    return sorted({gpu for gpu in gpus.values() if gpu is not None})


def _gpu_index(device: Any) -> int | None:
    """0 for `0`, `"cuda"` or `"cuda:0"`; None for `"cpu"`, `"disk"` and the like."""
    if isinstance(device, int):
        return device
    name = str(device)
    if name == "cuda":
        return 0
    return int(name.removeprefix("cuda:")) if name.startswith("cuda:") else None


@contextmanager
def _skip_weight_init() -> Iterator[None]:
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():
        yield


class _TokenClock:
    """A stopping criterion that never stops: it timestamps every generation step (after syncing every GPU: a
    model spread over several ends each step on the last, which a bare synchronize() of the current device
    would not wait for), which gives TTFT and inter-token latency for a whole batch without a streamer
    (streamers take batch 1 only)."""

    def __init__(self, torch: Any, gpus: int) -> None:
        self.torch, self.gpus, self.stamps = torch, range(gpus), []

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        for gpu in self.gpus:
            self.torch.cuda.synchronize(gpu)
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
        gpus_used: list[int] | None = list(range(request.gpus)) or None
        if request.dummy:
            config = AutoConfig.from_pretrained(request.model_dir)
            with _skip_weight_init():
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            if request.gpus == 1:
                model.to("cuda")
            elif request.gpus > 1:
                from accelerate import dispatch_model

                device_map = balanced_device_map(model, request.gpus, dtype)
                gpus_used = gpus_holding(device_map)
                model = dispatch_model(model, device_map=device_map)
            with torch.no_grad():
                for param in model.parameters():
                    param.normal_(0.0, 0.02)
        else:
            model = AutoModelForCausalLM.from_pretrained(
                request.model_dir, dtype=dtype, device_map="auto" if self.on_gpu else None
            )
            if getattr(model, "hf_device_map", None):
                gpus_used = gpus_holding(model.hf_device_map)
        model.eval()
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        self.pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)
        self.torch = torch
        return {
            "dtype": str(dtype).removeprefix("torch."),
            "engine_version": transformers.__version__,
            "torch_version": torch.__version__,
            "gpus_used": gpus_used,
        }

    def generate(self, prompts: list[Prompt], output_len: int) -> BatchResult:
        clock = _TokenClock(self.torch, self.torch.cuda.device_count() if self.on_gpu else 0)
        start = time.perf_counter()
        self.pipe(
            [p.text for p in prompts],
            batch_size=len(prompts),
            max_new_tokens=output_len,
            min_new_tokens=output_len,
            do_sample=False,
            return_full_text=False,
            stopping_criteria=[clock],
        )
        steps = len(clock.stamps)
        if steps != output_len:
            raise RuntimeError(f"generated {steps} tokens per prompt, expected exactly {output_len}")
        ttft, e2e = clock.stamps[0] - start, clock.stamps[-1] - start
        gaps = [b - a for a, b in zip(clock.stamps, clock.stamps[1:])]
        tpot = (e2e - ttft) / (steps - 1) if steps > 1 else None
        n = len(prompts)  # a static batch: every request starts and finishes with the batch
        return BatchResult(
            output_tokens=steps * n,
            ttft_s=[ttft] * n,
            e2e_s=[e2e] * n,
            tpot_s=[tpot] * n if tpot is not None else [],
            itl_s=gaps,
        )

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

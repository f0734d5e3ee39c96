"""Load a scaled-down copy of each named registry model in vLLM, one after another in this process, through
the product's own engine (`VllmEngine`: dummy weights, token-id prompts), and generate from it; print one JSON
line per model. Run by tests/test_models.py in a subprocess, since vLLM's engine processes start by spawn:

    python tests/vllm_architectures.py OUT_DIR gpt2 llama-3-8b ...
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

# vLLM's CPU attention takes head sizes of 32 and up: 4 heads of 32
HIDDEN = 128
PROMPTS, OUTPUT_LEN = 2, 4


def check(name: str, folder: Path) -> dict[str, object]:
    from scaled_models import scaled_down

    from pytest_infperf.engines.base import LoadRequest
    from pytest_infperf.engines.vllm import VllmEngine
    from pytest_infperf.models import CONFIG_DIR
    from pytest_infperf.workloads import Prompt

    config = scaled_down(json.loads((CONFIG_DIR / f"{name}.json").read_text()), hidden=HIDDEN)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    engine = VllmEngine()
    start = time.perf_counter()
    try:
        info = engine.load(
            LoadRequest(
                model_dir=str(folder),
                dummy=True,
                gpus=0,
                dtype="float32",
                seed=0,
                knobs={"enforce_eager": True, "max_model_len": 128},
            )
        )
        result = engine.generate([Prompt("", (5, 6, 7, 8))] * PROMPTS, OUTPUT_LEN)
        return {
            "model": name,
            "status": "ok",
            "architecture": config["architectures"][0],
            "output_tokens": result.output_tokens,
            "engine_version": info["engine_version"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    except Exception as err:  # reported per model, so one unsupported architecture does not hide the others
        return {
            "model": name,
            "status": "error",
            "reason": f"{type(err).__name__}: {err}",
            "trace": traceback.format_exc(limit=3),
        }
    finally:
        engine.close()


def main() -> None:
    # as the product's workers do: a fixed KV cache, so vLLM does not reserve a fraction of the node's memory
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    out = Path(sys.argv[1])
    for name in sys.argv[2:]:
        print(json.dumps(check(name, out / name)), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()

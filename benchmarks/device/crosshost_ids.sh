# The twelve configurations of the cross-host gate runs (gate_crosshost.sh, gate_ab.sh) as pytest node ids in $ids:
# four launch-bound vLLM GPT-2 ones, four vLLM Llama-3-8B ones (bs 1 and 16 launch-bound, 64 and 256 GPU-bound),
# and HF GPT-2 / Llama-3-8B at batch 16 and 64. GEN names the matrix target (h200, h100); ENGINE (vllm or hf) keeps
# one engine's configurations only, e.g. to save again the baselines of an engine whose measurement version changed.
ids=""
for c in vllm-gpt2-gpus1-bs1 vllm-gpt2-gpus1-bs4 vllm-gpt2-gpus1-bs16 vllm-gpt2-gpus1-bs64 vllm-llama-3-8b-gpus1-bs1 \
         vllm-llama-3-8b-gpus1-bs16 vllm-llama-3-8b-gpus1-bs64 vllm-llama-3-8b-gpus1-bs256 hf-gpt2-gpus1-bs16 \
         hf-gpt2-gpus1-bs64 hf-llama-3-8b-gpus1-bs16 hf-llama-3-8b-gpus1-bs64; do
  [ -n "${ENGINE:-}" ] && [ "${c%%-*}" != "$ENGINE" ] && continue
  ids="$ids perf_tests/test_throughput.py::test_throughput[$GEN-$c]"
done

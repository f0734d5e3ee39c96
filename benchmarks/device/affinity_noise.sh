# Does pinning a trial's worker to the GPU's NUMA-local cores (--infperf-cpu-affinity gpu-local) shrink the
# session-to-session spread of launch-bound configurations? One GPU, one lane, sessions one after another,
# alternating none / gpu-local so that drift of the host hits both alike. Then, if LATENCY=1, the latency
# agreement of benchmarks/latency_vllm_bench.py with the AsyncLLM streaming reference.
#
#   bash benchmarks/device/affinity_noise.sh start        then   bash benchmarks/device/affinity_noise.sh collect 540
#
# SESSIONS (default 4) pairs; GEN (default h200) names the matrix target. Prefix caching stays off.
phase=${2:-}
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
ids=""
for c in vllm-gpt2-gpus1-bs1 vllm-gpt2-gpus1-bs16 hf-gpt2-gpus1-bs16; do
  ids="$ids perf_tests/test_throughput.py::test_throughput[$GEN-$c]"
done
{ lscpu; numactl --hardware 2>/dev/null; nvidia-smi topo -m; } >"$R/topology.txt" 2>&1
await_vllm
for i in $(seq 1 "${SESSIONS:-4}"); do
  for policy in none gpu-local; do
    name="S$i-$policy"; mkdir -p "$R/$name"; start=$(date +%s)
    CUDA_VISIBLE_DEVICES=0 timeout 900 $INFPERF_PYTEST $ids -m "$GEN" -q --infperf-repeats 3 \
      --infperf-cpu-affinity "$policy" "--infperf-output=$R/$name/records.jsonl" >"$R/$name/log.txt" 2>&1
    echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
  done
done
if [ -n "${LATENCY:-}" ]; then
  mkdir -p "$R/latency"; start=$(date +%s)
  timeout 900 python3 benchmarks/latency_vllm_bench.py --hardware "$GEN" --model llama-3-8b --stream \
    --out "$R/latency" >"$R/latency/log.txt" 2>&1
  echo "latency rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
fi
touch "$R/all.done"

# The latency study's factor grid on one GPU (issue "The two studies"): perf_tests/test_latency.py over the
# target's `latency` table (Llama-3-8B, batch 1/8/32 x input 128/1024 x output 32/128), one session, nothing else
# on the host, prefix caching off (the plugin's default: repeats measure compute).
#
#   bash benchmarks/device/latency_grid.sh start     (or a step of chain.sh: "latency_grid.sh lanes")
#   bash benchmarks/device/latency_grid.sh collect 540   -> $OUT/sweep.tgz
#
# vLLM runs the whole grid; HF skips batch 1 (KEEP_HF, a -k expression), whose 8 sequential batches of 128
# tokens per pass would take most of a lease. GEN (default h200) names the matrix target; REPEATS default 3.
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}

grid() {  # grid NAME ARGS...: one pytest session of the latency tests on GPU 0
  local name=$1; shift
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=0 timeout 1500 $INFPERF_PYTEST perf_tests/test_latency.py -m "$GEN" -rfEs \
    --infperf-repeats "${REPEATS:-3}" --junitxml "$R/$name/junit.xml" "--infperf-output=$R/$name/records.jsonl" \
    "$@" >"$R/$name/log.txt" 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

await_vllm
grid VLLM --infperf-engine vllm
grid HF --infperf-engine hf -k "${KEEP_HF:-not bs1-}"
touch "$R/all.done"

# Per-request latency agreement on one GPU (issue "What users read"): benchmarks/latency_vllm_bench.py with its
# streaming loop and its direct LLM.generate loop (with its bisection of the way to the suite), for each input
# length in INPUT_LENS (default "128"), batch 1, 128 output tokens, one after another with nothing else on the
# host; prefix caching off on every side. 13.4 minutes per input length on one H200 (lease 9), before the suite's
# second run after the loop (about 2 minutes more); REFERENCES (default "bench stream") names the references beside
# the direct loop: "" leaves both out, 10 minutes then (lease 10).
#
#   bash benchmarks/device/latency_agreement.sh start     (or a step of chain.sh: "latency_agreement.sh")
#   bash benchmarks/device/latency_agreement.sh collect 540   -> $OUT/sweep.tgz
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
refs=" ${REFERENCES-bench stream} " flags=""
[[ $refs == *" stream "* ]] && flags="--stream"
[[ $refs == *" bench "* ]] || flags="$flags --no-bench"
await_vllm
for len in ${INPUT_LENS:-128}; do
  mkdir -p "$R/in$len"; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=0 timeout 1200 python3 benchmarks/latency_vllm_bench.py --hardware "$GEN" --model llama-3-8b \
    --input-len "$len" --direct $flags --out "$R/in$len" >"$R/in$len/log.txt" 2>&1
  echo "in$len rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
done
touch "$R/all.done"

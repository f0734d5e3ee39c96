# Serving mode on one GPU (issue "Serving mode"): Llama-3-8B (dummy weights) behind a real `vllm serve`, loaded by
# `vllm bench serve`, the cases selected by SELECT (a pytest -k expression, default "rate16 or c64"), one lane,
# nothing else on the host.
#
#   lease 1:  bash benchmarks/device/serving.sh start baseline   sessions S1 and S2 (each a new pytest process and a
#                                                                new server) saved as a two-session baseline; then
#                                                                benchmarks/serving_vllm_bench.py: a direct vllm serve
#                                                                + vllm bench serve of S1's settings (fidelity)
#             bash benchmarks/device/serving.sh collect 540      -> $OUT/sweep.tgz
#   (here)    commit lease 1's baselines under baselines/
#   lease 2:  bash benchmarks/device/serving.sh start check      A/A against those baselines (--infperf-compare), then
#                                                                the same with --infperf-enforce-eager true (no CUDA
#                                                                graphs: the slowdown the gate must catch; EAGER=0
#                                                                skips it); DIRECT_ARGS set: the direct comparison
#   later:    bash benchmarks/device/serving.sh start extend     A/A against the stored baselines (X1, saving itself into
#                                                                a copy of them), a second saving session X2 of SELECT2;
#                                                                DIRECT_ARGS set: the direct comparison on X1's records
#
# Prefix caching stays off (the plugin's default). GEN (default h200) names the matrix target; INFPERF_GIT_COMMIT names
# the commit (the copied checkout has no .git).
phase=${2:-}
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
SELECT=${SELECT:-rate16 or c64}

session() {  # session NAME ARGS... : one pytest session of the serving tests on GPU 0
  local name=$1; shift
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=0 timeout 1200 $INFPERF_PYTEST perf_tests/test_serving.py -m "$GEN" -rfEs \
    -k "$SELECT" --infperf-repeats 3 --junitxml "$R/$name/junit.xml" \
    "--infperf-output=$R/$name/records.jsonl" "$@" >"$R/$name/log.txt" 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

direct() {  # direct SESSION: a direct vllm serve + vllm bench serve of SESSION's records (serving_vllm_bench.py)
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=0 timeout 900 python3 benchmarks/serving_vllm_bench.py --records "$R/$1/records.jsonl" \
    --out "$R/direct" ${DIRECT_ARGS:-} >"$R/direct.log" 2>&1
  echo "direct rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

await_vllm
case "$phase" in
  baseline)
    session S1 "--infperf-baselines=$R/baselines" --infperf-save
    session S2 "--infperf-baselines=$R/baselines" --infperf-save
    direct S1
    ;;
  extend)  # A/A against the stored baselines, saving itself into a copy of them; then a second saving session
    mkdir -p "$R" && cp -r baselines "$R/baselines"  # under chain.sh, $R is new
    session X1 --infperf-compare "--infperf-baselines=$R/baselines" --infperf-save
    SELECT=${SELECT2:-c64} session X2 "--infperf-baselines=$R/baselines" --infperf-save
    [ -z "${DIRECT_ARGS:-}" ] || direct X1  # e.g. DIRECT_ARGS="--only c64"
    ;;
  check)
    session AA --infperf-compare
    [ "${EAGER:-1}" = 0 ] || session EAGER --infperf-compare --infperf-enforce-eager true
    [ -z "${DIRECT_ARGS:-}" ] || direct AA  # the direct comparison again, on the AA session's records
    ;;
esac
touch "$R/all.done"

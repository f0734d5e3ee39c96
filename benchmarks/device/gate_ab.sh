# Interleaved A/B on one GPU host (issue "Verdicts that hold on another machine"): the twelve cross-host
# configurations, each run under two workers of the same environment (--infperf-ab-reference=python3) in
# alternating rounds. AA: nothing differs (false alarms); D10 / D05: the candidate arm alone is slowed by 10% / 5%
# (INFPERF_TEST_ONLY_SLOWDOWN, which the reference arm never inherits), to measure detection.
#
#   bash benchmarks/device/gate_ab.sh start [ORDER]   ORDER: sessions to run, default "D10 AA D05"
#                                                     (also D10PIN, AAPIN: both arms on CPUs 0-3)
#   bash benchmarks/device/gate_ab.sh collect 540     -> $OUT/sweep.tgz
#
# Sessions run one after another with nothing else on the host; prefix caching stays off (the plugin's default).
# ROUNDS (default: the plugin's, 16) sets --infperf-ab-rounds; EXTRA adds pytest options (e.g. "--infperf-num-prompts 64
# --infperf-min-repeat-s 1": shorter passes, so more rounds fit). GEN (default h200) names the matrix target.
# REFERENCE (default: this python3) is what --infperf-ab-reference gets: an interpreter, or package specs that
# the plugin builds into a cached reference environment (SAA / SD10 below, the user's way for an engine upgrade;
# on a host with no registry set PIP_NO_INDEX=1, so pip satisfies the spec from what is installed).
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
source benchmarks/device/crosshost_ids.sh

ab_session() {  # ab_session NAME SLOWDOWN [PYTEST ARGS...]: over $ids, or $only when set
  local name=$1 slowdown=$2; shift 2
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  INFPERF_TEST_ONLY_SLOWDOWN=$slowdown CUDA_VISIBLE_DEVICES=0 timeout 1500 $INFPERF_PYTEST ${only:-$ids} -m "$GEN" -rfEs \
    --junitxml "$R/$name/junit.xml" "--infperf-output=$R/$name/records.jsonl" \
    "--infperf-ab-reference=${REFERENCE:-$(command -v python3)}" ${ROUNDS:+--infperf-ab-rounds "$ROUNDS"} \
    ${EXTRA:-} "$@" >"$R/$name/log.txt" 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

[ "${HF_ONLY:-0}" = 1 ] || await_vllm  # HF_ONLY=1: sessions of HF configurations need no staged vLLM
sessions="${*:2}"  # one argument ("D10 AA") from `start`, several from a chain.sh step
for name in ${sessions:-D10 AA D05}; do
  case "$name" in
    AA) ab_session AA "" ;;
    D10) ab_session D10 0.10 ;;
    D05) ab_session D05 0.05 ;;
    # the plugin's A/B defaults (16 rounds, then as many as the noise needs up to 128; both arms on shared CPUs),
    # against a reference built from REFERENCE: what a user runs for an engine upgrade, and its time to verdict
    SAA) ab_session SAA "" ;;
    SD10) ab_session SD10 0.10 ;;
    # both arms pinned to the same four CPUs (all twelve configurations): in the unpinned A/A run the two arms
    # of HF GPT-2 bs16 sat for minutes at different speeds (1,540 vs 1,400 tok/s, then 870 vs 1,500): a state
    # of each process (the vCPU it runs on), not of the moment. Sharing the CPUs should make the rounds move
    # together.
    D10PIN) ab_session D10PIN 0.10 --infperf-cpu-affinity 0-3 ;;
    AAPIN) ab_session AAPIN "" --infperf-cpu-affinity 0-3 ;;
    # HF GPT-2 alone, pinned, in rounds of one pass (~0.2 s) instead of 1 s: its noise was short slow spells
    # that hit one arm's round and missed the other's; rounds this short should let both arms share them.
    AAPIN1|D10PIN1)
      slow=""; [ "$name" = D10PIN1 ] && slow=0.10
      only="perf_tests/test_throughput.py::test_throughput[$GEN-hf-gpt2-gpus1-bs16] \
            perf_tests/test_throughput.py::test_throughput[$GEN-hf-gpt2-gpus1-bs64]" \
        ab_session "$name" "$slow" --infperf-cpu-affinity 0-3 --infperf-num-prompts 64 --infperf-min-repeat-s 0 \
        --infperf-warmup 40 --infperf-ab-rounds "${ROUNDS1:-64}" ;;
    D05PIN1)  # the same at a 5% slowdown: the detection rate the issue asks to report
      only="perf_tests/test_throughput.py::test_throughput[$GEN-hf-gpt2-gpus1-bs16] \
            perf_tests/test_throughput.py::test_throughput[$GEN-hf-gpt2-gpus1-bs64]" \
        ab_session "$name" 0.05 --infperf-cpu-affinity 0-3 --infperf-num-prompts 64 --infperf-min-repeat-s 0 \
        --infperf-warmup 40 --infperf-ab-rounds "${ROUNDS1:-64}" ;;
    AAPINL)  # HF Llama-3-8B bs16/bs64, pinned, 1 s rounds: the two configurations AAPIN did not reach
      only="perf_tests/test_throughput.py::test_throughput[$GEN-hf-llama-3-8b-gpus1-bs16] \
            perf_tests/test_throughput.py::test_throughput[$GEN-hf-llama-3-8b-gpus1-bs64]" \
        ab_session "$name" "" --infperf-cpu-affinity 0-3 ;;
    PAIRS)  # HF GPT-2 bs64 A/A in PAIRS_N (default 4) sessions, each with a fresh pair of workers: the rounds of one
            # pair cancel drift, not an offset between the two processes themselves (the two batch sizes of one pair
            # showed the same sign in every HF GPT-2 session), so the spread of these sessions' means measures it
      for i in $(seq 1 "${PAIRS_N:-4}"); do
        only="perf_tests/test_throughput.py::test_throughput[$GEN-hf-gpt2-gpus1-bs64]" \
          ab_session "PAIRS$i" "" --infperf-cpu-affinity 0-3
      done ;;
  esac
done
touch "$R/all.done"

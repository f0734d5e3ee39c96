# Cross-host A/A and detection for the gate (issue "Verdicts that hold on another machine"), one GPU, one lane.
#
#   lease 1:  bash benchmarks/device/gate_crosshost.sh start baseline    two independent sessions, one after the other
#             bash benchmarks/device/gate_crosshost.sh collect 540        -> $OUT/sweep.tgz (records of S1, S2)
#   (here)    infperf baseline add baselines <S1 records> <S2 records>    the baseline, two sessions kept apart
#   lease 2:  bash benchmarks/device/gate_crosshost.sh start check       A/A against lease 1's baseline (and saves
#                                                                         itself as a third session into a copy),
#                                                                         then the same sessions slowed by 10% and 5%,
#                                                                         judged against that three-session copy
#             bash benchmarks/device/gate_crosshost.sh collect 540
#   or:       bash benchmarks/device/gate_crosshost.sh start aa          the A/A session alone (its records join the
#                                                                         baseline through `infperf baseline add`)
#   or:       bash benchmarks/device/gate_crosshost.sh start sessions    SESSIONS (default 3) independent sessions,
#                                                                         each between two host probes
#                                                                         (benchmarks/host_probe.py -> probes.jsonl)
#
# Sessions never overlap: launch-bound throughput follows the host, so nothing else may run beside a measurement.
# Every session is a new pytest process, so worker processes and model loads are new too. Prefix caching stays off
# (the plugin's default): repeats over the same prompts measure compute, not cache hits.
# GEN (default h200) names the matrix target of the machine; ENGINE (vllm or hf) keeps one engine's configurations;
# LATENCY=1 adds benchmarks/latency_vllm_bench.py between the 10% and the 5% runs; INFPERF_GIT_COMMIT names the
# commit (the copied checkout has no .git).
phase=${2:-}
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
source benchmarks/device/crosshost_ids.sh

session() {  # session NAME ARGS... : one pytest session over the configurations, on GPU 0
  local name=$1; shift
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=0 timeout 1500 $INFPERF_PYTEST $ids -m "$GEN" -rfEs --junitxml "$R/$name/junit.xml" \
    "--infperf-output=$R/$name/records.jsonl" "$@" >"$R/$name/log.txt" 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

probe() {  # probe LABEL: the host's launch speed, beside the sessions it brackets
  python3 benchmarks/host_probe.py --label "$1" >>"$R/probes.jsonl" 2>>"$R/probe-errors.txt"
}

await_vllm
case "$phase" in
  sessions)
    mkdir -p "$R"
    for i in $(seq 1 "${SESSIONS:-3}"); do
      probe "S$i-before"; session "S$i"; probe "S$i-after"
    done
    ;;
  baseline)
    session S1
    session S2
    ;;
  aa | check)  # aa: the A/A session alone; check: then the 10% and 5% slowdowns
    mkdir -p "$R"  # as a chain step $R is new; without it the copy failed and the A/A met no baseline (lease 10)
    cp -r baselines "$R/baselines-with-b1" || exit 1
    judged=(--infperf-compare --infperf-require-baseline "--infperf-baselines=$R/baselines-with-b1")
    probe B1-before; session B1-aa "${judged[@]}" --infperf-save; probe B1-after
    if [ "$phase" = check ]; then
      INFPERF_TEST_ONLY_SLOWDOWN=0.10 session D10 "${judged[@]}"
      if [ -n "${LATENCY:-}" ]; then  # issue "What users read": exact per-request latency vs vllm bench latency
        mkdir -p "$R/latency"; start=$(date +%s)
        timeout 900 python3 benchmarks/latency_vllm_bench.py --hardware "$GEN" --model llama-3-8b --out "$R/latency" \
          >"$R/latency/log.txt" 2>&1
        echo "latency rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
      fi
      INFPERF_TEST_ONLY_SLOWDOWN=0.05 session D05 "${judged[@]}"
    fi
    ;;
esac
touch "$R/all.done"

# The throughput study on one GPU kind (issue "The two studies"), in isolated sessions: one pytest process at a
# time, nothing else on the host, prefix caching off (the plugin's default: repeats measure compute).
#
#   GEN=h200 bash benchmarks/device/study.sh start "vllm1 hf1"        (or chain.sh steps: "study.sh lanes vllm1")
#   bash benchmarks/device/study.sh collect 540                        -> $OUT/sweep.tgz
#
# Phases, in the order given:
#   vllm1 / hf1   every model of MODELS on one GPU at BATCHES (HF: HF_BATCHES), one session per engine; HF then
#                 batch 1 in a session of its own (hf1-bs1) on the first HF_B1_PROMPTS (default 64) prefixes: RQ2 is
#                 asked at batch 1, where an HF trial over 256 prefixes took 70-217 s (H200, GPT-2 to CodeLlama-13B);
#                 hf1-bs1 / hf2-bs1 run that batch-1 session alone, to finish one a lease cut short
#   vllm2 / hf2   the same on two GPUs (vLLM tensor parallel 2, HF device_map over both): a 2-GPU machine
#   full          issue 31.4, what the 256-prompt subset and bf16 change: FULL_MODEL (default phi-1) per engine at
#                 FULL_BATCHES (16,64) in three sessions each, 256 prefixes at bf16, all 1033 at bf16, all 1033 at
#                 fp16 (the paper's), so the subset and the dtype are each one step apart, on one host and lease
#   retune        InfPop on TUNE_MODEL (Llama-3-8B), per engine, over SEEDS seeds (default 10), each `--infpop-tune=force
#                 --infpop-seed S` (tuning only: --collect-only), starting from the other kind's tuned settings where
#                 PREVIOUS (a baselines folder holding them, e.g. one brought back from the other kind) is given, on
#                 TUNE_SPACE; seed 0 first measures the whole space (--infpop-grid: one engine load per load-knob
#                 value), so every seed tunes on measured points (the stored setting: the grid's best, TPE's beside it);
#                 every seed's summary is kept under $R/retune/seeds. vLLM over VLLM_TUNE_PROMPTS (256, as the H100
#                 landscape), HF over HF_TUNE_PROMPTS (64), batch sizes above them dropped from the space (InfPop
#                 holds a run to one workload); TUNE_REPEATS (2) repeats a point, as the H100 tuning
# The records under $R/<phase>/records.jsonl and those summaries are what `infperf study` reads.
#
# MODELS (default: eight of the throughput study's models, 1.3B to 34B) and the batch sizes can be narrowed to fit
# a lease, and a phase can name its own models after a colon, to finish one that a lease cut short while the next
# phase runs them all: "vllm1:codestral-22b,codellama-34b hf1". PROMPTS (default 256) is the HumanEval prefixes per
# pass. GEN names the matrix target, INFPERF_GIT_COMMIT
# the commit (the copied checkout has no .git).
source benchmarks/device/lanes.sh "$@"
GEN=${GEN:-h200}
MODELS=${MODELS:-phi-1,starcoder2-3b,codellama-7b,starcoder2-7b,codellama-13b,starcoder-15b,codestral-22b,codellama-34b}
BATCHES=${BATCHES:-1,16,64,256}
HF_BATCHES=${HF_BATCHES:-16,64}
TUNE_SPACE=${TUNE_SPACE:-benchmarks/device/infpop_space_gpu.toml}  # the space the shipped H100 settings were tuned on
VLLM_TUNE_PROMPTS=${VLLM_TUNE_PROMPTS:-256}  # as the H100 vLLM landscape (benchmarks/device/landscape.sh)
HF_TUNE_PROMPTS=${HF_TUNE_PROMPTS:-64}       # HF batch 1-4 over 256 prompts cost minutes a point

study() {  # study NAME DEVICES ARGS...: one pytest session over the phase's models
  local name=$1 devices=$2; shift 2
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=$devices timeout 3000 $INFPERF_PYTEST perf_tests/test_throughput.py -m "$GEN" -rfEs \
    "--infperf-model=$models" --infperf-num-prompts "${PROMPTS:-256}" --junitxml "$R/$name/junit.xml" \
    "--infperf-output=$R/$name/records.jsonl" "$@" >"$R/$name/log.txt" 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
}

hf_phase() {  # hf_phase NAME DEVICES GPUS: HF_BATCHES on PROMPTS prefixes, then batch 1 on HF_B1_PROMPTS
  study "$1" "$2" --infperf-engine hf --infperf-gpus "$3" --infperf-batch-sizes "$HF_BATCHES"
  hf_batch1 "$1" "$2" "$3"
}

hf_batch1() {  # hf_batch1 NAME DEVICES GPUS: HF's batch-1 session alone (a phase of its own to resume it)
  study "$1-bs1" "$2" --infperf-engine hf --infperf-gpus "$3" --infperf-batch-sizes 1 \
    --infperf-num-prompts "${HF_B1_PROMPTS:-64}"
}

full() {  # the 1033-prefix FP16 run beside the 256-prefix bf16 one, per engine, one model
  local engine saved=$models
  models=${FULL_MODEL:-phi-1}
  for engine in vllm hf; do
    PROMPTS=256 study "full-$engine-256-bf16" 0 --infperf-engine "$engine" --infperf-gpus 1 \
      --infperf-batch-sizes "${FULL_BATCHES:-16,64}" --infperf-dtype bfloat16
    PROMPTS=1033 study "full-$engine-1033-bf16" 0 --infperf-engine "$engine" --infperf-gpus 1 \
      --infperf-batch-sizes "${FULL_BATCHES:-16,64}" --infperf-dtype bfloat16
    PROMPTS=1033 study "full-$engine-1033-fp16" 0 --infperf-engine "$engine" --infperf-gpus 1 \
      --infperf-batch-sizes "${FULL_BATCHES:-16,64}" --infperf-dtype float16
  done
  models=$saved
}

retune() {  # InfPop on TUNE_MODEL per engine over SEEDS seeds, into a copy of PREVIOUS (or empty) baselines
  mkdir -p "$R/retune/seeds"
  if [ -n "${PREVIOUS:-}" ]; then cp -r "$PREVIOUS" "$R/retune/baselines"; else mkdir -p "$R/retune/baselines"; fi
  local engine prompts seed grid start
  for engine in vllm hf; do
    prompts=$VLLM_TUNE_PROMPTS; [ "$engine" = hf ] && prompts=$HF_TUNE_PROMPTS
    for seed in $(seq 0 $(( ${SEEDS:-10} - 1 ))); do
      grid=(); [ "$seed" = 0 ] && grid=(--infpop-grid)
      start=$(date +%s)
      CUDA_VISIBLE_DEVICES=0 timeout 1500 $INFPERF_PYTEST perf_tests/test_tuned.py -m "$GEN" --collect-only -q \
        "--infperf-baselines=$R/retune/baselines" --infpop-tune=force --infpop-seed "$seed" "${grid[@]}" \
        --infpop-max-evals "${EVALS:-8}" --infperf-repeats "${TUNE_REPEATS:-2}" --infperf-num-prompts "$prompts" \
        --infperf-engine "$engine" "--infperf-model=${TUNE_MODEL:-llama-3-8b}" -o infpop_space="$TUNE_SPACE" \
        "--infperf-output=$R/retune/records.jsonl" >"$R/retune/$engine-seed$seed.log" 2>&1
      echo "retune $engine seed $seed rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$R/progress.txt"
      for summary in "$R"/retune/baselines/*/_infpop/"$engine"-*.tuned.json; do
        [ -e "$summary" ] && cp "$summary" "$R/retune/seeds/$(basename "$summary" .tuned.json).seed$seed.tuned.json"
      done
    done
  done
}

await_vllm
for spec in ${*:2}; do
  phase=${spec%%:*}; models=$MODELS
  [ "$phase" != "$spec" ] && models=${spec#*:}
  case "$phase" in
    vllm1) study vllm1 0 --infperf-engine vllm --infperf-gpus 1 --infperf-batch-sizes "$BATCHES" ;;
    hf1) hf_phase hf1 0 1 ;;
    hf1-bs1) hf_batch1 hf1 0 1 ;;
    vllm2) study vllm2 0,1 --infperf-engine vllm --infperf-gpus 2 --infperf-batch-sizes "$BATCHES" ;;
    hf2) hf_phase hf2 0,1 2 ;;
    hf2-bs1) hf_batch1 hf2 0,1 2 ;;
    retune) retune ;;
    full) full ;;
    *) echo "study.sh: unknown phase '$phase'" >>"$R/progress.txt" ;;
  esac
done
touch "$R/all.done"

#!/usr/bin/env bash
# The 4 x H200 sweep behind docs/RESULTS.md (issues 6 and 7): HF and vLLM, five models, tensor parallel 1/2/4.
#
#   bash benchmarks/device/sweep_h200x4.sh start    # first device call: copies the checkout to /tmp/repo and starts
#                                                   # the lanes in their own process session (they outlive the call)
#   bash benchmarks/device/sweep_h200x4.sh collect [WAIT_S]  # later calls: wait up to WAIT_S for the sweep,
#                                                   # then pack everything done so far into $OUT/sweep.tgz
#
# Device time is the scarce thing, so the four GPUs work in parallel lanes, one GPU each, while vLLM is still being
# staged (the HF lanes need no vLLM; the vLLM jobs wait for /tmp/vllm-ready, touched after the last staging step).
# Single-GPU jobs run with CUDA_VISIBLE_DEVICES=<one GPU>, so they are fingerprinted h200-140gb-x1, the pairs
# h200-140gb-x2, the 4-GPU jobs h200-140gb-x4: each lands where a machine of that size looks for it.
set -u
R=/tmp/run
mode=${1:-collect}

if [ "$mode" = start ]; then
  rm -rf /tmp/repo "$R"; mkdir -p /tmp/repo "$R"
  tar --exclude=./.vllm-stage --exclude=./.git -cf - . | tar -xf - -C /tmp/repo
  cd /tmp/repo && source benchmarks/device/env.sh >/dev/null
  setsid nohup bash benchmarks/device/sweep_h200x4.sh lanes >"$R/driver.log" 2>&1 < /dev/null &
  echo "sweep started: $(date -u +%FT%TZ)"; exit 0
fi

if [ "$mode" = collect ]; then
  deadline=$(( $(date +%s) + ${2:-0} ))
  while [ ! -e "$R/all.done" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 10; done
  cat "$R/progress.txt" 2>/dev/null; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
  tar -czf "${OUT:-/tmp/out}/sweep.tgz" -C "$R" . && echo "packed $(du -sh "${OUT:-/tmp/out}/sweep.tgz" | cut -f1)"
  exit 0
fi

# mode = lanes: runs inside /tmp/repo, in its own session.
cd /tmp/repo && source benchmarks/device/env.sh >/dev/null
SAVE="--infperf-baselines $R/baselines --infperf-save"
ALL="1,2,4,8,16,32,64,128,256"
FEW="1,16,64,256"

job() {  # job NAME DEVICES ARGS... : one pytest session on the given GPUs
  local name=$1 devices=$2; shift 2
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=$devices timeout 1800 $INFPERF_PYTEST perf_tests/test_throughput.py -m h200 -q -rfEs \
    --infperf-output "$R/$name/records.jsonl" "$@" >"$R/$name/log.txt" 2>&1
  echo "$name gpus=$devices rc=$? $(( $(date +%s) - start ))s" >>"$R/progress.txt"
}
await() { for f in "$@"; do until [ -e "$R/$f" ]; do sleep 5; done; done; }
hf() { echo "--infperf-engine hf --infperf-gpus 1 --infperf-model $1 --infperf-batch-sizes $2"; }
vllm() { echo "--infperf-engine vllm --infperf-gpus $1 --infperf-model $2 --infperf-batch-sizes $3"; }
SYNTH="synthetic-in128-out16,synthetic-in128-out128,synthetic-in1024-out16,synthetic-in1024-out128"

(  # lane 0: HF CodeLlama-13B, its OOM boundary, then the A/A gate run
  job hf-codellama-13b 0 $(hf codellama-13b $FEW) $SAVE
  job hf-oom-codellama-13b 0 $(hf codellama-13b 512,1024) --infperf-num-prompts 1024 --infperf-repeats 1
  await vllm-llama-3-8b.done
  job gate-aa-vllm-llama-3-8b 0 $(vllm 1 llama-3-8b 16,64,256) --infperf-baselines "$R/baselines" --infperf-compare
  touch "$R/lane0.done" ) &
(  # lane 1: HF Llama-3-8B, GPT-2, Phi-1, then the A/B gate run (CUDA graphs off)
  job hf-llama-3-8b 1 $(hf llama-3-8b $FEW) $SAVE
  job hf-gpt2 1 $(hf gpt2 1,4,16,64,256) $SAVE
  job hf-phi-1 1 $(hf phi-1 1,4,16,64,256) $SAVE
  await vllm-llama-3-8b.done
  job gate-ab-vllm-llama-3-8b-eager 1 $(vllm 1 llama-3-8b 16,64,256) --infperf-baselines "$R/baselines" \
    --infperf-compare --infperf-enforce-eager true
  touch "$R/lane1.done" ) &
(  # lane 2: HF StarCoder2-3B, then vLLM CodeLlama-13B and StarCoder2-3B
  job hf-starcoder2-3b 2 $(hf starcoder2-3b 1,4,16,64,256) $SAVE
  until [ -e /tmp/vllm-ready ]; do sleep 5; done
  job vllm-codellama-13b 2 $(vllm 1 codellama-13b $ALL) $SAVE
  job vllm-starcoder2-3b 2 $(vllm 1 starcoder2-3b $ALL) $SAVE
  touch "$R/lane2.done" ) &
(  # lane 3: vLLM Llama-3-8B (the gate runs wait for it), the synthetic grid, GPT-2, Phi-1
  until [ -e /tmp/vllm-ready ]; do sleep 5; done
  job vllm-llama-3-8b 3 $(vllm 1 llama-3-8b $ALL) $SAVE
  touch "$R/vllm-llama-3-8b.done"
  job vllm-synthetic-llama-3-8b 3 $(vllm 1 llama-3-8b 8,64) --infperf-workload "$SYNTH" --infperf-num-prompts 64 $SAVE
  job vllm-gpt2 3 $(vllm 1 gpt2 $ALL) $SAVE
  job vllm-phi-1 3 $(vllm 1 phi-1 $ALL) $SAVE
  touch "$R/lane3.done" ) &
(  # tensor parallel 2 on GPUs 0,1 once lanes 0 and 1 are done
  await lane0.done lane1.done
  job vllm-tp2-codellama-13b 0,1 $(vllm 2 codellama-13b $FEW) $SAVE
  touch "$R/pair01.done" ) &
(  # tensor parallel 2 on GPUs 2,3 once lanes 2 and 3 are done
  await lane2.done lane3.done
  job vllm-tp2-llama-3-8b 2,3 $(vllm 2 llama-3-8b $FEW) $SAVE
  job vllm-tp2-gpt2 2,3 $(vllm 2 gpt2 16,256) $SAVE
  touch "$R/pair23.done" ) &
await pair01.done pair23.done
job vllm-tp4-llama-3-8b 0,1,2,3 $(vllm 4 llama-3-8b $FEW) $SAVE
job vllm-tp4-codellama-13b 0,1,2,3 $(vllm 4 codellama-13b $FEW) $SAVE
job vllm-tp4-gpt2 0,1,2,3 $(vllm 4 gpt2 16,256) $SAVE
touch "$R/all.done"

#!/usr/bin/env bash
# The 4 x H200 sweep behind docs/RESULTS.md (issues 6 and 7): HF and vLLM, five models, tensor parallel 1/2/4.
#   bash benchmarks/device/sweep_h200x4.sh start | collect [WAIT_S]     (see lanes.sh)
# Four single-GPU lanes start at once (the HF ones while vLLM is still being staged), then tensor parallel 2 on
# GPU pairs, then 4 on all four; the gate's A/A and A/B runs use the Llama-3-8B baselines of lane 3.
source benchmarks/device/lanes.sh "$@"
SYNTH="synthetic-in128-out16,synthetic-in128-out128,synthetic-in1024-out16,synthetic-in1024-out128"

(  # lane 0: HF CodeLlama-13B, its OOM boundary, then the A/A gate run
  job hf-codellama-13b 0 $(hf 1 codellama-13b $FEW) $SAVE
  job hf-oom-codellama-13b 0 $(hf 1 codellama-13b 512,1024) --infperf-num-prompts 1024 --infperf-repeats 1
  await vllm-llama-3-8b.done
  job gate-aa-vllm-llama-3-8b 0 $(vllm 1 llama-3-8b 16,64,256) "--infperf-baselines=$R/baselines" --infperf-compare
  touch "$R/lane0.done" ) &
(  # lane 1: HF Llama-3-8B, GPT-2, Phi-1, then the A/B gate run (CUDA graphs off)
  job hf-llama-3-8b 1 $(hf 1 llama-3-8b $FEW) $SAVE
  job hf-gpt2 1 $(hf 1 gpt2 1,4,16,64,256) $SAVE
  job hf-phi-1 1 $(hf 1 phi-1 1,4,16,64,256) $SAVE
  await vllm-llama-3-8b.done
  job gate-ab-vllm-llama-3-8b-eager 1 $(vllm 1 llama-3-8b 16,64,256) "--infperf-baselines=$R/baselines" \
    --infperf-compare --infperf-enforce-eager true
  touch "$R/lane1.done" ) &
(  # lane 2: HF StarCoder2-3B, then vLLM CodeLlama-13B and StarCoder2-3B
  job hf-starcoder2-3b 2 $(hf 1 starcoder2-3b 1,4,16,64,256) $SAVE
  await_vllm
  job vllm-codellama-13b 2 $(vllm 1 codellama-13b $ALL) $SAVE
  job vllm-starcoder2-3b 2 $(vllm 1 starcoder2-3b $ALL) $SAVE
  touch "$R/lane2.done" ) &
(  # lane 3: vLLM Llama-3-8B (the gate runs wait for it), the synthetic grid, GPT-2, Phi-1
  await_vllm
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

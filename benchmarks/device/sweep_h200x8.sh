#!/usr/bin/env bash
# The 8 x H200 sweep of issue 7, prepared for the next lease of nvidia-h200-x8 (not run yet: that kind was not lent
# in the session that wrote it). The larger models at 1, 2, 4 and 8 GPUs: vLLM tensor parallel, HF device_map.
#   bash benchmarks/device/sweep_h200x8.sh start | collect [WAIT_S]     (see lanes.sh; stage vLLM in between)
# bf16 weights: CodeLlama-34B 68 GB, Mixtral-8x7B 93 GB (one GPU each), Llama-3-70B 141 GB (two or more GPUs).
# Llama-3-70B at tensor parallel 8 is already in baselines/h200-140gb-x8.
source benchmarks/device/lanes.sh "$@"
BIG="1,16,64,256"

(  # GPU 0: HF on one GPU, CodeLlama-34B then Mixtral-8x7B (the HF lanes start while vLLM is being staged)
  job hf-codellama-34b 0 $(hf 1 codellama-34b 1,16,64) $SAVE
  job hf-mixtral-8x7b 0 $(hf 1 mixtral-8x7b 1,16,64) $SAVE
  touch "$R/gpu0.done" ) &
(  # GPU 1: vLLM on one GPU
  await_vllm
  job vllm-codellama-34b 1 $(vllm 1 codellama-34b $BIG) $SAVE
  job vllm-mixtral-8x7b 1 $(vllm 1 mixtral-8x7b $BIG) $SAVE
  touch "$R/gpu1.done" ) &
(  # GPUs 2,3: HF device_map over 2 GPUs, then vLLM tensor parallel 2
  job hf-dm2-codellama-34b 2,3 $(hf 2 codellama-34b 1,16,64) $SAVE
  await_vllm
  job vllm-tp2-llama-3-70b 2,3 $(vllm 2 llama-3-70b $BIG) $SAVE
  job vllm-tp2-codellama-34b 2,3 $(vllm 2 codellama-34b $BIG) $SAVE
  touch "$R/gpu23.done" ) &
(  # GPUs 4-7: HF device_map over 4 GPUs, then vLLM tensor parallel 4
  job hf-dm4-llama-3-70b 4,5,6,7 $(hf 4 llama-3-70b 1,16) $SAVE
  await_vllm
  job vllm-tp4-llama-3-70b 4,5,6,7 $(vllm 4 llama-3-70b $BIG) $SAVE
  job vllm-tp4-mixtral-8x7b 4,5,6,7 $(vllm 4 mixtral-8x7b $BIG) $SAVE
  job vllm-tp4-codellama-34b 4,5,6,7 $(vllm 4 codellama-34b $BIG) $SAVE
  touch "$R/gpu4567.done" ) &
await gpu0.done gpu1.done gpu23.done gpu4567.done
job vllm-tp8-mixtral-8x7b 0,1,2,3,4,5,6,7 $(vllm 8 mixtral-8x7b $BIG) $SAVE
job vllm-tp8-codellama-34b 0,1,2,3,4,5,6,7 $(vllm 8 codellama-34b $BIG) $SAVE
job hf-dm8-llama-3-70b 0,1,2,3,4,5,6,7 $(hf 8 llama-3-70b 1,16) $SAVE
touch "$R/all.done"

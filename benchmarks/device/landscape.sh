#!/usr/bin/env bash
# Exhaustive vLLM landscape on one GPU: batch size 1..1024 x max_num_seqs, for the InfPop replay benchmark.
# Usage (device machine, after staging vLLM): bash benchmarks/device/landscape.sh <target> <model> <mns...>
source benchmarks/device/env.sh
target=$1; model=$2; shift 2
for mns in "$@"; do
  $INFPERF_PYTEST perf_tests/test_throughput.py -m "$target" --infperf-engine vllm "--infperf-model=$model" \
    --infperf-batch-sizes 1,2,4,8,16,32,64,128,256,512,1024 --infperf-num-prompts 256 --infperf-repeats 2 \
    --infperf-max-num-seqs "$mns" "--infperf-output=$OUT/landscape-vllm-$model-mns$mns.jsonl" -q 2>&1 | tail -16
done

# Shared by the device sweep scripts (sweep_h200x4.sh, sweep_h200x8.sh): `source benchmarks/device/lanes.sh "$@"`.
#
#   bash <sweep>.sh start            first device call: copy the checkout to /tmp/repo and start the sweep's lanes
#                                    in their own process session, so they outlive the call
#   bash <sweep>.sh collect [WAIT_S] later calls: wait up to WAIT_S for the sweep, then pack everything done so far
#                                    into $OUT/sweep.tgz (records, baselines, logs, progress.txt)
#
# In `lanes` mode (run by `start`) this file returns to the sweep script, which declares its lanes with `job`,
# `await` and the `hf` / `vllm` argument helpers. Device time is the scarce thing, so lanes run in parallel, one GPU
# set each. Jobs run with CUDA_VISIBLE_DEVICES=<their GPUs>, so their baselines land under the fingerprint of a
# machine of that size (h200-140gb-x1, -x2, ...), which is where such a machine, or a larger one, looks for them.
set -u
R=${R:-/tmp/run}  # chain.sh gives each of its steps its own folder under /tmp/run
mode=${1:-collect}

if [ "$mode" = start ]; then
  rm -rf /tmp/repo "$R"; mkdir -p /tmp/repo "$R"
  tar --exclude=./.vllm-stage --exclude=./.git -cf - . | tar -xf - -C /tmp/repo
  cd /tmp/repo && source benchmarks/device/env.sh >/dev/null
  setsid nohup bash "$0" lanes "${@:2}" >"$R/driver.log" 2>&1 < /dev/null &
  echo "sweep started: $(date -u +%FT%TZ)"; exit 0
fi

if [ "$mode" = collect ]; then
  deadline=$(( $(date +%s) + ${2:-0} ))
  while [ ! -e "$R/all.done" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 10; done
  find "$R" -name progress.txt -exec cat {} + 2>/dev/null; nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
  tar -czf "${OUT:-/tmp/out}/sweep.tgz" -C "$R" . && echo "packed $(du -sh "${OUT:-/tmp/out}/sweep.tgz" | cut -f1)"
  exit 0
fi

cd /tmp/repo && source benchmarks/device/env.sh >/dev/null
SAVE="--infperf-baselines $R/baselines --infperf-save"
ALL="1,2,4,8,16,32,64,128,256"
FEW="1,16,64,256"

job() {  # job NAME DEVICES ARGS... : one pytest session on the given GPUs
  local name=$1 devices=$2; shift 2
  mkdir -p "$R/$name"
  local start; start=$(date +%s)
  CUDA_VISIBLE_DEVICES=$devices timeout 1800 $INFPERF_PYTEST perf_tests/test_throughput.py -m h200 -q -rfEs \
    "--infperf-output=$R/$name/records.jsonl" "$@" >"$R/$name/log.txt" 2>&1
  echo "$name gpus=$devices rc=$? $(( $(date +%s) - start ))s" >>"$R/progress.txt"
}
await() { for f in "$@"; do until [ -e "$R/$f" ]; do sleep 5; done; done; }
await_vllm() { until [ -e /tmp/vllm-ready ]; do sleep 5; done; }  # touched after the last staging step
hf() { echo "--infperf-engine hf --infperf-gpus $1 --infperf-model $2 --infperf-batch-sizes $3"; }
vllm() { echo "--infperf-engine vllm --infperf-gpus $1 --infperf-model $2 --infperf-batch-sizes $3"; }

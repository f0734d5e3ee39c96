# Several device scripts' runs one after another in one lease, each in its own folder under /tmp/run, nothing else
# on the host in between:
#
#   bash benchmarks/device/chain.sh start "gate_ab.sh AAPIN1 D10PIN1" "serving.sh check" "latency_grid.sh"
#   bash benchmarks/device/chain.sh collect 540        -> $OUT/sweep.tgz (every step's folder)
#
# A step is a script of benchmarks/device/ and its arguments (what it takes after `start`); environment variables
# reach every step.
source benchmarks/device/lanes.sh "$@"
top=$R
for step in "${@:2}"; do
  read -r script args <<<"$step"
  start=$(date +%s)
  R="$top/${script%.sh}" bash "benchmarks/device/$script" lanes $args
  echo "step '$step' rc=$? $(( $(date +%s) - start ))s $(date -u +%FT%TZ)" >>"$top/chain.txt"
done
touch "$top/all.done"

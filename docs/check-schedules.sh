#!/usr/bin/env bash
# Byte-identical schedules before and after a change: writes the schedule (`plan -o`) of every shipped graph at 30,
# 50 and 70 % of its store-all peak for the solvers auto, greedy, dp and chen with two `recompute` binaries, one
# after the other for each case, and prints per case both exit codes, the sha256 of each schedule and whether they
# agree. Exit code 1 when a case differs.
#   docs/check-schedules.sh BEFORE/recompute AFTER/recompute [seconds per run, default 300] > check.txt
# Times are FLOP counts (--device flop), so the schedules do not depend on this machine's speed; a run past the
# limit is reported as such (exit=124) and compared no further.
set -uo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: docs/check-schedules.sh BEFORE AFTER [seconds]}
after=${2:?usage: docs/check-schedules.sh BEFORE AFTER [seconds]}
limit=${3:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # binary graph solver budget: prints "exit hash"
  rm -f "$work/schedule.json"
  timeout "$limit" "$1" plan "$2" --solver "$3" --budget "$4%" --device flop --threads 1 -o "$work/schedule.json" > /dev/null 2>&1
  local status=$? hash=-
  [ -f "$work/schedule.json" ] && hash=$(sha256sum "$work/schedule.json" | cut -c1-16)
  echo "exit=$status $hash"
}
differ=0
for graph in graphs/*.onnx graphs/*.json; do
  [ "$(basename "$graph")" = reference.json ] && continue
  for solver in auto greedy dp chen; do
    for budget in 30 50 70; do
      a=$(run "$before" "$graph" "$solver" "$budget")
      b=$(run "$after" "$graph" "$solver" "$budget")
      if [[ "$a $b" == *exit=124* ]]; then verdict="timed out"
      elif [ "$a" = "$b" ]; then verdict=same
      else verdict=DIFFERENT; differ=1
      fi
      echo "$(basename "$graph") $solver $budget% before: $a after: $b $verdict"
    done
  done
done
exit $differ

#!/usr/bin/env bash
# Writes the schedule of every shipped graph at 30, 50 and 70 % of its store-all peak for the solvers auto, greedy,
# dp and chen, with one `recompute` binary, and prints one line per case: graph, solver, budget, exit code and the
# sha256 of the schedule. Run it with the binary before a change and after it, and diff the two outputs: a
# refactoring that changes no behaviour leaves them identical.
#   docs/check-schedules.sh path/to/recompute > after.txt
# Times are FLOP counts (--device flop) so that the result does not depend on this machine's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
recompute=${1:?usage: docs/check-schedules.sh path/to/recompute}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for graph in graphs/*.onnx graphs/*.json; do
  [ "$(basename "$graph")" = reference.json ] && continue
  for solver in auto greedy dp chen; do
    for budget in 30 50 70; do
      rm -f "$work/schedule.json"
      status=0
      "$recompute" plan "$graph" --solver "$solver" --budget "$budget%" --device flop --threads 1 \
        -o "$work/schedule.json" > /dev/null 2>&1 || status=$?
      hash=-
      [ -f "$work/schedule.json" ] && hash=$(sha256sum "$work/schedule.json" | cut -d' ' -f1)
      echo "$(basename "$graph") $solver $budget% exit=$status $hash"
    done
  done
done

#!/usr/bin/env bash
# Predicted against measured training-step time on this machine: for each runnable shipped graph, `train --verify`
# at 50 % of store-all, planned in seconds on the cpu profile (the default) and, for comparison, in FLOPs
# (RECOMPUTE_DEVICE=flop). Prints a Markdown table: the predicted and measured forward+backward seconds of the
# store-all step and of the plan, and the predicted and measured overhead (share of the training step).
# Usage: docs/measure-time-model.sh [steps]   (default 5; from anywhere; needs the .NET 10 SDK and jq; an idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5}
dotnet build -c Release Recompute.Cli > /dev/null
recompute=(dotnet "Recompute.Cli/bin/Release/net10.0/$(dotnet --info | awk '/^ *RID:/ { print $2; exit }')/recompute.dll")
# The cpu profile measured now, on the machine as it is (the cached one may date from a busier moment).
"${recompute[@]}" device --measure > /dev/null
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) processors; $(date -u +%Y-%m-%d)"
echo
echo "| graph | plan | store-all step (s): predicted / measured | plan step (s): predicted / measured | overhead: predicted / measured |"
echo "|---|---|---:|---:|---:|"
run() {  # graph, label, extra args...
  local graph=$1 label=$2; shift 2
  local json
  json=$("${recompute[@]}" train "graphs/$graph" --budget 50% --steps "$steps" --verify --format json "$@")
  jq -r --arg g "$graph $*" --arg l "$label" '"| \($g) | \($l) | \(.storeAllPredictedStepSeconds // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) / \(.storeAllForwardBackwardSeconds * 1000 | round / 1000) | \(.predictedStepSeconds // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) / \(.forwardBackwardSeconds * 1000 | round / 1000) | \(.predictedStepOverhead * 1000 | round / 10) % / \(.measuredStepOverhead * 1000 | round / 10) % |"' <<< "$json"
}
for spec in "resnet18-b32.onnx --batch 8" "gpt2-2l-t128.onnx" "mobilenetv2-b64.onnx --batch 8" "resnet50-b64.onnx --batch 4" \
            "vgg16-b32.onnx --batch 2" "unet-b8-256.onnx --batch 1"; do
  read -r -a args <<< "$spec"
  run "${args[0]}" "seconds (cpu)" "${args[@]:1}"
  RECOMPUTE_DEVICE=flop run "${args[0]}" "FLOPs" "${args[@]:1}"
done
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

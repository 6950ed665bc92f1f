#!/usr/bin/env bash
# Predicted against measured training-step time on this machine: for each runnable shipped graph, `train --verify`
# at 50 % of store-all (VGG-16 and U-Net at 70 %), planned in seconds on the cpu profile (the default) and, for comparison, in FLOPs
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
run() {  # graph, budget, label, extra args...
  local graph=$1 budget=$2 label=$3; shift 3
  local json
  json=$("${recompute[@]}" train "graphs/$graph" --budget "$budget" --steps "$steps" --verify --format json "$@")
  jq -r --arg g "$graph $* at $budget" --arg l "$label" '"| \($g) | \($l) | \(.storeAllPredictedStepSeconds // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) / \(.storeAllForwardBackwardSeconds * 1000 | round / 1000) | \(.predictedStepSeconds // "-" | if type == "number" then (. * 1000 | round / 1000) else . end) / \(.forwardBackwardSeconds * 1000 | round / 1000) | \(.predictedStepOverhead * 1000 | round / 10) % / \(.measuredStepOverhead * 1000 | round / 10) % |"' <<< "$json"
}
# VGG-16's and U-Net's largest steps are over 50 % of their store-all peaks at these batches: they run at 70 %.
for spec in "resnet18-b32.onnx 50% --batch 8" "gpt2-2l-t128.onnx 50%" "mobilenetv2-b64.onnx 50% --batch 8" \
            "resnet50-b64.onnx 50% --batch 4" "vgg16-b32.onnx 70% --batch 2" "unet-b8-256.onnx 70% --batch 1"; do
  read -r -a args <<< "$spec"
  run "${args[0]}" "${args[1]}" "seconds (cpu)" "${args[@]:2}"
  RECOMPUTE_DEVICE=flop run "${args[0]}" "${args[1]}" "FLOPs" "${args[@]:2}"
done
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

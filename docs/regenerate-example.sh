#!/usr/bin/env bash
# Regenerates docs/example-pareto.png, the README's example image: runs the README's main job (the budget sweep of
# ResNet-50 at batch 64) into a temporary folder and copies its Pareto plot here. Its times are seconds on this
# machine's cpu device profile (measured once and cached), so the image is the same for the same checkout and profile. Usage: docs/regenerate-example.sh   (from anywhere; needs the .NET 10 SDK)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet run -c Release --project Recompute.Cli -- report graphs/resnet50-b64.onnx -o "$out/report"
cp "$out/report/pareto.png" docs/example-pareto.png
echo "wrote docs/example-pareto.png"

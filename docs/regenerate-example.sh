#!/usr/bin/env bash
# Regenerates the README's example images: runs the README's main job (the budget sweep of ResNet-50 at batch 64)
# into a temporary folder, copies its two plots here (example-pareto.png, example-timeline.png) and, where
# Debian's chromium is installed, a screenshot of report.html in a headless browser (example-report.png). Its times
# are seconds on this machine's cpu device profile (measured once and cached), so the images are the same for the
# same checkout and profile. Usage: docs/regenerate-example.sh   (from anywhere; needs the .NET 10 SDK)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet run -c Release --project Recompute.Cli -- report graphs/resnet50-b64.onnx -o "$out/report"
cp "$out/report/pareto.png" docs/example-pareto.png
cp "$out/report/timeline.png" docs/example-timeline.png
echo "wrote docs/example-pareto.png and docs/example-timeline.png"
if command -v chromium > /dev/null; then
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$out/browser" --window-size=1280,2000 \
    --screenshot="$out/report.png" "file://$out/report/report.html" 2> /dev/null
  cp "$out/report.png" docs/example-report.png
  echo "wrote docs/example-report.png"
else
  echo "chromium not installed (apt-get install chromium): docs/example-report.png not regenerated"
fi

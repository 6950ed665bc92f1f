#!/usr/bin/env bash
# Runs the importer fuzz harness (Recompute.Tests/Import/ImporterFuzzTests.cs) for longer than the CI run.
# The CI run does 300 mutations with a fixed seed; this script does many more with a fresh seed, saves every
# input that raised something else than GraphFormatException under fuzz/findings/, and prints the seed so that
# a run can be replayed exactly.
#
#   fuzz/run-fuzz.sh                         # 20,000 mutations, seed from the clock
#   RECOMPUTE_FUZZ_ITERATIONS=100000 RECOMPUTE_FUZZ_SEED=7 fuzz/run-fuzz.sh
#   FUZZ_TIMEOUT=600 fuzz/run-fuzz.sh        # hard stop after 10 minutes (default 1800 s)
set -euo pipefail
cd "$(dirname "$0")/.."

export RECOMPUTE_FUZZ_ITERATIONS="${RECOMPUTE_FUZZ_ITERATIONS:-20000}"
export RECOMPUTE_FUZZ_SEED="${RECOMPUTE_FUZZ_SEED:-$(( $(date +%s) % 2147483647 ))}"
export RECOMPUTE_FUZZ_OUT="${RECOMPUTE_FUZZ_OUT:-$PWD/fuzz/findings}"
# The hostile corpus (Recompute.Tests/Import/HostileInputCorpusTests.cs) as further seeds; 0 turns it off.
export RECOMPUTE_FUZZ_CORPUS="${RECOMPUTE_FUZZ_CORPUS:-1}"
configuration="${CONFIGURATION:-Debug}"

echo "fuzz: ${RECOMPUTE_FUZZ_ITERATIONS} mutations, seed ${RECOMPUTE_FUZZ_SEED}, failing inputs -> ${RECOMPUTE_FUZZ_OUT}"
dotnet build Recompute.Tests/Recompute.Tests.csproj -c "$configuration" -v quiet -nologo
status=0
timeout "${FUZZ_TIMEOUT:-1800}" dotnet test Recompute.Tests/Recompute.Tests.csproj -c "$configuration" --no-build \
  --filter "FullyQualifiedName~Recompute.Tests.Import.ImporterFuzzTests" \
  --logger "console;verbosity=detailed" || status=$?
if [ "$status" -eq 124 ]; then echo "fuzz: stopped by the time limit (FUZZ_TIMEOUT)"; fi
echo "fuzz: seed ${RECOMPUTE_FUZZ_SEED}, exit ${status}"
exit "$status"

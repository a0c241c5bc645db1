#!/usr/bin/env bash
# Runs every test: installs what the tests need (environments, Chromium, Redis and
# PostgreSQL servers), trains the model if data or config changed, then runs the
# bot's tests in the Rasa environment and the bridge's, widget's and benchmarks'
# smoke tests in the bridge environment. A skipped test fails the run.
# Extra arguments go to both pytest runs (e.g. -k escalation, -x).
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
bash scripts/setup.sh --test || die "set-up failed"
bash scripts/train.sh || die "training failed"
[[ -x bench/nlu/setup.sh ]] && { bash bench/nlu/setup.sh || die "NLU benchmark set-up failed"; }

export SUPPORTLINE_STRICT=1 PYTHONDONTWRITEBYTECODE=1
results="$PROJECT_ROOT/var/test-results"
rm -rf "$results"; mkdir -p "$results"
status=0
run_suite() {  # name venv paths...
  local name="$1" venv="$2"; shift 2
  local paths=() p
  for p in "$@"; do [[ -d "$p" ]] && paths+=("$p"); done
  [[ ${#paths[@]} -gt 0 ]] || return 0
  say "tests in the $name environment: ${paths[*]}"
  "$venv/bin/python" -m pytest -p no:cacheprovider -rfEs --junitxml="$results/$name.xml" "${paths[@]}" $EXTRA_ARGS || status=1
}
EXTRA_ARGS="${*:-}"
run_suite bot "$RASA_VENV" tests/actions tests/bot
run_suite bridge "$BRIDGE_VENV" tests/handoff tests/reliability tests/cluster tests/widget tests/bench

"$BRIDGE_VENV/bin/python" - "$results" <<'PY' || status=1
import sys, pathlib, xml.etree.ElementTree as ET
totals = dict(tests=0, failures=0, errors=0, skipped=0)
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        for k in totals:
            totals[k] += int(suite.get(k, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"all suites: {passed} passed, {failed} failed, {totals['skipped']} skipped")
sys.exit(1 if failed or totals["skipped"] or totals["tests"] == 0 else 0)
PY
exit $status

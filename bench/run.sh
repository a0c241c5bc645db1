#!/usr/bin/env bash
# Runs the performance benchmarks one after the other on this machine, then the NLU
# benchmark's smoke entry (its full runs train for up to an hour each: see
# docs/benchmarks-nlu.md), then renders docs/benchmarks.md and docs/img/*.png from the
# JSON results. `make bench` calls this.
#
#   bash bench/run.sh            # full: writes bench/results/*.json (about 30-45 minutes on 2 cores)
#   bash bench/run.sh --quick    # seconds to minutes: writes var/bench/quick/ (results, page, plots)
#
# Each benchmark can also be run alone (see its --help):
#   .venv-bridge/bin/python bench/latency.py     bridge vs Rasa REST, 1/10/50 conversations
#   .venv-bridge/bin/python bench/turn_cost.py   our config vs rasa init's, curve, accuracy, profile
#   .venv-bridge/bin/python bench/capacity.py    10,000 widgets, relay, escalation, claims on Redis
#   .venv-bridge/bin/python bench/event_loop.py  the bridge on uvloop vs asyncio, side by side
#   .venv-bridge/bin/python bench/profile_bridge.py   where the bridge's CPU goes in those
#   .venv-bridge/bin/python bench/designer_loop.py  edit to live: train, PUT /model, new answer
#   .venv-bridge/bin/python bench/scale.py       one Rasa server vs two, one bridge vs two, side by side
#   .venv-bridge/bin/python bench/report.py      the page and the plots
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$PROJECT_ROOT"

quick=()
out=()
report=()
if [[ "${1:-}" == "--quick" ]]; then
  quick=(--quick)
  dir="$PROJECT_ROOT/var/bench/quick"
  mkdir -p "$dir"
  out=(--out "$dir")
  report=(--results "$dir" --doc "$dir/benchmarks.md" --img "$dir/img")
fi

[[ -x .venv-bridge/bin/python && -x .venv-rasa/bin/python ]] || bash scripts/setup.sh
# redis-server, and PostgreSQL answering on 127.0.0.1:5432 (bench/scale.py's tracker store)
{ command -v redis-server && command -v psql && (exec 3<>/dev/tcp/127.0.0.1/5432); } >/dev/null 2>&1 \
  || bash scripts/setup.sh --test
[[ -f models/supportline.tar.gz ]] || bash scripts/train.sh
PY=.venv-bridge/bin/python
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

failed=()
bench() {  # name args...: one benchmark; a failure is reported and the others still run
  local name="$1"; shift
  "$PY" "$@" || { say "$name FAILED"; failed+=("$name"); }
}

say "load before the benchmarks: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
say "1/3 bot reply latency: bridge vs Rasa REST"
bench latency bench/latency.py "${quick[@]}" "${out[@]}"
if [[ ${#quick[@]} -eq 0 ]]; then   # the bridge's own floor: the same against an instant fake Rasa
  bench latency_fake_rasa bench/latency.py --rasa fake --name latency_fake_rasa --rounds 2 --seconds 6 "${out[@]}"
fi
say "2/3 cost of a bot turn: our config vs Rasa's default"
bench turn_cost bench/turn_cost.py "${quick[@]}" "${out[@]}"
say "3/3 bridge capacity"
bench capacity bench/capacity.py "${quick[@]}" "${out[@]}"
say "event loop: the bridge on uvloop vs asyncio"
bench event_loop bench/event_loop.py "${quick[@]}" "${out[@]}"
if [[ ${#quick[@]} -eq 0 ]]; then
  say "designer loop: edit to live"
  bench designer_loop bench/designer_loop.py "${out[@]}"
fi
say "bridge CPU profile (escalations, relays, claims)"
bench bridge_profile bench/profile_bridge.py "${quick[@]}" "${out[@]}"
say "scale-out: one Rasa server vs two (PostgreSQL + Redis lock), one bridge vs two (Redis)"
bench scale bench/scale.py "${quick[@]}" "${out[@]}"

# The NLU accuracy benchmark (bench/nlu/, another owner): its smoke entry only.
if [[ -f bench/nlu/smoke.py ]]; then
  if [[ -x bench/nlu/setup.sh ]] && bash bench/nlu/setup.sh >/dev/null; then
    say "NLU benchmark smoke run (bench/nlu/smoke.py; full runs: docs/benchmarks-nlu.md)"
    SUPPORTLINE_BENCHMARKS="${SUPPORTLINE_BENCHMARKS:-$PROJECT_ROOT/../shared/benchmarks}" \
      .venv-nlu/bin/python bench/nlu/smoke.py "$PROJECT_ROOT/var/bench/nlu-smoke" \
      || say "NLU smoke run failed (not ours to fix here; see bench/nlu/)"
  else
    say "NLU benchmark environment not available; skipped its smoke run"
  fi
fi

"$PY" bench/report.py "${report[@]}"
say "load after the benchmarks: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ${#failed[@]} -gt 0 ]]; then
  say "failed: ${failed[*]} (their previous results, if any, were rendered)"
  exit 1
fi

#!/usr/bin/env bash
# Runs the whole system on this machine: action server, Rasa server, and the bridge
# (which serves the widget demo page and the agent console). Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
bash scripts/setup.sh
bash scripts/train.sh
mkdir -p var

export RASA_PORT="${RASA_PORT:-5005}" ACTIONS_PORT="${ACTIONS_PORT:-5055}"
export HANDOFF_HOST="${HANDOFF_HOST:-127.0.0.1}" HANDOFF_PORT="${HANDOFF_PORT:-8080}"
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-http://127.0.0.1:$ACTIONS_PORT/webhook}"
# Rasa's HTTP API only on loopback and only with this token; the bridge gets the same one.
ensure_run_secrets
export HANDOFF_RASA_TOKEN="$RASA_TOKEN" HANDOFF_RASA_URL="http://127.0.0.1:$RASA_PORT"
export HANDOFF_AGENTS_FILE="${HANDOFF_AGENTS_FILE:-var/agents.yml}"
"$RASA_VENV/bin/python" -m bot.endpoints --out var/endpoints.yml

credentials="$(demo_credentials "$HANDOFF_AGENTS_FILE")"

base="http://$HANDOFF_HOST:$HANDOFF_PORT"
announce() {
  for _ in $(seq 1 300); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then
      cat <<MSG

==========================================================================
 Trailhead Supply Co. support is running.
   Visitor widget (demo shop):  $base/
   Agent console:               $base/console/
   Metrics:                     $base/metrics
 Store: ${HANDOFF_STORE_URL:-embedded (one process; set HANDOFF_STORE_URL=redis://... to share)}
MSG
      if [[ -n "$credentials" ]]; then
        printf ' Demo agent accounts (username / password):\n%s\n' "$credentials"
      else
        printf ' Agent accounts: %s (add one: %s -m handoff.agents add NAME)\n' "$HANDOFF_AGENTS_FILE" "$BRIDGE_VENV/bin/python"
      fi
      echo " Press Ctrl-C to stop."
      echo "=========================================================================="
      return
    fi
    sleep 1
  done
  echo "warning: the bridge did not become ready within 300 s; see the log above" >&2
}
announce &
exec "$BRIDGE_VENV/bin/honcho" -f Procfile start

#!/usr/bin/env bash
# Rolls a new model out to the running cluster profile with no downtime (make cluster-ship):
# trains (Rasa skips it when nothing changed), then restarts the Rasa servers one at a
# time, each only after the previous one answers again with the model loaded. While a
# server is down the bridges send its conversations to the others (a stopped server
# refuses connections, which they fail over at once); conversations live in the shared
# tracker store, so none is dropped. CLUSTER_STATE_DIR as for scripts/cluster.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
state_dir="${CLUSTER_STATE_DIR:-var/cluster}"
conf="$state_dir/supervisord.conf"
[[ -S "$state_dir/supervisor.sock" && -f "$conf" ]] || die "no running cluster in $state_dir (start it with: make cluster)"
ctl() { "$BRIDGE_VENV/bin/supervisorctl" -c "$conf" "$@"; }
ctl status >/dev/null || die "supervisord in $state_dir does not answer"
token="${RASA_TOKEN:-$(cat var/rasa-token 2>/dev/null || true)}"

[[ "${1:-}" == "--no-train" ]] || bash scripts/train.sh

started=$(date +%s)
# each Rasa program and its port, from the generated configuration
while read -r name port; do
  say "restarting $name (port $port) with models/supportline.tar.gz"
  ctl restart "$name" >/dev/null
  for _ in $(seq 1 900); do
    curl -fsS "http://127.0.0.1:$port/status?token=$token" 2>/dev/null | grep -q '"model_file"' && break
    sleep 1
  done
  curl -fsS "http://127.0.0.1:$port/status?token=$token" 2>/dev/null | grep -q '"model_file"' \
    || die "$name did not come back within 900 s; see $state_dir/logs/$name.log"
  say "$name is serving again"
done < <(awk '/^\[program:rasa[0-9]+\]/ {name = substr($1, 10, length($1) - 10)}
              name && /^command=/ {for (i = 1; i < NF; i++) if ($i == "-p") {print name, $(i + 1)}; name = ""}' "$conf")
say "the new model is live on every Rasa server ($(( $(date +%s) - started )) s)"

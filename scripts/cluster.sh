#!/usr/bin/env bash
# The cluster profile on this machine (make cluster): nginx on one public port in front
# of two bridge processes, two Rasa servers sharing a Redis lock store and a PostgreSQL
# tracker store, one action server, and Redis and PostgreSQL (started if not running).
# Prints where to open the widget and the console; Ctrl-C (or SIGTERM) stops everything
# it started. Settings (environment, defaults in docs/deploy.md):
#   CLUSTER_HOST, CLUSTER_PORT        nginx's public address          [127.0.0.1, 8080]
#   CLUSTER_BRIDGE_PORTS              the bridges, comma-separated    [8081,8082]
#   CLUSTER_RASA_PORTS                the Rasa servers                [5005,5006]
#   CLUSTER_ACTIONS_PORT              the action server               [5055]
#   CLUSTER_REDIS_URL                 shared state, lock store        [redis://127.0.0.1:6379/0]
#   CLUSTER_DATABASE_URL              Rasa's tracker store            [postgresql://postgres@127.0.0.1:5432/supportline]
#   CLUSTER_STATE_DIR                 logs, configs, started Redis    [var/cluster]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"

CLUSTER_HOST="${CLUSTER_HOST:-127.0.0.1}"
CLUSTER_PORT="${CLUSTER_PORT:-8080}"
CLUSTER_BRIDGE_PORTS="${CLUSTER_BRIDGE_PORTS:-8081,8082}"
CLUSTER_RASA_PORTS="${CLUSTER_RASA_PORTS:-5005,5006}"
CLUSTER_ACTIONS_PORT="${CLUSTER_ACTIONS_PORT:-5055}"
CLUSTER_REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}"
CLUSTER_DATABASE_URL="${CLUSTER_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/supportline}"
CLUSTER_STATE_DIR="$(mkdir -p "${CLUSTER_STATE_DIR:-var/cluster}" && cd "${CLUSTER_STATE_DIR:-var/cluster}" && pwd)"
IFS=, read -r -a bridge_ports <<<"$CLUSTER_BRIDGE_PORTS"
IFS=, read -r -a rasa_ports <<<"$CLUSTER_RASA_PORTS"

bash scripts/setup.sh
bash scripts/train.sh
bash scripts/cluster-services.sh "$CLUSTER_REDIS_URL" "$CLUSTER_DATABASE_URL" "$CLUSTER_STATE_DIR"

# The Redis server to start ourselves, if cluster-services.sh found none answering.
redis_cmd=""
[[ -f "$CLUSTER_STATE_DIR/redis.cmd" ]] && redis_cmd="$(cat "$CLUSTER_STATE_DIR/redis.cmd")"

ensure_run_secrets
export HANDOFF_AGENTS_FILE="${HANDOFF_AGENTS_FILE:-var/agents.yml}"

# Rasa: one endpoints file for both servers (PostgreSQL tracker store, Redis lock store).
ACTION_ENDPOINT_URL="http://127.0.0.1:$CLUSTER_ACTIONS_PORT/webhook" \
TRACKER_STORE_URL="$CLUSTER_DATABASE_URL" LOCK_STORE_URL="$CLUSTER_REDIS_URL" \
  "$RASA_VENV/bin/python" -m bot.endpoints --out "$CLUSTER_STATE_DIR/endpoints.yml"

rasa_urls=""
for port in "${rasa_ports[@]}"; do rasa_urls+="${rasa_urls:+,}http://127.0.0.1:$port"; done
# The bridges: one Redis for state and Socket.IO emits, every Rasa server, behind nginx.
export HANDOFF_STORE_URL="$CLUSTER_REDIS_URL" HANDOFF_RASA_URL="$rasa_urls" \
       HANDOFF_RASA_TOKEN="$RASA_TOKEN" HANDOFF_TRUST_PROXY=true HANDOFF_HOST=127.0.0.1
# A dead Rasa server's lock ticket frees its conversation after this many seconds
# (Rasa's default is 60); must stay below the bridge's Rasa timeout.
export TICKET_LOCK_LIFETIME="${TICKET_LOCK_LIFETIME:-5}"

# nginx: the configuration from deploy/, with this run's addresses.
nginx_dir="$CLUSTER_STATE_DIR/nginx"
mkdir -p "$nginx_dir"
servers=""
for port in "${bridge_ports[@]}"; do servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;\n"; done
sed -e "s|@PREFIX@|$nginx_dir|g" -e "s|@LISTEN@|$CLUSTER_HOST:$CLUSTER_PORT|g" \
    -e "s|@BRIDGE_SERVERS@|${servers%\\n}|" deploy/nginx-cluster.conf > "$nginx_dir/nginx.conf"
nginx -t -q -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -g 'daemon off;'

credentials="$(demo_credentials "$HANDOFF_AGENTS_FILE")"

# supervisord runs every process, restarts one that dies (the others keep serving), and
# stops them all on Ctrl-C / SIGTERM. `supervisorctl -c $conf status|restart rasa1` from
# another shell; docs/deploy.md.
conf="$CLUSTER_STATE_DIR/supervisord.conf"
mkdir -p "$CLUSTER_STATE_DIR/logs"
program() {  # name priority command...
  local name="$1" priority="$2"; shift 2
  cat <<INI

[program:$name]
command=$*
directory=$PROJECT_ROOT
priority=$priority
autorestart=true
startsecs=1
startretries=10
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile=$CLUSTER_STATE_DIR/logs/$name.log
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
INI
}
{
  cat <<INI
[supervisord]
nodaemon=true
logfile=$CLUSTER_STATE_DIR/supervisord.log
pidfile=$CLUSTER_STATE_DIR/supervisord.pid
childlogdir=$CLUSTER_STATE_DIR/logs

[unix_http_server]
file=$CLUSTER_STATE_DIR/supervisor.sock
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$CLUSTER_STATE_DIR/supervisor.sock
INI
  [[ -n "$redis_cmd" ]] && program redis 10 "$redis_cmd"
  program actions 20 "$RASA_VENV/bin/rasa" run actions --actions actions -p "$CLUSTER_ACTIONS_PORT"
  i=1
  for port in "${rasa_ports[@]}"; do
    program "rasa$i" 30 "$RASA_VENV/bin/rasa" run --enable-api "--auth-token=%(ENV_RASA_TOKEN)s" -i 127.0.0.1 \
      -p "$port" -m models/supportline.tar.gz --endpoints "$CLUSTER_STATE_DIR/endpoints.yml"
    i=$((i + 1))
  done
  # a Redis started here may take a moment: the bridges refuse to start without one
  wait_redis=""
  [[ -n "$redis_cmd" ]] && wait_redis="$BRIDGE_VENV/bin/python scripts/wait_for.py $(cat "$CLUSTER_STATE_DIR/redis.addr") 30 && "
  i=1
  for port in "${bridge_ports[@]}"; do
    program "bridge$i" 40 /bin/sh -c "\"${wait_redis}HANDOFF_PORT=$port exec $BRIDGE_VENV/bin/python -m handoff\""
    i=$((i + 1))
  done
  program nginx 50 nginx -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -g "\"daemon off;\""
} > "$conf"

base="http://$CLUSTER_HOST:$CLUSTER_PORT"
announce() {
  local port ready
  for _ in $(seq 1 600); do
    ready=1
    for port in "${bridge_ports[@]}"; do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || ready=0
    done
    for port in "${rasa_ports[@]}"; do
      curl -fsS "http://127.0.0.1:$port/status?token=$RASA_TOKEN" 2>/dev/null | grep -q '"model_file"' || ready=0
    done
    curl -fsS "$base/healthz" >/dev/null 2>&1 || ready=0
    if [[ $ready -eq 1 ]]; then
      cat <<MSG

==========================================================================
 Trailhead Supply Co. support is running as a cluster.
   Visitor widget (demo shop):  $base/
   Agent console:               $base/console/
 nginx $CLUSTER_HOST:$CLUSTER_PORT -> bridges on ${CLUSTER_BRIDGE_PORTS}
 Rasa servers on ${CLUSTER_RASA_PORTS}, action server on $CLUSTER_ACTIONS_PORT
 Redis: $CLUSTER_REDIS_URL   PostgreSQL: $CLUSTER_DATABASE_URL
 Logs: $CLUSTER_STATE_DIR/logs   Control: $BRIDGE_VENV/bin/supervisorctl -c $conf status
MSG
      [[ -n "$credentials" ]] && printf ' Demo agent accounts (username / password):\n%s\n' "$credentials"
      echo " Press Ctrl-C to stop."
      echo "=========================================================================="
      return
    fi
    sleep 1
  done
  echo "warning: the cluster did not become ready within 600 s; see the log above" >&2
}
announce &
exec "$BRIDGE_VENV/bin/supervisord" -c "$conf"

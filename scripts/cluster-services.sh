#!/usr/bin/env bash
# The engines the cluster profile runs on, made ready (called by scripts/cluster.sh):
#   cluster-services.sh REDIS_URL DATABASE_URL STATE_DIR
# - nginx: installed from Debian's packages when missing;
# - Redis: when nothing answers at REDIS_URL (on this machine), writes the command that
#   starts one into STATE_DIR/redis.cmd (cluster.sh runs it beside the other processes,
#   so it stops with them); redis-server is installed when missing;
# - PostgreSQL: installed and started when nothing listens; the database is created
#   when missing and Rasa's tables made once, so that two Rasa servers starting at the
#   same time do not race to create them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
redis_url="$1" database_url="$2" state_dir="$3"

url_part() {  # url field: host | port | password | path
  "$BRIDGE_VENV/bin/python" -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print({"host": u.hostname or "127.0.0.1", "port": u.port or {"redis": 6379, "rediss": 6379}.get(u.scheme, 5432),
       "password": urllib.parse.unquote(u.password or ""), "path": u.path.lstrip("/")}[sys.argv[2]])' "$1" "$2"
}
is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }

command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || apt_install nginx

rm -f "$state_dir/redis.cmd" "$state_dir/redis.addr"
if ! "$BRIDGE_VENV/bin/python" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping()' "$redis_url" 2>/dev/null; then
  host="$(url_part "$redis_url" host)" port="$(url_part "$redis_url" port)" password="$(url_part "$redis_url" password)"
  is_local "$host" || die "Redis at $host:$port does not answer (CLUSTER_REDIS_URL)"
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$state_dir/redis"
  say "no Redis at $host:$port: starting one with the cluster (data in $state_dir/redis)"
  cmd="redis-server --bind 127.0.0.1 --port $port --dir $state_dir/redis --save '' --appendonly yes"
  [[ -n "$password" ]] && cmd+=" --requirepass '$password'"
  echo "$cmd" > "$state_dir/redis.cmd"
  echo "127.0.0.1:$port" > "$state_dir/redis.addr"
fi

db_host="$(url_part "$database_url" host)" db_port="$(url_part "$database_url" port)"
if ! (exec 3<>"/dev/tcp/$db_host/$db_port") 2>/dev/null; then
  is_local "$db_host" || die "PostgreSQL at $db_host:$db_port does not answer (CLUSTER_DATABASE_URL)"
  ensure_local_postgresql "$db_port"
fi

# The database and Rasa's tables (the SQL tracker store makes them when it is built).
TRACKER_STORE_URL="$database_url" "$RASA_VENV/bin/python" - <<'PY'
import os
import psycopg2
from psycopg2 import sql

from bot.endpoints import tracker_store_settings

settings = tracker_store_settings(os.environ["TRACKER_STORE_URL"])
login = dict(host=settings["url"], port=settings["port"], user=settings.get("username"),
             password=settings.get("password"), dbname="postgres")
connection = psycopg2.connect(**login)
connection.autocommit = True   # CREATE DATABASE cannot run in a transaction
try:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings["db"],))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings["db"])))
            print(f"created database {settings['db']}")
finally:
    connection.close()

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402 - slow import, only when needed

SQLTrackerStore(dialect="postgresql", host=settings["url"], port=settings["port"], db=settings["db"],
                username=settings.get("username"), password=settings.get("password"))
PY

# Sourced by the other scripts: where things live, and helpers to install what is
# missing. No side effects beyond variables and functions.
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUPPORTLINE_CACHE="${SUPPORTLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/supportline}"
UV_VERSION="0.13.8"
UV="$SUPPORTLINE_CACHE/tools/bin/uv"
lock_hash() { sha256sum "$1" | cut -c1-12; }
RASA_VENV="$SUPPORTLINE_CACHE/venvs/rasa-$(lock_hash "$PROJECT_ROOT/requirements/rasa.lock")"
BRIDGE_VENV="$SUPPORTLINE_CACHE/venvs/bridge-$(lock_hash "$PROJECT_ROOT/requirements/bridge.lock")"
export PROJECT_ROOT SUPPORTLINE_CACHE RASA_VENV BRIDGE_VENV
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The Python 3.10 that Rasa 3.6 needs: on PATH, under pyenv (its shim may not
# point at 3.10), or in the system locations.
find_python310() {
  local c p
  for c in python3.10 "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/"3.10*/bin/python3.10)" \
           "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    for p in $c; do
      if [[ -n "$p" ]] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
        command -v "$p" 2>/dev/null || echo "$p"; return 0
      fi
    done
  done
  return 1
}

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "please install: $* (no apt-get here)"
  if [[ $apt_updated -eq 0 ]]; then say "apt-get update"; as_root apt-get update -qq; apt_updated=1; fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL on this machine: installed from Debian's packages when missing, then started
# when nothing listens on 127.0.0.1:PORT (default 5432). A server installed here lets the
# postgres role in over loopback without a password, as the tests and the cluster
# profile connect (postgresql://postgres@127.0.0.1:5432).
ensure_local_postgresql() {
  local port="${1:-5432}" hba version
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
    hba="$(ls /etc/postgresql/*/main/pg_hba.conf | sort -V | tail -n 1)"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main reload >/dev/null 2>&1 || true
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 1; done
  die "PostgreSQL did not start on 127.0.0.1:$port"
}

# The run's secrets, made once in var/ (mode 600) and exported unless already set:
# RASA_TOKEN (Rasa's --auth-token, handed to the bridges) and HANDOFF_SECRET (agent tokens).
ensure_run_secrets() {
  mkdir -p "$PROJECT_ROOT/var"
  local token="$PROJECT_ROOT/var/rasa-token" secret="$PROJECT_ROOT/var/bridge-secret"
  [[ -f "$token" ]] || (umask 077; "$BRIDGE_VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' > "$token")
  [[ -f "$secret" ]] || (umask 077; "$BRIDGE_VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$secret")
  export RASA_TOKEN="${RASA_TOKEN:-$(cat "$token")}"
  export HANDOFF_SECRET="${HANDOFF_SECRET:-$(cat "$secret")}"
}

# The demo agent accounts created when the agents file AGENTS does not exist yet, as
# "    user / password" lines (nothing when it exists: its passwords are not known).
demo_credentials() {
  "$BRIDGE_VENV/bin/python" -c '
import sys
from handoff.agents import ensure_demo_agents
for user, password in ensure_demo_agents(sys.argv[1]):
    print(f"    {user} / {password}")
' "$1"
}

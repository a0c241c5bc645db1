#!/usr/bin/env bash
# Installs what the project needs, idempotently:
#   setup.sh            Python environments (bot: Python 3.10 + Rasa; bridge: current Python)
#   setup.sh --test     also Chromium, nginx, and the Redis and PostgreSQL servers the tests use
# Environments live in $SUPPORTLINE_CACHE/venvs, named by the hash of their lock file,
# so a changed lock file makes a new environment and an unchanged one is reused.
set -euo pipefail
source "$(dirname "$0")/env.sh"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

find_bridge_python() {
  local p
  for p in python3.13 python3.12 python3.11 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
      command -v "$p"; return 0
    fi
  done
  return 1
}

ensure_uv() {
  [[ -x "$UV" ]] && "$UV" --version 2>/dev/null | grep -q "$UV_VERSION" && return 0
  say "installing uv $UV_VERSION (package installer) into $SUPPORTLINE_CACHE/tools"
  local py; py="$(find_bridge_python)" || die "no Python >= 3.11 found"
  "$py" -m venv "$SUPPORTLINE_CACHE/tools"
  "$SUPPORTLINE_CACHE/tools/bin/pip" install -q "uv==$UV_VERSION"
}

ensure_venv() {  # name python lockfile dir
  local dir="$4" py="$2" lock="$3"
  if [[ -f "$dir/.complete" ]]; then return 0; fi
  say "creating the $1 environment in $dir"
  rm -rf "$dir"
  "$UV" venv -q -p "$py" "$dir"
  VIRTUAL_ENV="$dir" "$UV" pip sync -q "$lock"
  touch "$dir/.complete"
}

mkdir -p "$SUPPORTLINE_CACHE/venvs"
ensure_uv
py310="$(find_python310)" || die "Rasa 3.6 needs Python 3.10 (not found as python3.10, under pyenv, or in /usr/bin); install it, e.g. 'pyenv install 3.10'"
ensure_venv bot "$py310" "$PROJECT_ROOT/requirements/rasa.lock" "$RASA_VENV"
ensure_venv bridge "$(find_bridge_python)" "$PROJECT_ROOT/requirements/bridge.lock" "$BRIDGE_VENV"
ln -sfn "$RASA_VENV" "$PROJECT_ROOT/.venv-rasa"
ln -sfn "$BRIDGE_VENV" "$PROJECT_ROOT/.venv-bridge"

if [[ $want_test -eq 1 ]]; then
  command -v chromium >/dev/null || apt_install chromium
  command -v redis-server >/dev/null || apt_install redis-server
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || apt_install nginx   # the cluster profile's tests
  ensure_local_postgresql 5432
fi

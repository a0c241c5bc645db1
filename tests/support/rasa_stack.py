"""Start the real Rasa server and action server for tests, and stop them again.

STANDARD LIBRARY ONLY: the bridge's tests (another Python environment) import it
too. The servers run from the Rasa environment at PROJECT_ROOT/.venv-rasa, with
the trained model models/supportline.tar.gz, on free loopback ports, with a
tracker store in a throwaway SQLite file.

    with RasaStack() as (rasa_url, token):
        POST f"{rasa_url}/webhooks/rest/webhook?token={token}" ...

A missing model or environment raises RuntimeError (tests fail, never skip).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.designer.ship import http_json
from tests.support.processes import PROJECT_ROOT, free_port, stop, wait_for_port

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
MODEL_PATH = PROJECT_ROOT / "models" / "supportline.tar.gz"


class RasaStack:
    """The action server plus ``rasa run --enable-api`` with a token, as one unit.

    ``model`` and ``endpoints_env`` (TRACKER_STORE_URL, LOCK_STORE_URL ... passed
    to ``python -m bot.endpoints``) may be overridden; by default the tracker store
    is a fresh SQLite file in a temporary directory.
    """

    def __init__(self, *, model: Path | str | None = None, token: str | None = None,
                 endpoints_env: dict[str, str] | None = None, start_timeout: float = 240):
        self.model = Path(model) if model else MODEL_PATH
        self.token = token or secrets.token_hex(16)
        self.endpoints_env = dict(endpoints_env or {})
        self.start_timeout = start_timeout
        self.rasa_port = free_port()
        self.action_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rasa-stack-"))
        self.action_proc: subprocess.Popen | None = None
        self.rasa_proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def _bin(self, name: str) -> str:
        path = RASA_VENV / "bin" / name
        if not path.exists():
            raise RuntimeError(f"{path} is missing: run 'bash scripts/setup.sh' first")
        return str(path)

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen:
        log = open(self.dir / log_name, "wb")
        try:
            return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def log(self, name: str = "rasa.log", tail: int = 4000) -> str:
        """The end of a server's log (rasa.log or actions.log), for failure messages."""
        path = self.dir / name
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def start(self) -> "RasaStack":
        if not self.model.is_file():
            raise RuntimeError(f"trained model not found at {self.model}: run "
                               "'bash scripts/train.sh' first")
        python = self._bin("python")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        ep_env = {**env, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.action_port}/webhook",
                  "TRACKER_STORE_URL": f"sqlite:///{self.dir / 'tracker.db'}",
                  **self.endpoints_env}
        endpoints_file = self.dir / "endpoints.yml"
        subprocess.run([python, "-m", "bot.endpoints", "--out", str(endpoints_file)],
                       cwd=PROJECT_ROOT, env=ep_env, check=True, capture_output=True)
        try:
            self.action_proc = self._spawn(
                [self._bin("rasa"), "run", "actions", "--actions", "actions",
                 "-p", str(self.action_port)], "actions.log", env)
            self.rasa_proc = self._spawn(
                [self._bin("rasa"), "run", "--enable-api", f"--auth-token={self.token}",
                 "-i", "127.0.0.1", "-p", str(self.rasa_port), "--endpoints", str(endpoints_file),
                 "-m", str(self.model)], "rasa.log", env)
            wait_for_port(self.action_port, self.start_timeout, self.action_proc)
            self._wait_for_model()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_model(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.rasa_proc is not None and self.rasa_proc.poll() is not None:
                raise RuntimeError(f"rasa exited with {self.rasa_proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/status?token={self.token}",
                                            timeout=2) as response:
                    status = json.load(response)
                if status.get("model_file") or status.get("model_id"):
                    return
            except (OSError, ValueError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"rasa did not load the model within {self.start_timeout}s:\n"
                           f"{self.log()}")

    def stop(self) -> None:
        for proc in (self.rasa_proc, self.action_proc):
            if proc is not None:
                stop(proc)

    def __enter__(self) -> tuple[str, str]:
        self.start()
        return self.url, self.token

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


request = http_json

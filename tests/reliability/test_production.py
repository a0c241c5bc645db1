"""Production settings (docs/reliability.md, "Production settings"): Redis with a
password; the bridge works with the credentials and refuses to start without them or
with wrong ones, saying why; prod mode refuses to start without a token secret.
(Rasa's HTTP API refusing calls without its token: tests/bot/test_e2e.py::
test_the_api_refuses_requests_without_the_token.)"""
from __future__ import annotations

import os
import subprocess
import sys

from tests.reliability.conftest import SECRET
from tests.reliability.harness import BridgeProcess, ResilientVisitor, http, until
from tests.support.processes import PROJECT_ROOT, RedisServer, free_port

PASSWORD = "s3cret-redis-pw"


def run_briefly(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    """Start `python -m handoff`; it is expected to exit by itself (refusing to start)."""
    return subprocess.run([sys.executable, "-m", "handoff"], cwd=PROJECT_ROOT, timeout=timeout,
                          env={**os.environ, **env, "HANDOFF_PORT": str(free_port())},
                          capture_output=True, text=True)


async def test_bridge_on_a_password_protected_redis(bridge_env, bridges, fake_rasa, tmp_path):
    with RedisServer(password=PASSWORD) as redis:
        assert f":{PASSWORD}@" in redis.url
        a, b = await bridges(bridge_env(redis.url, HANDOFF_ENVIRONMENT="prod"), 2)
        visitor = ResilientVisitor(a.url, "v")
        tab = ResilientVisitor(b.url, "tab")
        try:
            sid = await visitor.start()
            await visitor.send("hello")
            await until(lambda: any(m.get("text") == "echo: hello" for m in visitor.shown.values()), 5, "answered")
            tab.session_id = sid
            await tab.start()          # the other process sees the same conversation through Redis
            assert tab.session_id == sid and "hello" in tab.shown_visitor_texts()
            status, body = await http("GET", f"{a.url}/readyz")
            assert status == 200 and body["store"] is True
        finally:
            await visitor.close()
            await tab.close()
        no_auth = redis.url.replace(f":{PASSWORD}@", "")
        wrong = redis.url.replace(PASSWORD, "wrong-password")
        for url in (no_auth, wrong):
            result = run_briefly(bridge_env(url, HANDOFF_ENVIRONMENT="prod"))
            out = result.stdout + result.stderr
            assert result.returncode != 0, out[-2000:]
            assert "NOAUTH" in out or "Authentication" in out or "WRONGPASS" in out or "invalid" in out.lower(), \
                out[-2000:]
            assert PASSWORD not in out


def test_prod_refuses_to_start_without_a_secret(bridge_env):
    env = bridge_env("", HANDOFF_ENVIRONMENT="prod", HANDOFF_SECRET="")
    result = run_briefly(env)
    assert result.returncode == 2
    assert "HANDOFF_SECRET must be set" in result.stdout + result.stderr


def test_an_invalid_setting_stops_the_start_with_a_clear_message(bridge_env):
    result = run_briefly(bridge_env("", HANDOFF_RASA_URL="http://127.0.0.1:5005,ftp://rasa-2"))
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert "invalid settings" in out and "HANDOFF_RASA_URL" in out and "ftp://rasa-2" in out
    assert "Traceback" not in out


async def test_the_bridge_runs_on_either_event_loop(bridge_env, bridges, fake_rasa):
    for loop in ("uvloop", "asyncio"):
        (bridge,) = await bridges(bridge_env("", HANDOFF_EVENT_LOOP=loop), 1)
        visitor = ResilientVisitor(bridge.url, loop)
        try:
            await visitor.start()
            await visitor.send("hello")
            await until(lambda: any(m.get("text") == "echo: hello" for m in visitor.shown.values()), 5, "answered")
        finally:
            await visitor.close()
        assert f"{loop} event loop" in bridge.log_path.read_text()

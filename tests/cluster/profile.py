"""The cluster profile under test, started the way users start it: `bash scripts/cluster.sh`
(what `make cluster` runs), on free ports, with a Redis it must start itself (nothing
answers on the port it is given) and a fresh PostgreSQL database; stopped with SIGTERM,
which must stop every process it started.

Clients choose the bridge nginx sends them to by their source address (nginx hashes the
client address; every 127.x.y.z is this machine), read from the X-Handoff-Upstream
header nginx adds.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp

from handoff.agents import add_agent
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import FAST_HASHER, PASSWORDS
from tests.support.processes import PROJECT_ROOT, free_port

START_TIMEOUT_S = 900
QUIET_LIMITS = {"HANDOFF_RATE_SESSION_MESSAGES": "100000", "HANDOFF_RATE_IP_MESSAGES": "1000000",
                "HANDOFF_RATE_IP_SESSIONS": "100000", "HANDOFF_RATE_LOGIN_ATTEMPTS": "100000"}


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-c", sql], check=True, capture_output=True, timeout=60)


@dataclass
class Cluster:
    """A running cluster profile and what tests need to reach its parts."""

    proc: subprocess.Popen
    state_dir: Path
    url: str
    bridge_ports: list[int]
    rasa_ports: list[int]
    rasa_token: str
    output: list[str] = field(default_factory=list)

    @property
    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def log(self, name: str, tail: int = 3000) -> str:
        path = self.state_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def ctl(self, *args: str) -> str:
        """supervisorctl on this cluster (status, stop rasa1, pid rasa1, ...)."""
        result = subprocess.run([str(PROJECT_ROOT / ".venv-bridge" / "bin" / "supervisorctl"),
                                 "-c", str(self.state_dir / "supervisord.conf"), *args],
                                capture_output=True, text=True, timeout=60)
        return result.stdout.strip()

    def stop(self) -> None:
        """SIGTERM to supervisord, which stops every process of the cluster."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def upstream_of(self, source_ip: str) -> str:
        """The bridge (host:port) nginx sends a client from this address to."""
        with _opener_from(source_ip).open(self.url + "/healthz", timeout=10) as response:
            return response.headers["X-Handoff-Upstream"]

    def sources_by_bridge(self) -> dict[str, list[str]]:
        """Source addresses grouped by the bridge they land on (a few of each)."""
        found: dict[str, list[str]] = {}
        for last in range(2, 60):
            ip = f"127.0.0.{last}"
            found.setdefault(self.upstream_of(ip), []).append(ip)
            if len(found) == len(self.bridge_ports) and all(len(v) >= 3 for v in found.values()):
                break
        return found


def _opener_from(source_ip: str) -> urllib.request.OpenerDirector:
    """A urllib opener whose connections come from source_ip."""
    class Connection(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "source_address": (source_ip, 0)})

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    return urllib.request.build_opener(Handler())


def http_session_from(source_ip: str) -> aiohttp.ClientSession:
    """An aiohttp session whose connections come from source_ip."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source_ip, 0)))


def visitor_from(cluster: Cluster, source_ip: str) -> Visitor:
    """A visitor tab connecting through nginx from source_ip."""
    visitor = Visitor(cluster.url)
    visitor.sio.eio.http = http_session_from(source_ip)
    return visitor


async def agent_from(cluster: Cluster, source_ip: str, username: str,
                     transports: list[str] | None = None) -> Agent:
    """An agent console logged in and connected through nginx from source_ip."""
    async with http_session_from(source_ip) as session:
        async with session.post(cluster.url + "/api/agent/login",
                                json={"username": username, "password": PASSWORDS[username]}) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["token"]
    agent = Agent(None, token)   # connected here, through nginx (Agent.login needs a BridgeServer)
    agent.sio.eio.http = http_session_from(source_ip)
    await agent.sio.connect(cluster.url, namespaces=["/agent"], auth={"token": token},
                            transports=transports or ["websocket"], wait_timeout=10)
    await agent.rec.next("queue", timeout=10)
    return agent


def _drain(proc: subprocess.Popen, sink: list[str]) -> None:
    """Keep reading the cluster's output so that it never blocks on a full pipe."""
    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.append(line)

    threading.Thread(target=pump, daemon=True).start()


def listening(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll predicate until it holds; AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def rasa_pid(cluster: Cluster, name: str) -> int:
    """The pid supervisord reports for one of its programs."""
    match = re.search(r"\d+", cluster.ctl("pid", name))
    assert match, cluster.ctl("status")
    return int(match.group())


@contextlib.contextmanager
def running_cluster(state_dir: Path) -> Iterator[Cluster]:
    """Start the cluster profile in state_dir; stop it and drop its database on exit."""
    database = f"cluster_{uuid.uuid4().hex[:12]}"
    agents = state_dir / "agents.yml"
    add_agent(agents, "alice", name="Alice", teams=["billing", "orders", "general"], capacity=5,
              password=PASSWORDS["alice"], hasher=FAST_HASHER)
    add_agent(agents, "bob", name="Bob", teams=["technical", "account", "general"], capacity=5,
              password=PASSWORDS["bob"], hasher=FAST_HASHER)
    ports = {"CLUSTER_PORT": free_port(), "bridges": [free_port(), free_port()],
             "rasa": [free_port(), free_port()], "actions": free_port(), "redis": free_port()}
    token = uuid.uuid4().hex
    env = {**os.environ, **QUIET_LIMITS,
           "CLUSTER_PORT": str(ports["CLUSTER_PORT"]),
           "CLUSTER_BRIDGE_PORTS": ",".join(map(str, ports["bridges"])),
           "CLUSTER_RASA_PORTS": ",".join(map(str, ports["rasa"])),
           "CLUSTER_ACTIONS_PORT": str(ports["actions"]),
           "CLUSTER_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
           "CLUSTER_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
           "CLUSTER_STATE_DIR": str(state_dir),
           "HANDOFF_AGENTS_FILE": str(agents), "HANDOFF_SECRET": "cluster-secret-" + "c" * 40,
           "HANDOFF_RASA_TIMEOUT_S": "20", "RASA_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["bash", "scripts/cluster.sh"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    running = Cluster(proc=proc, state_dir=state_dir, url=f"http://127.0.0.1:{ports['CLUSTER_PORT']}",
                      bridge_ports=ports["bridges"], rasa_ports=ports["rasa"], rasa_token=token)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert proc.stdout is not None
        for line in proc.stdout:
            running.output.append(line)
            if "support is running as a cluster" in line or time.monotonic() > deadline:
                break
        assert any("running as a cluster" in line for line in running.output), \
            "".join(running.output[-60:]) + running.log("bridge1") + running.log("rasa1")
        _drain(proc, running.output)
        yield running
    finally:
        running.stop()
        try:
            _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except subprocess.CalledProcessError:
            pass

"""Processes the benchmarks start (bridge environment): the bridge (`python -m handoff`,
a process of its own, as in production), a fake Rasa process, and CPU/RSS readings of
any of them through psutil. Everything listens on 127.0.0.1, on free ports."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import BRIDGE_VENV, PROJECT_ROOT
from tests.support.processes import free_port, stop, wait_for_port

# Rate limits are part of the bridge's abuse protection; every benchmark client comes
# from 127.0.0.1, so the per-IP limits are lifted (and said so in docs/benchmarks.md).
UNLIMITED = {
    "HANDOFF_RATE_SESSION_MESSAGES": "1000000000",
    "HANDOFF_RATE_IP_MESSAGES": "1000000000",
    "HANDOFF_RATE_IP_SESSIONS": "1000000000",
    "HANDOFF_RATE_LOGIN_ATTEMPTS": "1000000000",
}


def _python() -> str:
    exe = BRIDGE_VENV / "bin" / "python"
    return str(exe) if exe.exists() else sys.executable


class Proc:
    """A started child process (own process group) with a log file and psutil handle."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, name: str, logdir: Path,
                 start_timeout: float = 60):
        self.name = name
        self.port = port
        self.log_path = logdir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(port, start_timeout, self.popen)
        except BaseException:
            stop(self.popen)
            raise RuntimeError(f"{name} did not start:\n{self.log()}")
        self.ps = psutil.Process(self.popen.pid)

    def log(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 1024 / 1024

    def num_fds(self) -> int:
        return self.ps.num_fds()

    def stop(self, timeout: float = 10) -> None:
        stop(self.popen, timeout)


def start_bridge(logdir: Path, *, rasa_url: str, rasa_token: str, store_url: str = "",
                 agents_file: str | None = None, name: str = "bridge",
                 extra: dict[str, str] | None = None, profile_to: Path | None = None) -> Proc:
    """`python -m handoff` on a free port with the given Rasa and store (under cProfile,
    written to `profile_to` when the process is stopped, if given)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **UNLIMITED,
           "HANDOFF_HOST": "127.0.0.1", "HANDOFF_PORT": str(port),
           "HANDOFF_RASA_URL": rasa_url, "HANDOFF_RASA_TOKEN": rasa_token,
           "HANDOFF_STORE_URL": store_url, "HANDOFF_SECRET": "bench-secret-" + "x" * 40,
           "HANDOFF_AGENTS_FILE": agents_file or str(logdir / "no-agents.yml"),
           "HANDOFF_LOG_LEVEL": "WARNING", **(extra or {})}
    args = [_python(), "-c", _BRIDGE_MAIN if profile_to is None else _BRIDGE_PROFILED.format(path=str(profile_to))]
    return Proc(args, env, port, name, logdir)


# `python -m handoff` with the open-files limit raised first (10,000 sockets need it).
_BRIDGE_MAIN = (
    "import resource, sys\n"
    "s, h = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (h, h))\n"
    "from handoff.__main__ import main\n"
    "sys.exit(main())\n")

# The same under cProfile, counting CPU time of the process (not wall time: on a loaded
# machine a send() that wakes the peer often "takes" the peer's time slice). SIGUSR1 writes
# the stats and ends the process at once (a graceful shutdown may take long).
_BRIDGE_PROFILED = (
    "import cProfile, os, resource, signal, sys, time\n"
    "s, h = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (h, h))\n"
    "from handoff.__main__ import main\n"
    "prof = cProfile.Profile(time.process_time)\n"
    "def dump(*_):\n"
    "    prof.disable()\n"
    "    prof.dump_stats({path!r} + '.tmp')\n"
    "    os.replace({path!r} + '.tmp', {path!r})\n"
    "    os._exit(0)\n"
    "signal.signal(signal.SIGUSR1, dump)\n"
    "prof.enable()\n"
    "main()\n"
    "dump()\n")


def start_fake_rasa(logdir: Path, token: str = "bench-fake-token") -> Proc:
    """tests/support/fake_rasa.py in a process of its own (bench/fake_rasa_server.py):
    echoes, and answers "human please" with a reply + the handoff payload."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [_python(), str(PROJECT_ROOT / "bench" / "fake_rasa_server.py"), "--port", str(port),
            "--token", token]
    return Proc(args, env, port, "fake-rasa", logdir)


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


class CpuMeter:
    """CPU seconds used by some processes between start() and stop()."""

    def __init__(self, procs: dict[str, Any]):
        self.procs = {k: v for k, v in procs.items() if v is not None}
        self.t0: dict[str, float] = {}
        self.w0 = 0.0

    @staticmethod
    def _cpu(p: Any) -> float:
        if isinstance(p, Proc):
            return p.cpu_s()
        t = p.cpu_times()
        return t.user + t.system

    def start(self) -> "CpuMeter":
        self.w0 = time.monotonic()
        self.t0 = {k: self._cpu(p) for k, p in self.procs.items()}
        return self

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.w0
        return {**{k: round(self._cpu(p) - self.t0[k], 3) for k, p in self.procs.items()},
                "wall_s": round(wall, 3)}


def rasa_call_totals(bridge_url: str) -> dict[str, tuple[float, int]]:
    """(seconds, calls) per Rasa endpoint as the bridge measured them (GET /metrics:
    handoff_rasa_latency_seconds_sum / _count). Diff two readings for a time span."""
    import urllib.request
    with urllib.request.urlopen(bridge_url + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("handoff_rasa_latency_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        endpoint = name.split('endpoint="', 1)[1].split('"', 1)[0] if 'endpoint="' in name else ""
        if name.startswith("handoff_rasa_latency_seconds_sum"):
            sums[endpoint] = float(value)
        elif name.startswith("handoff_rasa_latency_seconds_count"):
            counts[endpoint] = int(float(value))
    return {k: (sums.get(k, 0.0), counts.get(k, 0)) for k in set(sums) | set(counts)}


def rasa_call_means(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]]) -> dict[str, Any]:
    """Mean ms and calls per endpoint between two rasa_call_totals readings."""
    out = {}
    for k, (s, c) in after.items():
        s0, c0 = before.get(k, (0.0, 0))
        if c - c0 > 0:
            out[k] = {"calls": c - c0, "mean_ms": round((s - s0) / (c - c0) * 1000, 3)}
    return out

"""Shared helpers of the performance benchmarks (bench/latency.py, bench/turn_cost.py,
bench/capacity.py, bench/report.py).

STANDARD LIBRARY ONLY: imported from the bridge environment (.venv-bridge, Python 3.11)
and from the Rasa environment (.venv-rasa, Python 3.10).

- statistics: `summary(values)` -> {n, p50, p90, p99, mean, min, max} (milliseconds in, out)
- the machine and its load, recorded in every result file (`machine()`)
- `write_result(name, data)` -> bench/results/<name>.json (quick runs go elsewhere)
- `print_table(headers, rows)`: the table every benchmark prints
- `cached_model(config)`: a model trained on data/ + domain.yml with that config, cached
  under var/bench/models/<hash of data, domain, config, Rasa version>.tar.gz
- `raise_nofile()`: raise the soft open-files limit to the hard one
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
CACHE_DIR = PROJECT_ROOT / "var" / "bench"
RASA_VENV = PROJECT_ROOT / ".venv-rasa"
BRIDGE_VENV = PROJECT_ROOT / ".venv-bridge"
OUR_CONFIG = PROJECT_ROOT / "config.yml"
DEFAULT_CONFIG = PROJECT_ROOT / "bench" / "configs" / "rasa_default.yml"
OUR_MODEL = PROJECT_ROOT / "models" / "supportline.tar.gz"

# The conversation every bot benchmark sends, in a cycle: 10 intents, one reply each,
# greetings and small talk (responses), knowledge-base answers and a product question
# (custom actions on the action server); no intent twice in a row, nothing that escalates.
MESSAGES = [
    "hello there", "what are your opening hours", "thank you", "which payment methods do you accept",
    "are you a bot", "how long does shipping take", "how do I reset my password",
    "is the trail jacket in stock", "can I get an invoice for my purchase", "do you have any discount codes",
]

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


# ---------------------------------------------------------------------------- numbers

def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summary(values: Iterable[float]) -> dict[str, Any]:
    """n, p50, p90, p99, mean, min, max of a list of numbers (rounded to 3 decimals)."""
    v = sorted(float(x) for x in values)
    if not v:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "mean": None, "min": None, "max": None}
    r = lambda x: round(x, 3)  # noqa: E731
    return {"n": len(v), "p50": r(percentile(v, 50)), "p90": r(percentile(v, 90)),
            "p99": r(percentile(v, 99)), "mean": r(sum(v) / len(v)), "min": r(v[0]), "max": r(v[-1])}


def median(values: Iterable[float]) -> float | None:
    v = sorted(values)
    if not v:
        return None
    mid = len(v) // 2
    return float(v[mid]) if len(v) % 2 else (v[mid - 1] + v[mid]) / 2.0


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


# ---------------------------------------------------------------------------- machine

def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, load, Python, kernel."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "loadavg": loadavg(),
            "python": platform.python_version(), "kernel": platform.release(),
            "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8]}


class Run:
    """Start/finish times and the load average at both ends, for a result file."""

    def __init__(self, name: str, quick: bool, argv: list[str] | None = None):
        self.name = name
        self.quick = quick
        self.started = utcnow()
        self.t0 = time.monotonic()
        self.load_start = loadavg()
        self.command = "bash bench/run.sh" if argv is None else " ".join(argv)

    def meta(self) -> dict[str, Any]:
        return {"benchmark": self.name, "git": git_state(), "quick": self.quick, "started_utc": self.started,
                "finished_utc": utcnow(), "duration_s": round(time.monotonic() - self.t0, 1),
                "load_start": self.load_start, "load_end": loadavg(), "machine": machine(),
                "command": self.command}

    def finish(self, result: dict[str, Any], out: str | Path | None = None) -> Path:
        """Stamp the result with the finish time, duration and load, and write it."""
        result.update({k: v for k, v in self.meta().items() if k in ("finished_utc", "duration_s", "load_end")})
        return write_result(self.name, result, out)


def git_state() -> str:
    """The commit measured, and whether the code under test had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "handoff", "bot", "actions", "config.yml",
                                "domain.yml", "data"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                               timeout=10).stdout.rstrip()
        return head + (" (with uncommitted changes in " + ", ".join(sorted({l[3:].split("/")[0] for l in dirty.splitlines()}))
                       + ")" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def write_result(name: str, data: dict[str, Any], out: str | Path | None = None) -> Path:
    """bench/results/<name>.json, or `out` (a file, or a directory to put <name>.json in)."""
    path = Path(out) if out else RESULTS_DIR / f"{name}.json"
    if path.suffix != ".json":
        path = path / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A Markdown table (printed, and returned)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    text = "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in cells)])
    if title:
        text = f"\n{title}\n{text}"
    print(text, flush=True)
    return text


def raise_nofile(want: int | None = None) -> int:
    """Raise the soft RLIMIT_NOFILE to `want` (default: the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if want is None else min(want, hard)
    if hard == resource.RLIM_INFINITY:
        target = want or 1 << 20
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------- models

def _rasa_version() -> str:
    """Rasa's version from its installed metadata (no import: that takes a minute under load)."""
    for meta in sorted(RASA_VENV.glob("lib/python3*/site-packages/rasa-*.dist-info/METADATA")):
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def training_hash(config: Path) -> str:
    """sha256 of data/ (every file), domain.yml, the config file and the Rasa version."""
    h = hashlib.sha256()
    files = sorted(p for p in (PROJECT_ROOT / "data").rglob("*") if p.is_file())
    for path in [PROJECT_ROOT / "domain.yml", Path(config), *files]:
        h.update(str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path.name).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    h.update(_rasa_version().encode())
    return h.hexdigest()[:16]


def cached_model(config: Path, label: str, log=print) -> tuple[Path, dict[str, Any]]:
    """A model trained with `config` on data/ + domain.yml; trained into a temporary
    directory when var/bench/models/<label>-<hash>.tar.gz is missing. Returns (path, info)
    where info has the hash, whether it was cached and the training time."""
    digest = training_hash(config)
    models = CACHE_DIR / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / f"{label}-{digest}.tar.gz"
    info_path = target.with_suffix("").with_suffix(".json")
    if target.is_file():
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        return target, {**info, "hash": digest, "cached": True, "path": str(target.relative_to(PROJECT_ROOT))}
    rasa = RASA_VENV / "bin" / "rasa"
    if not rasa.exists():
        raise RuntimeError(f"{rasa} is missing: run 'bash scripts/setup.sh'")
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-train-{label}-"))
    log(f"training {label} ({config.name}, hash {digest}) into {tmp} ...")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}
    t0 = time.monotonic()
    cpu0 = _children_cpu()
    try:
        with open(tmp / "train.log", "wb") as logf:
            proc = subprocess.run([str(rasa), "train", "--config", str(config), "--domain", "domain.yml",
                                   "--data", "data", "--out", str(tmp / "out"), "--fixed-model-name", label],
                                  cwd=PROJECT_ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"training {label} failed:\n{(tmp / 'train.log').read_text()[-3000:]}")
        info = {"config": str(Path(config).relative_to(PROJECT_ROOT)), "train_time_s": round(time.monotonic() - t0, 1),
                "train_cpu_s": round(_children_cpu() - cpu0, 1), "trained_utc": utcnow(),
                "loadavg_after": loadavg()}
        shutil.move(str(tmp / "out" / f"{label}.tar.gz"), str(target))
        info_path.write_text(json.dumps(info, indent=2) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, {**info, "hash": digest, "cached": False, "path": str(target.relative_to(PROJECT_ROOT))}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":  # python bench/common.py train: fill the model cache
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["train"])
    a = p.parse_args()
    for cfg, label in ((OUR_CONFIG, "ours"), (DEFAULT_CONFIG, "rasa_default")):
        path, info = cached_model(cfg, label)
        print(label, path, info)

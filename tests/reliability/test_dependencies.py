"""Dependencies: no lock file pins a version below the first release that fixed the
known advisories we track (docs/reliability.md, "Dependencies"):

- rasa >= 3.6.21 (the last 3.6 release, with the fixes of the 3.6 line);
- aiohttp >= 3.13.4 (denial-of-service and request-smuggling CVEs in earlier releases);
- python-socketio >= 5.14 (earlier releases unpickle messages from the message queue).

One documented exception: Rasa 3.6 requires aiohttp < 3.10, so requirements/rasa.lock
and nlu.lock pin aiohttp 3.9.5. That aiohttp serves only Rasa's own API and the action
server, bound to 127.0.0.1 behind the bridge (and token-protected); the internet-facing
bridge runs on its own lock (bridge.lock) with a fixed aiohttp. The exception is
listed here, by lock file, so that any other downgrade fails.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.version import Version

LOCKS = Path(__file__).resolve().parents[2] / "requirements"
MINIMUM = {"rasa": "3.6.21", "aiohttp": "3.13.4", "python-socketio": "5.14"}
# (lock file, package) -> the version allowed below the minimum, and why
EXCEPTIONS = {("rasa.lock", "aiohttp"): ("3.9.5", "rasa 3.6 requires aiohttp<3.10; Rasa listens on 127.0.0.1 only"),
              ("nlu.lock", "aiohttp"): ("3.9.5", "same environment as rasa.lock (NLU benchmarks)")}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def pins(text: str) -> dict[str, str]:
    """package (normalized) -> pinned version, from a pip/uv lock file."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def violations(name: str, text: str) -> list[str]:
    out = []
    for package, version in pins(text).items():
        minimum = MINIMUM.get(package)
        if minimum and Version(version) < Version(minimum):
            allowed = EXCEPTIONS.get((name, package))
            if allowed and Version(version) == Version(allowed[0]):
                continue
            out.append(f"{name}: {package}=={version} is below {minimum}")
    return out


def test_the_checker_catches_old_pins():
    lock = "aiohttp==3.13.3\n    # via x\npython-socketio==5.13.0 ; python_version >= '3.8'\nrasa==3.6.20\nredis==5.0\n"
    assert violations("bridge.lock", lock) == ["bridge.lock: aiohttp==3.13.3 is below 3.13.4",
                                              "bridge.lock: python-socketio==5.13.0 is below 5.14",
                                              "bridge.lock: rasa==3.6.20 is below 3.6.21"]
    assert violations("bridge.lock", "aiohttp==3.13.4\npython-socketio==5.14.0\nrasa==3.6.21\n") == []
    assert violations("rasa.lock", "aiohttp==3.9.5\n") == []        # the documented exception only
    assert violations("rasa.lock", "aiohttp==3.9.4\n") == ["rasa.lock: aiohttp==3.9.4 is below 3.13.4"]
    assert violations("bridge.lock", "aiohttp==3.9.5\n") == ["bridge.lock: aiohttp==3.9.5 is below 3.13.4"]


def test_lock_files_exist_and_pin_the_tracked_packages():
    locks = {p.name: pins(p.read_text()) for p in LOCKS.glob("*.lock")}
    assert {"bridge.lock", "rasa.lock"} <= set(locks), sorted(locks)
    assert {"aiohttp", "python-socketio"} <= set(locks["bridge.lock"])
    assert {"rasa", "aiohttp"} <= set(locks["rasa.lock"])


@pytest.mark.parametrize("lock", sorted(p.name for p in LOCKS.glob("*.lock")))
def test_no_lock_pins_a_version_with_known_advisories(lock):
    assert violations(lock, (LOCKS / lock).read_text()) == []

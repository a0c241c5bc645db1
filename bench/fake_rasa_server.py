"""tests/support/fake_rasa.py as a process of its own, for the bridge benchmarks that must
not count Rasa's own time: every message is echoed at once, and "human please" is
answered with a text plus the handoff payload (docs/protocol.md, section 1).

  .venv-bridge/bin/python bench/fake_rasa_server.py --port 5099 --token t
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_rasa import FakeRasa  # noqa: E402

HANDOFF_TEXT = "human please"


async def main(port: int, token: str) -> None:
    fake = FakeRasa(token=token)
    fake.port = port
    fake.replies[HANDOFF_TEXT] = [{"text": "Let me get you a person."},
                                  FakeRasa.handoff("human_requested", "general", "bench", "bench")]
    await fake.start()
    try:
        while True:
            await asyncio.sleep(5)
            fake.calls.clear()          # bounded memory over long runs
            if len(fake.trackers) > 50_000:
                fake.trackers.clear()
    finally:
        await fake.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", default="bench-fake-token")
    a = p.parse_args()
    asyncio.run(main(a.port, a.token))

"""The short soak (tests/reliability/soak.py): 30 conversations for 30 s on two bridge
processes with random network drops of visitors and agents. No acknowledged message lost
or doubled, order kept, every message shown once, every bot turn answered, memory growth
bounded. The long run (200 conversations, 10 minutes) is a script: docs/reliability.md."""
from __future__ import annotations

from tests.reliability.soak import run_soak

RSS_GROWTH_LIMIT_MB = 40


async def test_short_soak(tmp_path):
    result = await run_soak(conversations=30, seconds=30, workdir=tmp_path)
    print(f"\nFIGURES soak_short: {result}")
    assert result.ok, result.problems
    assert result.visitor_messages > 30 * 10 and result.agent_messages > 0
    assert result.visitor_disconnects >= 5 and result.agent_disconnects >= 1, result
    assert result.lost == result.duplicated == result.out_of_order == result.shown_wrong == 0
    assert result.unanswered_bot == 0
    assert result.rss_growth_mb < RSS_GROWTH_LIMIT_MB, result

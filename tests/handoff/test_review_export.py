"""bot.designer.review: fallbacks, escalations and flagged messages become NLU
candidates with console links and masked personal data (bridge environment)."""
from __future__ import annotations

import yaml

from bot.designer.review import check_out_path, export
from handoff.store.base import Conversation, Message
from handoff.store.memory import EmbeddedStore

BASE = "http://support.example"


async def _say(store, cid, mid, sender, text, ts):
    await store.append_message(Message(id=mid, conversation_id=cid, ts=ts, sender=sender, text=text))


async def test_flagged_fallback_and_escalation_become_candidates(tmp_path):
    store = EmbeddedStore(clock=lambda: 1000.0)
    await store.create_conversation(Conversation(id="c-flag", created_at=1000.0, updated_at=1000.0))
    await _say(store, "c-flag", "m1", "visitor", "hi", 1001)
    await _say(store, "c-flag", "m2", "bot", "Hi, I'm the assistant.", 1002)
    await _say(store, "c-flag", "m3", "visitor",
               "my voucher didn't work, mail me at jane.doe@example.com", 1003)
    await _say(store, "c-flag", "m4", "bot", "Sorry, I'm not sure I understood. Did you mean one of these?", 1004)
    await store.add_flag("c-flag", "m3", "alice", "about gift vouchers", 1010.0)

    await store.create_conversation(Conversation(id="c-esc", created_at=1000.0, updated_at=1000.0))
    await _say(store, "c-esc", "n1", "visitor", "call me on +44 20 7946 0958 about my lawsuit", 1005)
    await store.update_conversation("c-esc", state="queued", reason="policy_topic", queued_at=1006.0)

    out = tmp_path / "review" / "candidates.yml"
    guesses = {"my voucher didn't work, mail me at jane.doe@example.com": "discounts"}
    candidates = await export(store, out, since=0, base_url=BASE,
                              guess=lambda cid, text: guesses.get(text))

    text = out.read_text()
    assert f"# flagged: {BASE}/console/#conversation=c-flag" in text
    assert "jane.doe@example.com" not in text and "j***@example.com" in text
    assert "7946 0958" not in text
    doc = yaml.safe_load(text)
    assert doc["version"] == "3.1"
    by_intent = {block["intent"]: block["examples"] for block in doc["nlu"]}
    [flagged] = by_intent["discounts"]
    assert flagged == {"text": "my voucher didn't work, mail me at j***@example.com",
                       "metadata": {"source": "flagged", "note": "about gift vouchers",
                                    "conversation": f"{BASE}/console/#conversation=c-flag",
                                    "message_id": "m3"}}
    [escalation] = by_intent["unknown"]
    assert escalation["metadata"]["source"] == "escalation"
    assert escalation["metadata"]["reason"] == "policy_topic"
    assert escalation["metadata"]["conversation"] == f"{BASE}/console/#conversation=c-esc"
    assert "about my lawsuit" in escalation["text"]
    assert sorted(c.source for c in candidates) == ["escalation", "flagged"]


async def test_unflagged_fallback_is_a_candidate_and_data_dir_is_refused(tmp_path):
    store = EmbeddedStore(clock=lambda: 50.0)
    await store.create_conversation(Conversation(id="c1", created_at=50.0, updated_at=50.0))
    await _say(store, "c1", "a", "visitor", "wibble wobble", 51)
    await _say(store, "c1", "b", "bot", "Sorry, I didn't get that. Could you say it differently?", 52)
    out = tmp_path / "c.yml"
    [cand] = await export(store, out, since=0, base_url=BASE)
    assert (cand.source, cand.intent, cand.text) == ("fallback", "unknown", "wibble wobble")
    assert "# fallback: http://support.example/console/#conversation=c1" in out.read_text()
    from bot.designer.review import PROJECT_ROOT
    import pytest
    with pytest.raises(SystemExit):
        check_out_path(PROJECT_ROOT / "data" / "nlu" / "review.yml")


async def test_analytics_csv_one_row_a_day():
    import csv
    import io

    from bot.designer.analytics_csv import daily_csv, store_fetcher

    day = 1_763_769_600.0  # 2025-11-22 00:00 UTC
    store = EmbeddedStore(clock=lambda: day)
    await store.create_conversation(Conversation(id="a", created_at=day + 10, updated_at=day + 10))
    def fallback(intent):
        return {"message_id": "m", "intent": intent, "confidence": 0.2, "ts": day}

    await store.create_conversation(Conversation(
        id="b", created_at=day + 20, updated_at=day + 20, reason="frustration",
        queued_at=day + 30, assigned_at=day + 90, first_agent_reply_at=day + 100, rating=4,
        meta={"escalation_intent": "order_status", "articles_shown": ["returns-policy", "refund-status"],
              "fallbacks": [fallback("refund_status"), fallback("returns_policy"), fallback("refund_status")]}))
    await store.create_conversation(Conversation(
        id="b2", created_at=day + 25, updated_at=day + 25, reason="human_requested", queued_at=day + 26,
        meta={"escalation_intent": "request_human", "articles_shown": ["refund-status", "=HYPERLINK(1)"]}))
    await store.create_conversation(Conversation(id="c", created_at=day + 86400 + 5,
                                                 updated_at=day + 86400 + 5,
                                                 meta={"fallbacks": [fallback("=cmd|x")]}))
    text = await daily_csv(store_fetcher(store), day, day + 2 * 86400)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["date"] for r in rows] == ["2025-11-22", "2025-11-23"]
    first = rows[0]
    assert (first["conversations"], first["resolved_by_bot"], first["handoffs"],
            first["handoffs_frustration"], first["queue_wait_median_s"], first["rating_average"]) == \
        ("3", "1", "2", "1", "60.0", "4.0")
    assert (rows[1]["conversations"], rows[1]["handoffs"]) == ("1", "0")
    # the designers' columns, last: a count, then "name:count; ..." the most frequent first
    assert list(rows[0])[-4:] == ["fallbacks", "handoffs_by_intent", "fallbacks_by_intent",
                                  "articles_before_handoff"]
    assert (first["fallbacks"], first["handoffs_by_intent"], first["fallbacks_by_intent"],
            first["articles_before_handoff"]) == (
        "3", "order_status:1; request_human:1", "refund_status:2; returns_policy:1",
        "refund-status:2; =HYPERLINK(1):1; returns-policy:1")
    # a cell a spreadsheet would take for a formula is quoted as text
    assert (rows[1]["fallbacks"], rows[1]["fallbacks_by_intent"], rows[1]["handoffs_by_intent"]) == (
        "1", "'=cmd|x:1", "")


def test_review_cli_reads_a_redis_store(redis_url, tmp_path):
    import asyncio

    from bot.designer.review import main
    from handoff.store import open_store

    async def seed():
        store = open_store(redis_url)
        await store.start()
        try:
            await store.create_conversation(Conversation(id="r1"))
            await _say(store, "r1", "x1", "visitor", "my card 4111 1111 1111 1111 was charged twice", 2e9)
            await store.add_flag("r1", "x1", "bob", "double charge", 2e9)
        finally:
            await store.close()

    asyncio.run(seed())
    out = tmp_path / "review" / "candidates.yml"
    assert main(["--store-url", redis_url, "--since", "0", "--out", str(out),
                 "--base-url", BASE]) == 0
    doc = yaml.safe_load(out.read_text())
    [example] = doc["nlu"][0]["examples"]
    assert "4111 1111 1111 1111" not in example["text"]
    assert example["metadata"]["conversation"] == f"{BASE}/console/#conversation=r1"
    assert example["metadata"]["source"] == "flagged"


async def _seed_flagged(store):
    await store.create_conversation(Conversation(id="b-flag"))
    await _say(store, "b-flag", "v1", "visitor", "my voucher failed, write to jane.doe@example.com", 2e9)
    await _say(store, "b-flag", "v2", "bot", "Sorry, I didn't get that. Could you say it differently?", 2e9 + 1)
    await store.add_flag("b-flag", "v1", "alice", "gift voucher", 2e9 + 2)


async def test_review_cli_reads_through_the_bridge_on_the_embedded_store(bridge, tmp_path, monkeypatch):
    import asyncio

    from bot.designer.review import main
    from tests.handoff.conftest import PASSWORDS

    await _seed_flagged(bridge.bridge.store)
    token = await bridge.login("alice", PASSWORDS["alice"])
    monkeypatch.delenv("HANDOFF_STORE_URL", raising=False)
    monkeypatch.setenv("HANDOFF_AGENT_TOKEN", token)
    out = tmp_path / "review" / "candidates.yml"
    # no --store-url: bridge mode is the default
    assert await asyncio.to_thread(main, ["--bridge-url", bridge.url, "--since", "0",
                                          "--out", str(out)]) == 0
    text = out.read_text()
    assert "jane.doe@example.com" not in text
    assert f"# flagged: {bridge.url}/console/#conversation=b-flag" in text
    doc = yaml.safe_load(text)
    [example] = doc["nlu"][0]["examples"]
    assert example == {"text": "my voucher failed, write to j***@example.com",
                       "metadata": {"source": "flagged", "note": "gift voucher",
                                    "conversation": f"{bridge.url}/console/#conversation=b-flag",
                                    "message_id": "v1"}}

    # logging in with --username / $HANDOFF_AGENT_PASSWORD instead, links on --base-url
    monkeypatch.delenv("HANDOFF_AGENT_TOKEN")
    monkeypatch.setenv("HANDOFF_AGENT_PASSWORD", PASSWORDS["bob"])
    assert await asyncio.to_thread(main, ["--bridge-url", bridge.url, "--username", "bob", "--since", "0",
                                          "--out", str(out), "--base-url", BASE]) == 0
    assert f"# flagged: {BASE}/console/#conversation=b-flag" in out.read_text()


async def test_review_endpoint_needs_an_agent_token(bridge):
    from tests.handoff.conftest import PASSWORDS

    await _seed_flagged(bridge.bridge.store)
    status, body = await bridge.http("GET", "/api/review?since=0")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _ = await bridge.http("GET", "/api/review?since=0", headers={"Authorization": "Bearer nope"})
    assert status == 401
    token = await bridge.login("alice", PASSWORDS["alice"])
    status, body = await bridge.http("GET", "/api/review?since=0",
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    [cand] = body["candidates"]
    assert cand == {"text": "my voucher failed, write to j***@example.com", "conversation_id": "b-flag",
                    "message_id": "v1", "source": "flagged", "intent": "unknown", "reason": None,
                    "note": "gift voucher", "link": f"{bridge.url}/console/#conversation=b-flag"}
    status, body = await bridge.http("GET", "/api/review?since=soon",
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 400
    status, body = await bridge.http("GET", "/api/review?since=3e9",
                                     headers={"Authorization": f"Bearer {token}"})
    assert (status, body["candidates"]) == (200, [])

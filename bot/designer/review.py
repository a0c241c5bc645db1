"""Review export: turn what went wrong in live conversations into NLU candidates.

Runs in the bridge's environment (it reads the bridge's store and reuses
handoff.pii). Collects, for conversations updated since ``--since``:

* visitor messages that led to a fallback (the bot answered with the clarifying
  question of action_clarify, or Rasa's default "didn't get that");
* the last visitor message before each escalation, grouped by reason;
* messages agents flagged as misunderstood (``flag`` in the console, ``GET /api/flags``).

and writes them as Rasa NLU YAML (``nlu:``) to a review file, never into data/.
Each example carries ``metadata`` (source, reason, flag note and a link to the
conversation in the agent console) and a comment with the same link; emails,
card and phone numbers are masked. Intents are guessed from Rasa's tracker when
``--rasa-url`` is given (the parsed intent, or for a fallback the best other
intent of the ranking), else ``unknown``.

Usage::

    .venv-bridge/bin/python -m bot.designer.review --store-url redis://localhost:6379/0 \\
        --since 2026-11-01 --out review/candidates.yml [--rasa-url http://localhost:5005]

The embedded store lives inside the bridge process only, so export from Redis
(the store of every multi-bridge or production setup).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from handoff.pii import mask_text
from handoff.store import open_store
from handoff.store.base import Message, Store

FALLBACK_MARKERS = ("Sorry, I'm not sure I understood", "Sorry, I didn't get that")
NOT_GUESSED = {"nlu_fallback"}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Candidate:
    text: str                      # masked
    conversation_id: str
    message_id: str
    source: str                    # fallback | escalation | flagged
    link: str
    intent: str = "unknown"
    reason: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def conversation_link(base_url: str, conversation_id: str) -> str:
    return f"{base_url.rstrip('/')}/console/#conversation={urllib.parse.quote(conversation_id, safe='')}"


def parse_since(value: str) -> float:
    """Unix seconds, an ISO date/time (UTC when no zone), or '<n>d' / '<n>h' ago."""
    value = value.strip()
    if value[-1:] in ("d", "h") and value[:-1].isdigit():
        return time.time() - int(value[:-1]) * (86400 if value[-1] == "d" else 3600)
    try:
        return float(value)
    except ValueError:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()


def rasa_intent_guesser(rasa_url: str, token: str | None = None) -> Callable[[str, str], str | None]:
    """(conversation id, raw text) -> intent name from the Rasa tracker, cached per conversation."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def guess(conversation_id: str, text: str) -> str | None:
        if conversation_id not in cache:
            url = f"{rasa_url.rstrip('/')}/conversations/{urllib.parse.quote(conversation_id, safe='')}/tracker"
            if token:
                url += f"?token={urllib.parse.quote(token)}"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    cache[conversation_id] = json.load(response).get("events") or []
            except Exception:  # noqa: BLE001 - a guess only
                cache[conversation_id] = []
        for event in reversed(cache[conversation_id]):
            if event.get("event") != "user" or (event.get("text") or "") != text:
                continue
            parse = event.get("parse_data") or {}
            name = (parse.get("intent") or {}).get("name")
            if name and name not in NOT_GUESSED:
                return name
            for ranked in parse.get("intent_ranking") or []:
                if ranked.get("name") and ranked["name"] not in NOT_GUESSED:
                    return ranked["name"]
        return None

    return guess


async def _all_messages(store: Store, conversation_id: str) -> list[Message]:
    messages: list[Message] = []
    after = None
    while True:
        page = await store.messages(conversation_id, after_id=after, limit=500)
        messages += page
        if len(page) < 500:
            return messages
        after = page[-1].id


async def collect(store: Store, *, since: float, base_url: str,
                  guess: Callable[[str, str], str | None] | None = None) -> list[Candidate]:
    """Candidates from the store, in conversation order, one per visitor message."""
    found: dict[tuple[str, str], Candidate] = {}

    def add(message: Message, source: str, **extra: Any) -> None:
        key = (message.conversation_id, message.id)
        if key in found:  # one example per message; flagged wins, notes kept
            cand = found[key]
            if source == "flagged":
                cand.source, cand.note = "flagged", extra.get("note") or cand.note
            cand.reason = cand.reason or extra.get("reason")
            return
        intent = (message.payload or {}).get("intent") or (guess(message.conversation_id, message.text or "")
                                                          if guess else None)
        found[key] = Candidate(text=mask_text(message.text or ""), conversation_id=message.conversation_id,
                               message_id=message.id, source=source,
                               link=conversation_link(base_url, message.conversation_id),
                               intent=intent or "unknown", reason=extra.get("reason"),
                               note=extra.get("note"))

    conversations = await store.list_conversations(since=since, limit=100_000)
    logs: dict[str, list[Message]] = {}
    for conversation in reversed(conversations):  # oldest first
        log = logs[conversation.id] = await _all_messages(store, conversation.id)
        last_visitor: Message | None = None
        escalated = False
        for message in log:
            if message.sender == "visitor" and message.text:
                last_visitor = message
            elif message.sender == "bot" and last_visitor is not None:
                text = message.text or ""
                if any(text.startswith(marker) for marker in FALLBACK_MARKERS):
                    add(last_visitor, "fallback")
                if (message.payload or {}).get("handoff") or (message.payload or {}).get("custom", {}).get("handoff"):
                    add(last_visitor, "escalation", reason=conversation.reason)
                    escalated = True
        if conversation.reason and not escalated and last_visitor is not None:
            cutoff = conversation.queued_at or conversation.assigned_at or float("inf")
            before = [m for m in log if m.sender == "visitor" and m.text and m.ts <= cutoff]
            if before:
                add(before[-1], "escalation", reason=conversation.reason)
    for flag in await store.flags():
        if float(flag.get("ts") or 0) < since:
            continue
        cid = flag["conversation_id"]
        if cid not in logs:
            logs[cid] = await _all_messages(store, cid)
        message = next((m for m in logs[cid] if m.id == flag["message_id"]), None)
        if message is not None and message.text:
            add(message, "flagged", note=flag.get("note") or None)
    return list(found.values())


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def render(candidates: list[Candidate], *, since: float) -> str:
    """Rasa NLU YAML, grouped by intent guess, with metadata and a comment per example."""
    stamp = datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds")
    lines = ['version: "3.1"',
             f"# Review candidates from live conversations since {stamp}.",
             "# Review each example: fix the intent, then move it into data/nlu/ by hand.",
             "# Personal data is masked. Not training data until a designer moves it.",
             "nlu:"]
    by_intent: dict[str, list[Candidate]] = {}
    for cand in candidates:
        by_intent.setdefault(cand.intent, []).append(cand)
    if not by_intent:
        lines[-1] = "nlu: []"
    for intent in sorted(by_intent):
        lines += [f"- intent: {intent}", "  examples:"]
        for cand in by_intent[intent]:
            why = cand.source + (f" ({cand.reason})" if cand.reason else "")
            lines.append(f"  # {why}: {cand.link}")
            lines.append(f"  - text: {_q(cand.text)}")
            lines.append("    metadata:")
            lines.append(f"      source: {cand.source}")
            if cand.reason:
                lines.append(f"      reason: {_q(cand.reason)}")
            if cand.note:
                lines.append(f"      note: {_q(mask_text(cand.note))}")
            lines.append(f"      conversation: {_q(cand.link)}")
            lines.append(f"      message_id: {_q(cand.message_id)}")
    return "\n".join(lines) + "\n"


def check_out_path(out: Path) -> None:
    data_dir = (PROJECT_ROOT / "data").resolve()
    resolved = out.resolve()
    if resolved == data_dir or data_dir in resolved.parents:
        raise SystemExit(f"refusing to write review candidates into data/ ({out}); use review/")


async def export(store: Store, out: Path, *, since: float, base_url: str,
                 guess: Callable[[str, str], str | None] | None = None) -> list[Candidate]:
    check_out_path(out)
    candidates = await collect(store, since=since, base_url=base_url, guess=guess)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(candidates, since=since), encoding="utf-8")
    return candidates


async def _main(args: argparse.Namespace) -> int:
    if not args.store_url or args.store_url == "memory://":
        print("the embedded store lives inside the bridge process; pass --store-url redis://...",
              file=sys.stderr)
        return 2
    store = open_store(args.store_url, prefix=args.prefix)
    await store.start()
    try:
        guess = rasa_intent_guesser(args.rasa_url, args.rasa_token) if args.rasa_url else None
        candidates = await export(store, Path(args.out), since=parse_since(args.since),
                                  base_url=args.base_url, guess=guess)
    finally:
        await store.close()
    counts: dict[str, int] = {}
    for cand in candidates:
        counts[cand.source] = counts.get(cand.source, 0) + 1
    print(f"wrote {len(candidates)} candidate(s) to {args.out}: "
          + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return 0


def main(argv: list[str] | None = None) -> int:
    import os
    parser = argparse.ArgumentParser(prog="python -m bot.designer.review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", default="7d", help="unix seconds, ISO date, or 7d / 24h ago")
    parser.add_argument("--out", default="review/candidates.yml")
    parser.add_argument("--store-url", default=os.environ.get("HANDOFF_STORE_URL", ""))
    parser.add_argument("--prefix", default="handoff:")
    parser.add_argument("--base-url", default=os.environ.get("HANDOFF_PUBLIC_URL", "http://localhost:8080"),
                        help="the bridge's address, for console links")
    parser.add_argument("--rasa-url", default=os.environ.get("RASA_URL", ""))
    parser.add_argument("--rasa-token", default=os.environ.get("RASA_TOKEN", ""))
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

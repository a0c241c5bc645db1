"""Review export: turn what went wrong in live conversations into NLU candidates.

Runs in the bridge's environment. The candidates (collected by handoff.review, the one
place shared with the bridge's ``GET /api/review``) are, for conversations updated
since ``--since``:

* visitor messages that led to a fallback (the bot answered with the clarifying
  question of action_clarify, or Rasa's default "didn't get that");
* the last visitor message before each escalation, grouped by reason;
* messages agents flagged as misunderstood (``flag`` in the console, ``GET /api/flags``).

and are written as Rasa NLU YAML (``nlu:``) to a review file, never into data/.
Each example carries ``metadata`` (source, reason, flag note and a link to the
conversation in the agent console) and a comment with the same link; emails,
card and phone numbers are masked. Intents are guessed from Rasa's tracker when
``--rasa-url`` is given (the parsed intent, or for a fallback the best other
intent of the ranking), else ``unknown``.

Two sources:

* the running bridge (default; any store, also the embedded one of ``make run``):
  ``--bridge-url`` (default http://127.0.0.1:8080) with an agent token (``--token`` or
  $HANDOFF_AGENT_TOKEN), or ``--username`` and $HANDOFF_AGENT_PASSWORD to log in;
* the store directly (Redis): ``--store-url redis://...``.

Usage::

    HANDOFF_AGENT_TOKEN=... .venv-bridge/bin/python -m bot.designer.review \\
        --since 7d --out review/candidates.yml [--rasa-url http://localhost:5005]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from handoff.pii import mask_text
from handoff.review import FALLBACK_MARKERS, Candidate, collect, conversation_link
from handoff.store import open_store
from handoff.store.base import Store

__all__ = ["Candidate", "FALLBACK_MARKERS", "check_out_path", "collect", "conversation_link",
           "export", "fetch_candidates", "main", "parse_since", "render"]

NOT_GUESSED = {"nlu_fallback"}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


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


def rasa_intent_guesser(rasa_url: str, token: str | None = None,
                        masked: bool = False) -> Callable[[str, str], str | None]:
    """(conversation id, text) -> intent name from the Rasa tracker, cached per conversation.

    ``masked``: the text given is already masked (bridge mode), so compare masked texts."""
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
            said = event.get("text") or ""
            if event.get("event") != "user" or (mask_text(said) if masked else said) != text:
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


def _http_json(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.load(response)


def bridge_token(bridge_url: str, token: str = "", username: str = "", password: str = "") -> str:
    """The agent token given, else one from POST /api/agent/login."""
    if token:
        return token
    if not username:
        raise SystemExit("pass an agent token (--token or $HANDOFF_AGENT_TOKEN) "
                         "or --username with $HANDOFF_AGENT_PASSWORD")
    return _http_json("POST", f"{bridge_url.rstrip('/')}/api/agent/login",
                      {"username": username, "password": password})["token"]


def fetch_candidates(bridge_url: str, token: str, *, since: float, base_url: str | None = None,
                     guess: Callable[[str, str], str | None] | None = None) -> list[Candidate]:
    """Candidates from a running bridge (GET /api/review); ``guess`` gets masked texts."""
    query = urllib.parse.urlencode({"since": since})
    body = _http_json("GET", f"{bridge_url.rstrip('/')}/api/review?{query}", None, token)
    candidates = [Candidate.from_json(item) for item in body.get("candidates") or []]
    for cand in candidates:
        if base_url:
            cand.link = conversation_link(base_url, cand.conversation_id)
        if guess is not None and cand.intent == "unknown":
            cand.intent = guess(cand.conversation_id, cand.text) or "unknown"
    return candidates


def write(candidates: list[Candidate], out: Path, *, since: float) -> None:
    check_out_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(candidates, since=since), encoding="utf-8")


async def export(store: Store, out: Path, *, since: float, base_url: str,
                 guess: Callable[[str, str], str | None] | None = None) -> list[Candidate]:
    """Store mode: collect from the store and write the review file."""
    check_out_path(out)
    candidates = await collect(store, since=since, base_url=base_url, guess=guess)
    write(candidates, out, since=since)
    return candidates


async def _main(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    out = Path(args.out)
    check_out_path(out)
    if args.store_url == "memory://":
        print("the embedded store lives inside the bridge process; leave out --store-url to "
              "read through the running bridge (--bridge-url), or pass redis://...", file=sys.stderr)
        return 2
    if args.store_url:
        store = open_store(args.store_url, prefix=args.prefix)
        await store.start()
        try:
            guess = rasa_intent_guesser(args.rasa_url, args.rasa_token) if args.rasa_url else None
            candidates = await export(store, out, since=since,
                                      base_url=args.base_url or os.environ.get("HANDOFF_PUBLIC_URL")
                                      or "http://localhost:8080", guess=guess)
        finally:
            await store.close()
    else:
        guess = rasa_intent_guesser(args.rasa_url, args.rasa_token, masked=True) if args.rasa_url else None
        try:
            token = await asyncio.to_thread(bridge_token, args.bridge_url,
                                            args.token or os.environ.get("HANDOFF_AGENT_TOKEN", ""),
                                            args.username, os.environ.get("HANDOFF_AGENT_PASSWORD", ""))
            candidates = await asyncio.to_thread(fetch_candidates, args.bridge_url, token, since=since,
                                                 base_url=args.base_url or None, guess=guess)
        except urllib.error.HTTPError as exc:
            print(f"the bridge at {args.bridge_url} answered {exc.code}"
                  + (" (log in again: the agent token is missing, wrong or expired)" if exc.code == 401 else ""),
                  file=sys.stderr)
            return 1
        except urllib.error.URLError as exc:
            print(f"cannot reach the bridge at {args.bridge_url} ({exc.reason}); is it running "
                  "(make run)? or pass --store-url redis://...", file=sys.stderr)
            return 1
        write(candidates, out, since=since)
    counts: dict[str, int] = {}
    for cand in candidates:
        counts[cand.source] = counts.get(cand.source, 0) + 1
    print(f"wrote {len(candidates)} candidate(s) to {args.out}: "
          + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.designer.review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", default="7d", help="unix seconds, ISO date, or 7d / 24h ago")
    parser.add_argument("--out", default="review/candidates.yml")
    parser.add_argument("--bridge-url", default="http://127.0.0.1:8080",
                        help="the running bridge to read through (when no --store-url)")
    parser.add_argument("--token", default="", help="agent token (default $HANDOFF_AGENT_TOKEN)")
    parser.add_argument("--username", default="",
                        help="log in as this agent instead (password in $HANDOFF_AGENT_PASSWORD)")
    parser.add_argument("--store-url", default=os.environ.get("HANDOFF_STORE_URL", ""),
                        help="read a Redis store directly instead of the bridge")
    parser.add_argument("--prefix", default="handoff:")
    parser.add_argument("--base-url", default="",
                        help="address for console links (default: the bridge's; with --store-url "
                             "$HANDOFF_PUBLIC_URL or http://localhost:8080)")
    parser.add_argument("--rasa-url", default=os.environ.get("RASA_URL", ""))
    parser.add_argument("--rasa-token", default=os.environ.get("RASA_TOKEN", ""))
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

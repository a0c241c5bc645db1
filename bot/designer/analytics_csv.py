"""``make analytics-csv``: the dashboard numbers (GET /api/analytics) as CSV, one row a day.

The last four columns are for the conversation designers: ``fallbacks`` (a count) and
three breakdowns, each one cell listing ``name:count`` pairs separated by ``; ``, the
most frequent first (e.g. ``refund_status:3; returns_policy:1``): ``handoffs_by_intent``,
``fallbacks_by_intent`` (the classifier's best guess) and ``articles_before_handoff``
(knowledge-base article ids). A cell that a spreadsheet would read as a formula starts
with an apostrophe.

Runs in the bridge's environment. Two sources:

* the bridge's HTTP API (any store): ``--bridge-url`` with an agent token
  (``--token`` / $HANDOFF_AGENT_TOKEN, or ``--username`` and $HANDOFF_AGENT_PASSWORD to log in);
* the store directly (Redis): ``--store-url redis://...``, computed with handoff.analytics.

Usage::

    .venv-bridge/bin/python -m bot.designer.analytics_csv --since 2026-11-01 [--until ...] \\
        --bridge-url http://127.0.0.1:8080 --token T --out review/analytics.csv
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from bot.designer.review import parse_since
from handoff.analytics import analytics
from handoff.store import open_store
from handoff.store.base import Conversation

DAY = 86400.0
REASONS = ("human_requested", "frustration", "bot_failure", "policy_topic")
BREAKDOWNS = ("handoffs_by_intent", "fallbacks_by_intent", "articles_before_handoff")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ["date", "conversations", "resolved_by_bot", "resolved_by_bot_share", "handoffs",
           *[f"handoffs_{r}" for r in REASONS], "queue_wait_median_s", "queue_wait_p90_s",
           "first_agent_response_median_s", "first_agent_response_p90_s", "ratings",
           "rating_average", "tickets", "fallbacks", *BREAKDOWNS]

Fetch = Callable[[float, float], Awaitable[dict[str, Any]]]


def breakdown_cell(counts: Any) -> str:
    """{"name": count} as "name:count; name:count", the most frequent first (ties by name)."""
    if not isinstance(counts, dict):
        return ""
    pairs = sorted(((str(name), count) for name, count in counts.items() if isinstance(count, int)),
                   key=lambda pair: (-pair[1], pair[0]))
    cell = "; ".join(f"{name}:{count}" for name, count in pairs)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def row(day_start: float, numbers: dict[str, Any]) -> dict[str, Any]:
    reasons = numbers.get("handoffs_by_reason") or {}
    wait = numbers.get("queue_wait") or {}
    first = numbers.get("first_agent_response") or {}
    ratings = numbers.get("ratings") or {}
    out = {"date": datetime.fromtimestamp(day_start, timezone.utc).date().isoformat(),
           "conversations": numbers.get("conversations", 0),
           "resolved_by_bot": numbers.get("resolved_by_bot", 0),
           "resolved_by_bot_share": numbers.get("resolved_by_bot_share"),
           "handoffs": numbers.get("handoffs", 0),
           "queue_wait_median_s": wait.get("median_s"), "queue_wait_p90_s": wait.get("p90_s"),
           "first_agent_response_median_s": first.get("median_s"),
           "first_agent_response_p90_s": first.get("p90_s"),
           "ratings": ratings.get("count", 0), "rating_average": ratings.get("average"),
           "tickets": numbers.get("tickets", 0), "fallbacks": numbers.get("fallbacks", 0)}
    out.update({f"handoffs_{r}": reasons.get(r, 0) for r in REASONS})
    out.update({name: breakdown_cell(numbers.get(name)) for name in BREAKDOWNS})
    return {k: ("" if v is None else v) for k, v in out.items()}


async def daily_csv(fetch: Fetch, since: float, until: float) -> str:
    """CSV text, one row per UTC day from since's day up to until."""
    start = datetime.fromtimestamp(since, timezone.utc).replace(hour=0, minute=0, second=0,
                                                                 microsecond=0).timestamp()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    day = start
    while day < until:
        writer.writerow(row(day, await fetch(max(day, since), min(day + DAY, until))))
        day += DAY
    return buffer.getvalue()


def store_fetcher(store) -> Fetch:
    cache: list[Conversation] = []

    async def fetch(since: float, until: float) -> dict[str, Any]:
        if not cache:
            cache.extend(await store.list_conversations(limit=1_000_000) or [])
        return analytics(cache, since, until)

    return fetch


def _http_json(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.load(response)


def http_fetcher(bridge_url: str, token: str) -> Fetch:
    async def fetch(since: float, until: float) -> dict[str, Any]:
        query = urllib.parse.urlencode({"since": since, "until": until})
        return await asyncio.to_thread(_http_json, "GET", f"{bridge_url.rstrip('/')}/api/analytics?{query}",
                                       None, token)

    return fetch


async def _main(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    until = parse_since(args.until) if args.until else time.time()
    store = None
    if args.store_url and args.store_url != "memory://":
        store = open_store(args.store_url)
        await store.start()
        fetch = store_fetcher(store)
    elif args.bridge_url:
        token = args.token or os.environ.get("HANDOFF_AGENT_TOKEN", "")
        if not token and args.username:
            token = _http_json("POST", f"{args.bridge_url.rstrip('/')}/api/agent/login",
                               {"username": args.username,
                                "password": os.environ.get("HANDOFF_AGENT_PASSWORD", "")})["token"]
        fetch = http_fetcher(args.bridge_url, token)
    else:
        print("pass --bridge-url (with an agent token) or --store-url redis://...", file=sys.stderr)
        return 2
    try:
        text = await daily_csv(fetch, since, until)
    finally:
        if store is not None:
            await store.close()
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {text.count(chr(10)) - 1} day(s) to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.designer.analytics_csv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", default="7d")
    parser.add_argument("--until", default="")
    parser.add_argument("--out", default="review/analytics.csv", help="a file, or - for stdout")
    parser.add_argument("--bridge-url", default=os.environ.get("HANDOFF_PUBLIC_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default="")
    parser.add_argument("--username", default="")
    parser.add_argument("--store-url", default=os.environ.get("HANDOFF_STORE_URL", ""))
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

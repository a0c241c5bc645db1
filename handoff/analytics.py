"""Numbers for the console's dashboard (GET /api/analytics), from the store's records.

Conversations started in [since, until): how many, the share the bot resolved (never
queued, or handed back and not queued again), handoffs by reason, queue wait (median,
p90), time to the first agent answer (median, p90), ratings (count, average, by score),
tickets. Computed on request: fine for the volumes of one support team.

For the conversation designers, from what the bot reported (handoff.bot_reports):
handoffs by the intent of the visitor's last message before the (latest) escalation,
fallback turns of these conversations by the classifier's best guess, and how many
escalated conversations had been shown each knowledge-base article. An intent that
was not reported (a bridge-made escalation, an older record) counts as UNKNOWN, so each
breakdown of handoffs or fallbacks adds up to its total.
"""
from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Any, Iterable

from .bot_reports import articles_shown, escalation_intent, fallbacks
from .store.base import Conversation

UNKNOWN = "unknown"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 1)


def _summary(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "median_s": round(median(values), 1) if values else None,
            "p90_s": _percentile(values, 0.9)}


def _counts(names: Iterable[str]) -> dict[str, int]:
    """How often each name occurs, the most frequent first (ties by name)."""
    return dict(sorted(Counter(names).items(), key=lambda item: (-item[1], item[0])))


def analytics(conversations: list[Conversation], since: float, until: float) -> dict[str, Any]:
    chosen = [c for c in conversations if since <= c.created_at < until]
    escalated = [c for c in chosen if c.reason]
    handed_to_people = [c for c in chosen if c.reason or c.assigned_at or c.ticket]
    waits = [c.assigned_at - c.queued_at for c in chosen
             if c.assigned_at and c.queued_at and c.assigned_at >= c.queued_at]
    first_answers = [c.first_agent_reply_at - c.assigned_at for c in chosen
                     if c.first_agent_reply_at and c.assigned_at and c.first_agent_reply_at >= c.assigned_at]
    ratings = [c.rating for c in chosen if c.rating is not None]
    fallback_turns = [entry for c in chosen for entry in fallbacks(c)]
    total = len(chosen)
    return {
        "since": since, "until": until,
        "conversations": total,
        "by_state": dict(Counter(c.state for c in chosen)),
        "resolved_by_bot": total - len(handed_to_people),
        "resolved_by_bot_share": round((total - len(handed_to_people)) / total, 3) if total else None,
        "handoffs": len(escalated),
        "handoffs_by_reason": dict(Counter(c.reason for c in escalated)),
        "queue_wait": _summary(waits),
        "first_agent_response": _summary(first_answers),
        "ratings": {"count": len(ratings),
                    "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
                    "by_score": {str(s): ratings.count(s) for s in range(1, 6)}},
        "tickets": sum(1 for c in chosen if c.ticket),
        "resolutions": dict(Counter(c.resolution for c in chosen if c.resolution)),
        "handoffs_by_intent": _counts(escalation_intent(c) or UNKNOWN for c in escalated),
        "fallbacks": len(fallback_turns),
        "fallbacks_by_intent": _counts(entry["intent"] or UNKNOWN for entry in fallback_turns),
        "articles_before_handoff": _counts(article for c in escalated for article in articles_shown(c)),
    }

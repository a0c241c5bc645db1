"""Decide whether a conversation must go to a person, and why.

Pure Python (PyYAML, vaderSentiment and the standard library; no Rasa imports) so
the rules can be unit-tested alone and shared by two processes: the Rasa server's
:class:`bot.policy.EscalationPolicy` (which predicts ``action_escalate``) and the
action server's ``action_escalate`` (which records the reason in slots and in the
``handoff`` payload). Both run :meth:`EscalationDetector.assess` on the same
tracker events, so they agree on the reason.

Signals, in the order they win when several fire on one message (the reason
names are the bot -> bridge contract, docs/protocol.md section 1):

* ``policy_topic``    - legal threats, chargebacks, account takeover, data breaches;
* ``human_requested`` - a request for a person, by intent or by wording;
* ``frustration``     - VADER sentiment plus insults, SHOUTING, "!!" runs and
  complaint markers, scored in points, per message and over a short window;
* ``bot_failure``     - fallbacks in a row, or the same question asked again and again.

Thresholds and word lists live in ``data/escalation.yml``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from bot.intents import LABELS, label

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "data" / "escalation.yml"
FALLBACK_INTENT = "nlu_fallback"
ESCALATE_ACTION = "action_escalate"
RESET_EVENTS = ("restart", "resume")
REASONS = ("human_requested", "frustration", "bot_failure", "policy_topic")


@dataclass(frozen=True)
class Turn:
    """One visitor message as the detector sees it."""

    text: str
    intent: str | None = None
    confidence: float = 0.0
    entities: tuple[tuple[str, str], ...] = ()

    @property
    def failed(self) -> bool:
        return self.intent == FALLBACK_INTENT


@dataclass(frozen=True)
class Signals:
    """What one message says about the visitor's mood (points as configured)."""

    compound: float
    points: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """An escalation: reason (protocol name), team topic and a short detail."""

    reason: str
    topic: str
    detail: str


@dataclass
class Conversation:
    """The part of a tracker the detector needs, built by :func:`conversation_from_events`."""

    turns: list[Turn] = field(default_factory=list)
    bot_messages: int = 0


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern | None:
    parts = sorted({p.strip().lower() for p in phrases if p and p.strip()}, key=len, reverse=True)
    if not parts:
        return None
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in parts)
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])", re.IGNORECASE)


def conversation_from_events(events: Iterable[Mapping[str, Any]]) -> Conversation:
    """Visitor turns and bot message count since the last hand-over or restart.

    Takes Rasa events as dicts (``Event.as_dict()`` on the server, ``tracker.events``
    on the action server). Everything before the latest ``action_escalate``,
    ``resume`` or ``restart`` is ignored, so a conversation handed back by an agent
    starts with a clean slate instead of re-escalating on old anger.
    """
    conversation = Conversation()
    for event in events:
        kind = event.get("event")
        if kind in RESET_EVENTS or (
                kind == "action" and event.get("name") == ESCALATE_ACTION):
            conversation = Conversation()
        elif kind == "user":
            parse_data = event.get("parse_data") or {}
            intent = parse_data.get("intent") or {}
            entities = tuple(sorted((str(e.get("entity")), str(e.get("value")))
                                    for e in parse_data.get("entities") or []))
            conversation.turns.append(Turn(
                text=event.get("text") or "", intent=intent.get("name"),
                confidence=float(intent.get("confidence") or 0.0), entities=entities))
        elif kind == "bot":
            conversation.bot_messages += 1
    return conversation


class EscalationDetector:
    """Applies the rules of ``data/escalation.yml`` to a conversation."""

    def __init__(self, config: Mapping[str, Any]):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()
        human = config.get("human_request") or {}
        self.human_intents = set(human.get("intents") or ["request_human"])
        self.human_min_confidence = float(human.get("min_confidence", 0.5))
        self.human_patterns = [re.compile(p, re.IGNORECASE) for p in human.get("patterns") or []]

        fr = config.get("frustration") or {}
        self.negative = float(fr.get("negative", -0.3))
        self.strong_negative = float(fr.get("strong_negative", -0.7))
        shouting = fr.get("shouting") or {}
        self.shout_min_letters = int(shouting.get("min_letters", 8))
        self.shout_ratio = float(shouting.get("upper_ratio", 0.7))
        self.exclamations = int(fr.get("exclamations", 2))
        self.insults = _phrase_regex(fr.get("insults") or [])
        self.markers = _phrase_regex(fr.get("complaint_markers") or [])
        self.escalate_at = int(fr.get("escalate_at", 2))
        self.window = int(fr.get("window", 3))
        self.window_escalate_at = int(fr.get("window_escalate_at", 3))

        bf = config.get("bot_failure") or {}
        self.consecutive_fallbacks = int(bf.get("consecutive_fallbacks", 2))
        self.rephrase_loop = int(bf.get("rephrase_loop", 3))
        self.loop_exempt = set(bf.get("loop_exempt_intents") or [])

        self.policy_topics = []
        for name, topic in (config.get("policy_topics") or {}).items():
            regex = _phrase_regex(topic.get("keywords") or [])
            if regex is not None:
                self.policy_topics.append((name, topic.get("team", "general"), regex))

        self.intent_team = {}
        for team, intents in (config.get("teams") or {}).items():
            for intent in intents or []:
                self.intent_team[intent] = team

    @property
    def turns_needed(self) -> int:
        """How many recent visitor turns a decision can depend on."""
        return max(self.window, self.consecutive_fallbacks, self.rephrase_loop, 1)

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "EscalationDetector":
        """Load the rules; ``path`` defaults to ``data/escalation.yml`` of this project."""
        path = Path(path) if path else DEFAULT_CONFIG_PATH
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        logger.info("escalation rules loaded from %s", path)
        return cls(config)

    # -- single-message signals -------------------------------------------------

    def sentiment(self, text: str) -> float:
        """VADER compound score, -1 (very negative) .. +1 (very positive)."""
        return float(self._vader.polarity_scores(text)["compound"]) if text else 0.0

    def is_shouting(self, text: str) -> bool:
        letters = [c for c in text if c.isalpha()]
        if len(letters) < self.shout_min_letters:
            return False
        return sum(c.isupper() for c in letters) / len(letters) >= self.shout_ratio

    def signals(self, text: str) -> Signals:
        """Frustration points of one message and what earned them."""
        if text.startswith("/"):  # a button payload, not words
            return Signals(0.0, 0, ())
        compound = self.sentiment(text)
        points, reasons = 0, []
        if compound <= self.strong_negative:
            points += 2
            reasons.append(f"strongly negative sentiment {compound:.2f}")
        elif compound <= self.negative:
            points += 1
            reasons.append(f"negative sentiment {compound:.2f}")
        if self.insults is not None and self.insults.search(text):
            points += 2
            reasons.append("insult")
        if self.is_shouting(text):
            points += 1
            reasons.append("shouting")
        if self.exclamations > 0 and "!" * self.exclamations in text:
            points += 1
            reasons.append("exclamation marks")
        if self.markers is not None and self.markers.search(text):
            points += 1
            reasons.append("complaint wording")
        return Signals(compound, points, tuple(reasons))

    def policy_topic(self, text: str) -> tuple[str, str] | None:
        """(topic name, team) of the first policy topic the text mentions."""
        for name, team, regex in self.policy_topics:
            if regex.search(text):
                return name, team
        return None

    def requests_human(self, turn: Turn) -> str | None:
        """Why this turn counts as a request for a person, or None."""
        if turn.intent in self.human_intents and turn.confidence >= self.human_min_confidence:
            return f"intent {turn.intent} ({turn.confidence:.2f})"
        for pattern in self.human_patterns:
            if pattern.search(turn.text):
                return "asked for a person"
        return None

    # -- the decision -----------------------------------------------------------

    def team(self, turns: list[Turn]) -> str:
        """The team of the latest turn whose intent names a topic, else general."""
        for turn in reversed(turns):
            if turn.intent in self.intent_team:
                return self.intent_team[turn.intent]
        return "general"

    def assess(self, conversation: Conversation | list[Turn]) -> Decision | None:
        """The escalation the latest visitor message calls for, or None to stay with the bot."""
        turns = conversation.turns if isinstance(conversation, Conversation) else conversation
        if not turns:
            return None
        latest = turns[-1]

        topic = self.policy_topic(latest.text)
        if topic is not None:
            return Decision("policy_topic", topic[1], f"policy topic {topic[0]}")

        why = self.requests_human(latest)
        if why is not None:
            return Decision("human_requested", self.team(turns), why)

        signals = self.signals(latest.text)
        if signals.points >= self.escalate_at:
            return Decision("frustration", self.team(turns),
                            f"{'; '.join(signals.reasons)} ({signals.points} points)")
        if signals.points >= 1:
            recent = turns[-self.window:]
            earlier = [self.signals(t.text) for t in recent[:-1]]
            total = signals.points + sum(s.points for s in earlier)
            if total >= self.window_escalate_at:
                upset = 1 + sum(1 for s in earlier if s.points)
                return Decision("frustration", self.team(turns),
                                f"{'; '.join(signals.reasons)}; {upset} upset messages in the "
                                f"last {len(recent)} ({total} points)")

        failed = 0
        for turn in reversed(turns):
            if not turn.failed:
                break
            failed += 1
        if failed >= self.consecutive_fallbacks:
            return Decision("bot_failure", self.team(turns), f"{failed} fallbacks in a row")

        if self.rephrase_loop > 1 and latest.intent and latest.intent not in self.loop_exempt \
                and latest.intent != FALLBACK_INTENT and len(turns) >= self.rephrase_loop:
            # Same intent about the same things; "where is 10021 ... and 10022" is no loop.
            if all(t.intent == latest.intent and t.entities == latest.entities
                   for t in turns[-self.rephrase_loop:]):
                return Decision("bot_failure", self.team(turns),
                                f"same question ({latest.intent}) {self.rephrase_loop} times in a row")
        return None

    @staticmethod
    def summary(decision: Decision, conversation: Conversation,
                slots: Mapping[str, Any] | None = None) -> str:
        """One line for the agent: why, about what, and how far the bot got."""
        slots = slots or {}
        turns = conversation.turns
        about = next((t.intent for t in reversed(turns)
                      if t.intent in LABELS and t.intent != "request_human"), None)
        opening = {
            "human_requested": "Visitor asked for a person",
            "frustration": "Visitor is upset",
            "bot_failure": "Bot could not understand the visitor",
            "policy_topic": f"Policy topic ({decision.detail.removeprefix('policy topic ')})",
        }.get(decision.reason, decision.reason)
        parts = [opening]
        if about:
            parts.append(f"about {label(about)}")
        if slots.get("order_number"):
            parts.append(f"(order #{slots['order_number']})")
        if slots.get("product"):
            parts.append(f"(product: {slots['product']})")
        text = " ".join(parts)
        failed = sum(1 for t in turns if t.failed)
        tail = f"after {conversation.bot_messages} bot answers"
        if failed:
            tail += f", {failed} not understood"
        shown = slots.get("kb_articles_shown") or []
        if shown:
            tail += f", articles shown: {', '.join(shown)}"
        return f"{text}; {tail}"

"""Rules shared by every store implementation, so that both behave the same way.

Kept out of base.py (the contract) on purpose: these are implementation helpers, not
part of the interface the bridge programs against.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .base import STATES, Conversation

CONVERSATION_FIELDS = frozenset(f.name for f in dataclasses.fields(Conversation))

# How many pick-ups a store keeps for wait estimates; older ones are dropped.
PICKUPS_KEPT = 1000


def check_changes(changes: dict[str, Any]) -> None:
    """Refuse changes a store must never apply: unknown fields, the id, unknown states.

    Raising here (rather than silently ignoring) catches typos in the caller early.
    """
    unknown = set(changes) - CONVERSATION_FIELDS
    if unknown:
        raise ValueError(f"unknown conversation fields: {sorted(unknown)}")
    if "id" in changes:
        raise ValueError("a conversation's id cannot change")
    if "state" in changes:
        check_state(changes["state"])


def check_release_changes(changes: dict[str, Any]) -> None:
    """Changes release_to accepts: those of check_changes except the state, which
    release_to sets itself (as it clears agent_id)."""
    check_changes(changes)
    if "state" in changes:
        raise ValueError("release_to sets the state itself: pass new_state")


def check_state(state: str) -> None:
    """Refuse a state that is not one of base.STATES."""
    if state not in STATES:
        raise ValueError(f"unknown conversation state {state!r}; expected one of {STATES}")


def check_priority(priority: int) -> None:
    """Queue priorities are small integers (see base.Store.enqueue)."""
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"priority must be an int, not {priority!r}")

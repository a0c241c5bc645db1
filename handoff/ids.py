"""Identifiers the bridge hands out: unguessable session ids, sortable message ids."""
from __future__ import annotations

import itertools
import os
import secrets
import time

_counter = itertools.count()


def new_session_id() -> str:
    """A visitor session (= conversation) id; unguessable, so it can be the only secret."""
    return secrets.token_urlsafe(24)


def new_message_id() -> str:
    """A message id, unique across bridge processes (time, process, counter, randomness)."""
    return f"m{time.time_ns():x}{os.getpid() % 4096:03x}{next(_counter) % 65536:04x}{secrets.token_hex(3)}"


def new_ticket_id() -> str:
    """A short ticket reference for a visitor who left an email address."""
    return "T-" + secrets.token_hex(4).upper()

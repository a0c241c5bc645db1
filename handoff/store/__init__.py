"""Bridge state stores: pick one from a URL.

`open_store(None)`, `open_store("")` or `open_store("memory://")` give the embedded store
(one process, nothing shared, lost on restart); `open_store("redis://...")` (or
`rediss://`, `unix://`) gives the Redis store, which several bridge processes share.
The returned store is not connected yet: the caller awaits `store.start()`.
"""
from __future__ import annotations

from .base import STATES, AgentStatus, Conversation, Message, Store, StoreError
from .memory import EmbeddedStore

__all__ = ["STATES", "AgentStatus", "Conversation", "EmbeddedStore", "Message", "Store",
           "StoreError", "open_store"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(url: str | None, *, prefix: str = "handoff:") -> Store:
    """A store for `url` (see module docstring); `prefix` namespaces the Redis keys.

    Raises ValueError for any other scheme, so a typo never silently falls back to the
    one-process store.
    """
    if not url or url == "memory://":
        return EmbeddedStore()
    if url.startswith(REDIS_SCHEMES):
        from .redis import RedisStore
        return RedisStore(url, prefix=prefix)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(f"unsupported store URL scheme {scheme!r}: use memory:// or redis://")

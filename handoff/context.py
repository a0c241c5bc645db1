"""The bridge's parts in one object, shared by the HTTP handlers and the namespaces.

create_app builds it empty (no I/O at import or build time) and the startup contexts
fill in the parts that need connections (store, Rasa client, router).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import socketio

    from .directory import Directory
    from .kb import Suggestions
    from .limits import Limits
    from .metrics import Metrics
    from .outbox import Outbox
    from .rasa import RasaClient
    from .routing import Router
    from .settings import Settings
    from .store.base import Store


@dataclass
class Bridge:
    settings: "Settings"
    metrics: "Metrics"
    sio: "socketio.AsyncServer"
    outbox: "Outbox"
    directory: "Directory"
    kb: "Suggestions"
    store: "Store" = None  # type: ignore[assignment]
    rasa: "RasaClient" = None  # type: ignore[assignment]
    router: "Router" = None  # type: ignore[assignment]
    limits: "Limits" = None  # type: ignore[assignment]
    extra: dict[str, Any] = field(default_factory=dict)


BRIDGE = web.AppKey("bridge", Bridge)

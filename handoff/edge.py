"""Where errors become wire errors, for Socket.IO handlers.

`socket_edge` wraps a namespace handler: a HandoffError becomes an ``error`` event to
the socket AND an ack ``{"ok": false, "error": {"code", "message"}}``; a store failure
becomes ``unavailable``; anything unexpected is logged with its traceback and reported
as ``unavailable`` too, so no client input can crash a handler or leak internals.
(The HTTP side does the same in handoff.http_errors.)
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable

from .errors import HandoffError, Unavailable
from .store.base import StoreError

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


def as_handoff_error(exc: BaseException) -> HandoffError:
    if isinstance(exc, HandoffError):
        return exc
    if isinstance(exc, StoreError):
        log.warning("store failure: %s", exc)
        return Unavailable("the bridge's store is not answering; try again")
    log.error("unexpected error in a handler", exc_info=exc)
    return Unavailable("something went wrong on our side; try again")


def socket_edge(fn: Handler | None = None, *, error_event: bool = True) -> Any:
    """Wrap `async def on_x(self, sid, data)`; tolerate a missing or extra argument.

    error_event=False answers failures in the ack only (for agent events the console
    always sends with an ack, so it does not show the same failure twice)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(self: Any, sid: str, *args: Any) -> Any:
            data = args[0] if args else None
            try:
                return await handler(self, sid, data)
            except Exception as exc:  # noqa: BLE001 - the edge: everything is reported
                error = as_handoff_error(exc)
            self.metrics.errors.labels(code=error.code).inc()
            if error_event:
                await self.emit("error", error.to_dict(), to=sid)
            return {"ok": False, "error": error.to_dict()}

        return wrapper

    return decorate(fn) if fn is not None else decorate

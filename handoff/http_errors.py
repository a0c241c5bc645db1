"""Where errors become wire errors, for HTTP: every error is ``{"error": {"code",
"message"}}`` with its status (400, 401, 403, 404, 413, 429, 503), and requests to the
API and Socket.IO from origins outside the allow-list are refused (403) before any
handler runs (static files are public: the widget is embedded in other sites' pages).
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from .context import BRIDGE
from .edge import as_handoff_error
from .errors import Forbidden, HandoffError
from .net import origin_allowed

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GUARDED_PREFIXES = ("/api/", "/socket.io/")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "bad_request", 413: "too_large", 429: "rate_limited", 503: "unavailable"}


def error_response(error: HandoffError) -> web.Response:
    return web.json_response({"error": error.to_dict()}, status=error.status)


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    origin = request.headers.get("Origin")
    guarded = request.path.startswith(GUARDED_PREFIXES)   # static files are public
    if guarded and not origin_allowed(origin, _own_origin(request), bridge.settings.allowed_origins):
        bridge.metrics.errors.labels(code="forbidden").inc()
        return error_response(Forbidden("origin not allowed"))
    if request.path.startswith("/socket.io/"):
        return await handler(request)   # engine.io answers CORS itself (same allow-list)
    cross = guarded and bool(origin) and origin.rstrip("/") != _own_origin(request)
    if cross and request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = HTTP_CODES.get(exc.status, "bad_request")
            bridge.metrics.errors.labels(code=code).inc()
            response = web.json_response({"error": {"code": code, "message": exc.reason}},
                                         status=exc.status)
        except Exception as exc:  # noqa: BLE001 - the edge
            error = as_handoff_error(exc)
            bridge.metrics.errors.labels(code=error.code).inc()
            response = error_response(error)
    if cross:
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Vary"] = "Origin"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response

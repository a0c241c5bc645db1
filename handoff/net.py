"""Client addresses and origins, from aiohttp requests and Socket.IO environs."""
from __future__ import annotations

from typing import Any

from aiohttp import web


def request_ip(request: web.Request, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def environ_ip(environ: dict[str, Any], trust_proxy: bool) -> str:
    """The client's IP for a Socket.IO connection (engine.io's aiohttp environ carries the
    aiohttp request; its REMOTE_ADDR is a placeholder)."""
    request = environ.get("aiohttp.request")
    if isinstance(request, web.BaseRequest):
        return request_ip(request, trust_proxy)  # type: ignore[arg-type]
    if trust_proxy and environ.get("HTTP_X_FORWARDED_FOR"):
        return environ["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
    return environ.get("REMOTE_ADDR", "unknown")


def origin_allowed(origin: str | None, own_origin: str | None, allowed: list[str]) -> bool:
    """No Origin header (not a browser), our own origin, or one of the allow-list."""
    if not origin:
        return True
    if "*" in allowed:
        return True
    if own_origin and origin.rstrip("/") == own_origin.rstrip("/"):
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in allowed}

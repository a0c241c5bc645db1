"""Liveness (/healthz: the process answers) and readiness (/readyz: the store answers a
ping and at least one Rasa server answers GET /status; the body lists each server),
plus Prometheus /metrics."""
from __future__ import annotations

import asyncio

from aiohttp import web

from .context import BRIDGE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]

    async def store_ok() -> bool:
        try:
            return bool(await asyncio.wait_for(bridge.store.ping(), 3))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False

    store, servers = await asyncio.gather(store_ok(), bridge.rasa.servers())
    rasa = any(server["ok"] for server in servers)
    ok = store and rasa
    return web.json_response({"ok": ok, "store": store, "rasa": rasa, "rasa_servers": servers,
                              "store_kind": "redis" if bridge.settings.uses_redis else "embedded"},
                             status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]
    try:
        await bridge.metrics.refresh(bridge.store)
    except Exception:  # noqa: BLE001 - still serve the counters we have
        pass
    return web.Response(body=bridge.metrics.render(),
                        headers={"Content-Type": bridge.metrics.content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

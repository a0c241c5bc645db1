"""create_app(settings): the bridge as one aiohttp application. Only wiring here.

One port serves Socket.IO (visitors on ``/``, agents on ``/agent``), the HTTP API,
the widget's static files, /healthz, /readyz and /metrics. Connections are made in
cleanup contexts, in order: the store, the HTTP session for Rasa (and the router that
needs both), the background watchdog; they are closed in reverse order on shutdown.
With a Redis store the Socket.IO server uses python-socketio's AsyncRedisManager, so
emits reach sockets held by any bridge process sharing that Redis.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import AsyncIterator

import aiohttp
import socketio
from aiohttp import web

from . import health, http_api, static
from .console import AgentNamespace
from .context import BRIDGE, Bridge
from .directory import Directory
from .http_errors import errors_middleware
from .kb import Suggestions
from .limits import Limits
from .metrics import Metrics
from .net import origin_allowed
from .outbox import Outbox
from .rasa import RasaClient
from .routing import Router
from .settings import Settings
from .store import open_store
from .visitors import VisitorNamespace

log = logging.getLogger(__name__)


def _checked_secret(settings: Settings) -> Settings:
    """A token secret is required in prod; in dev a random one is made (with a warning)."""
    if settings.secret:
        return settings
    if settings.environment != "dev":
        raise ValueError("HANDOFF_SECRET must be set when HANDOFF_ENVIRONMENT is not dev")
    log.warning("HANDOFF_SECRET is empty: using a random secret for this process; agent tokens "
                "will not survive a restart nor work across several bridge processes")
    return settings.model_copy(update={"secret": secrets.token_urlsafe(48)})


class RedisManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, re-subscribing quickly after a Redis outage.

    The stock listener doubles its wait after each failed attempt up to 60 s, so after a
    long outage emits from other bridge processes could stay lost for up to a minute
    after Redis is back. Here the wait is capped at RETRY_MAX_S (docs/reliability.md:
    the bridge recovers within 5 s of Redis returning)."""

    RETRY_MAX_S = 1.0

    async def _redis_listen_with_retries(self):  # pragma: no cover - exercised by tests/reliability
        retry_sleep = 0.1
        subscribed = False
        while True:
            try:
                if not subscribed:
                    old = getattr(self, "redis", None)
                    self._redis_connect()
                    if old is not None and old is not self.redis:
                        with contextlib.suppress(Exception):
                            await old.aclose()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = 0.1
                    log.info("Socket.IO manager subscribed to Redis channel %s", self.channel)
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep trying while Redis is away
                log.warning("Socket.IO manager lost Redis (%s); retrying in %.1fs", exc, retry_sleep)
                subscribed = False
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, self.RETRY_MAX_S)


def _socketio_server(settings: Settings) -> socketio.AsyncServer:
    manager = None
    if settings.uses_redis:
        manager = RedisManager(settings.store_url, channel=settings.socketio_channel)

    def cors(origin: str | None, environ: dict) -> bool:
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin_allowed(origin, own, settings.allowed_origins)

    return socketio.AsyncServer(async_mode="aiohttp", client_manager=manager,
                                cors_allowed_origins=cors, cors_credentials=False,
                                max_http_buffer_size=settings.max_packet_bytes,
                                logger=False, engineio_logger=False)


def create_app(settings: Settings | None = None) -> web.Application:
    """The bridge application for these settings (environment when None)."""
    settings = _checked_secret(settings or Settings())
    sio = _socketio_server(settings)
    bridge = Bridge(settings=settings, metrics=Metrics(), sio=sio, outbox=Outbox(sio),
                    directory=Directory(settings.agents_file), kb=Suggestions(settings.kb_path))
    app = web.Application(client_max_size=settings.max_http_body_bytes, middlewares=[errors_middleware])
    app[BRIDGE] = bridge
    agents_ns = AgentNamespace(bridge)
    sio.register_namespace(VisitorNamespace(bridge))
    sio.register_namespace(agents_ns)
    bridge.extra["agent_namespace"] = agents_ns
    sio.attach(app, socketio_path="socket.io")
    http_api.add_routes(app)
    health.add_routes(app)
    static.add_routes(app, settings.static_dir)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_rasa_ctx)
    app.cleanup_ctx.append(_background_ctx)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    bridge = app[BRIDGE]
    store = open_store(bridge.settings.store_url, prefix=bridge.settings.store_prefix)
    await store.start()
    bridge.store = store
    bridge.limits = Limits(bridge.settings, store)
    kind = "Redis (shared by every bridge process on it)" if bridge.settings.uses_redis \
        else "embedded (this process only; lost on restart)"
    log.info("store: %s", kind)
    try:
        yield
    finally:
        await store.close()


async def _rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    bridge = app[BRIDGE]
    session = aiohttp.ClientSession()
    s = bridge.settings
    bridge.rasa = RasaClient(session, s.rasa_urls, s.rasa_token, s.rasa_timeout_s,
                             observe=bridge.metrics.observe_rasa, down_s=s.rasa_retry_down_s,
                             failover=bridge.metrics.count_rasa_failover)
    bridge.router = Router(s, bridge.store, bridge.rasa, bridge.outbox, bridge.metrics,
                           bridge.directory.get)
    bridge.router.local_agents = bridge.extra["agent_namespace"].connected_agents
    bridge.router.local_session = bridge.outbox.has_local_visitor
    try:
        await bridge.directory.accounts()
    except Exception as exc:  # noqa: BLE001 - a missing/broken file must not stop visitors
        log.error("agent accounts not loaded: %s", exc)
    try:
        yield
    finally:
        await session.close()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    bridge = app[BRIDGE]
    loop = asyncio.get_running_loop()
    watchdog = loop.create_task(bridge.router.run_watchdog())
    token_watch = loop.create_task(bridge.extra["agent_namespace"].run_token_watch())
    try:
        yield
    finally:
        for task in (watchdog, token_watch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bridge.router.cancel_all()
        await _stop_socketio(bridge.sio)


async def _stop_socketio(sio: socketio.AsyncServer) -> None:
    """Disconnect clients and stop the Redis manager's listener, if any."""
    with contextlib.suppress(Exception):
        await sio.shutdown()
    manager = sio.manager
    thread = getattr(manager, "thread", None)
    if isinstance(thread, asyncio.Task) or isinstance(thread, asyncio.Future):
        thread.cancel()
        with contextlib.suppress(BaseException):
            await thread
    redis = getattr(manager, "redis", None)
    if redis is not None:
        with contextlib.suppress(Exception):
            await redis.aclose()

"""``python -m handoff``: run the bridge with the settings from the environment."""
from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from pydantic import ValidationError

from .app import create_app
from .settings import Settings


def _event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The loop the bridge runs on: uvloop unless the settings ask for asyncio's own."""
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("handoff")
    if settings.uses_redis:
        log.info("store: Redis at %s (shared by every bridge process on it)",
                 settings.store_url.split("@")[-1])
    else:
        log.info("store: embedded (this process only; state is lost on restart; "
                 "set HANDOFF_STORE_URL=redis://... to share)")
    try:
        app = create_app(settings)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    log.info("bridge listening on http://%s:%d (Rasa at %s; %s event loop)", settings.host, settings.port,
             settings.rasa_url, settings.event_loop)
    web.run_app(app, host=settings.host, port=settings.port, print=None, loop=_event_loop(settings.event_loop))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m handoff``: run the bridge with the settings from the environment."""
from __future__ import annotations

import logging
import sys

from aiohttp import web

from .app import create_app
from .settings import Settings


def main() -> int:
    settings = Settings()
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
    log.info("bridge listening on http://%s:%d (Rasa at %s)", settings.host, settings.port, settings.rasa_url)
    web.run_app(app, host=settings.host, port=settings.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

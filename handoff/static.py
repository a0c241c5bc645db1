"""The widget's static files, served from the bridge's own port (settings.static_dir,
default widget/): the demo shop page at /, /widget.js, the agent console at /console/,
/demo/<file>, /vendor/<file> (the socket.io client). Missing files are 404s; paths
that try to leave their directory are 404s too.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .errors import NotFound

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                    "X-Frame-Options": "SAMEORIGIN"}


def _serve(root: Path, relative: str) -> web.FileResponse:
    base = root.resolve()
    target = (base / relative).resolve()
    if base not in target.parents and target != base:
        raise NotFound("no such file")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        raise NotFound("no such file")
    response = web.FileResponse(target)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


def add_routes(app: web.Application, static_dir: str) -> None:
    root = Path(static_dir)
    root = root if root.is_absolute() else PROJECT_ROOT / root

    async def index(request: web.Request) -> web.StreamResponse:
        return _serve(root / "demo", "index.html")

    async def widget_js(request: web.Request) -> web.StreamResponse:
        return _serve(root, "widget.js")

    async def console_index(request: web.Request) -> web.StreamResponse:
        return _serve(root / "console", "index.html")

    async def console_redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    def subdir(name: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            return _serve(root / name, request.match_info["path"])
        return handler

    app.router.add_get("/", index)
    app.router.add_get("/widget.js", widget_js)
    app.router.add_get("/console", console_redirect)
    app.router.add_get("/console/", console_index)
    for name in ("console", "demo", "vendor"):
        app.router.add_get(f"/{name}/{{path:.+}}", subdir(name))

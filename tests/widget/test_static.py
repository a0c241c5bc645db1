"""The static files: served by the bridge on the documented routes, and free of the
APIs that turn data into markup or code."""
from __future__ import annotations

import re
import urllib.request

import pytest

from tests.support.processes import PROJECT_ROOT

WIDGET = PROJECT_ROOT / "widget"
OUR_SCRIPTS = [WIDGET / "widget.js", WIDGET / "console" / "console.js", WIDGET / "console" / "dashboard.js"]
FORBIDDEN = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                       r"setTimeout\(\s*['\"`]|createContextualFragment|srcdoc")


@pytest.mark.parametrize("path", OUR_SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_build_markup_or_code_from_strings(path):
    assert not FORBIDDEN.findall(path.read_text(encoding="utf-8"))


def test_widget_is_ascii_so_any_host_page_encoding_reads_it():
    (WIDGET / "widget.js").read_bytes().decode("ascii")


def test_vendored_socketio_client_and_license():
    bundle = (WIDGET / "vendor" / "socket.io.min.js").read_text(encoding="utf-8")
    assert bundle.startswith("/*!\n * Socket.IO v4.")
    license_text = (WIDGET / "vendor" / "socket.io.LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in license_text and "socket.io-client 4." in license_text


@pytest.mark.parametrize("path, kind, marker", [
    ("/", "text/html", "Trailhead Supply Co."),
    ("/widget.js", "javascript", "window.SupportLine"),
    ("/vendor/socket.io.min.js", "javascript", "Socket.IO v4"),
    ("/console/", "text/html", "Agent console"),
    ("/console/console.js", "javascript", "/api/agent/login"),
    ("/console/console.css", "text/css", ".queue-item"),
    ("/console/canned-responses.json", "json", "title"),
    ("/console/dashboard.html", "text/html", "Dashboard"),
    ("/console/dashboard.js", "javascript", "/api/analytics"),
    ("/demo/shop.css", "text/css", ".hero"),
])
def test_bridge_serves_the_static_routes(bridge, path, kind, marker):
    with urllib.request.urlopen(bridge.url + path, timeout=10) as response:
        assert response.status == 200
        assert kind in response.headers["Content-Type"]
        assert marker in response.read().decode("utf-8")

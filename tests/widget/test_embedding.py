"""Embedding: the widget keeps its look on a hostile host page (Shadow DOM), does not
touch the page (styles, the page's own `io` global), starts once, and is usable with
the keyboard, with ARIA roles, at 360 px wide."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.widget.conftest import Widget

HOSTILE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile host</title>
<style>
  * { all: unset !important; font-family: "Comic Sans MS", cursive !important; font-size: 40px !important;
      color: red !important; line-height: 5 !important; letter-spacing: 4px !important;
      text-transform: uppercase !important; box-sizing: content-box !important; }
  html { font-size: 5px !important; }
  head, style, script { display: none !important; }
  div, section, button, span, textarea, form, h2 { display: none !important; background: lime !important;
      border: 10px dashed blue !important; padding: 50px !important; margin: 30px !important; }
  body { display: block !important; transform: scale(0.5) !important; filter: blur(1px) !important;
         direction: rtl !important; visibility: hidden !important; opacity: .2 !important; }
  supportline-widget { display: none !important; position: static !important; width: 10px !important;
                       opacity: 0 !important; transform: rotate(45deg) !important; }
  .launcher, .panel, .bubble, .msg, #sl-panel, #sl-input, .sl { display: none !important; }
  :root { --sl-primary: red !important; --sl-text: lime !important; }
</style></head>
<body><div class="panel msg launcher">host content</div>
<script>window.io = "the page's own io";</script>
<script>window.SupportLineConfig = {title: "Trailhead Support", colors: {primary: "#2f6b4f"}};</script>
<script src="/widget.js"></script>
</body></html>"""

PLAIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Plain host</title>
<style>.panel { background: rgb(1, 2, 3); position: relative; }</style></head>
<body><div class="panel msg launcher" id="host-panel">host content</div>
<script>window.io = "the page's own io";</script>
<script>window.SupportLineConfig = {title: "Trailhead Support", colors: {primary: "#2f6b4f"}};</script>
<script src="/widget.js"></script>
<script src="/widget.js"></script>
</body></html>"""

MEASURE = """() => {
  const root = document.querySelector('supportline-widget').shadowRoot;
  const pick = (selector) => {
    const node = root.querySelector(selector);
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    return {box: [box.x, box.y, box.width, box.height].map(Math.round),
            font: [style.fontFamily, style.fontSize, style.lineHeight, style.letterSpacing, style.textTransform],
            colors: [style.color, style.backgroundColor], display: style.display, visibility: style.visibility,
            opacity: style.opacity};
  };
  return {launcher: pick('.launcher'), panel: pick('.panel'), header: pick('.header'), input: pick('#sl-input'),
          bubble: pick('.msg[data-sender="visitor"] .bubble'), botBubble: pick('.msg[data-sender="bot"] .bubble'),
          title: pick('.title')};
}"""


def _serve(page, url, html):
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))


def _render(new_context, bridge, html, name):
    page = new_context(viewport={"width": 1280, "height": 800}).new_page()
    url = f"{bridge.url}/{name}.html"
    _serve(page, url, html)
    widget = Widget(page).goto(url).open()
    widget.wait_connected()
    widget.send("hello from the host page")
    expect(widget.bubble("bot", "echo: hello from the host page")).to_be_visible()
    page.wait_for_timeout(300)
    return widget


def test_hostile_page_css_does_not_change_the_widget(bridge, fake_rasa, new_context):
    plain = _render(new_context, bridge, PLAIN_PAGE, "plain-host")
    hostile = _render(new_context, bridge, HOSTILE_PAGE, "hostile-host")
    expected = plain.page.evaluate(MEASURE)
    actual = hostile.page.evaluate(MEASURE)
    assert actual == expected
    assert expected["launcher"]["colors"][1] == "rgb(47, 107, 79)"
    assert expected["bubble"]["font"][1] == "14px"
    assert expected["panel"]["visibility"] == "visible" and expected["panel"]["opacity"] == "1"
    host_style = hostile.page.evaluate("() => { const s = getComputedStyle(document.querySelector('supportline-widget'));"
                                       " return [s.display, s.opacity, s.transform, s.position]; }")
    assert host_style == ["block", "1", "none", "fixed"]


def test_widget_does_not_touch_the_host_page(bridge, fake_rasa, new_context):
    plain = _render(new_context, bridge, PLAIN_PAGE, "plain-host")
    page = plain.page
    host = page.evaluate("""() => { const s = getComputedStyle(document.getElementById('host-panel'));
        return [s.backgroundColor, s.position, s.display, s.borderRadius]; }""")
    assert host == ["rgb(1, 2, 3)", "relative", "block", "0px"]
    assert page.evaluate("() => window.io") == "the page's own io"
    assert page.evaluate("() => document.querySelectorAll('supportline-widget').length") == 1
    assert page.evaluate("() => { window.SupportLine.init({title: 'again'}); "
                         "return document.querySelectorAll('supportline-widget').length; }") == 1
    assert page.evaluate("() => { try { window.SupportLine = null; } catch (e) {} return typeof window.SupportLine.init; }") == "function"
    assert page.evaluate("() => Object.keys(window).filter(k => /supportline/i.test(k))") == ["SupportLineConfig"]
    page.evaluate("() => window.SupportLine.destroy()")
    assert page.evaluate("() => document.querySelectorAll('supportline-widget').length") == 0
    page.evaluate("() => window.SupportLine.init({title: 'Again'})")
    expect(page.locator("supportline-widget .title")).to_have_text("Again")


def test_keyboard_aria_and_360px(bridge, fake_rasa, widget_page):
    widget = widget_page(bridge.url + "/", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = widget.page
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    widget.launcher.focus()
    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.launcher).to_have_attribute("aria-expanded", "true")
    expect(widget.panel).to_have_attribute("role", "dialog")
    expect(widget.log).to_have_attribute("role", "log")
    expect(widget.status).to_have_attribute("role", "status")
    expect(widget.input).to_be_focused()
    widget.wait_connected()

    long_word = "x" * 300
    page.keyboard.type(f"keyboard only {long_word}")
    page.keyboard.press("Enter")
    expect(widget.bubble("bot", "echo: keyboard only")).to_be_visible()
    box = widget.panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["width"] >= 340
    overflow = page.evaluate("() => { const log = document.querySelector('supportline-widget').shadowRoot"
                             ".querySelector('.log'); return log.scrollWidth - log.clientWidth; }")
    assert overflow <= 0
    for locator in (widget.input, widget.host.locator(".send"), widget.host.locator(".icon-btn")):
        b = locator.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= 360
    buttons = widget.host.locator("button")
    for i in range(buttons.count()):
        name = buttons.nth(i).get_attribute("aria-label") or buttons.nth(i).inner_text()
        assert name.strip(), "a button without an accessible name"

    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    assert page.evaluate("() => document.querySelector('supportline-widget').shadowRoot.activeElement.className") == "launcher"


def test_bot_typing_and_unread_badge_while_closed(bridge, fake_rasa, widget_page):
    widget = widget_page(bridge.url + "/").open()
    widget.wait_connected()
    fake_rasa.delay = 1.5
    widget.send("answer me later")
    expect(widget.typing).to_contain_text("The assistant is typing")
    widget.host.locator(".icon-btn").click()
    expect(widget.panel).to_be_hidden()
    badge = widget.host.locator(".badge")
    expect(badge).to_have_text("1")
    expect(widget.launcher).to_have_attribute("aria-label", re.compile("1 unread"))
    widget.launcher.click()
    expect(badge).to_be_hidden()
    expect(widget.bubble("bot", "echo: answer me later")).to_be_visible()


def test_german_strings_and_config(bridge, fake_rasa, new_context):
    page = new_context(locale="de-DE").new_page()
    url = f"{bridge.url}/de.html"
    _serve(page, url, """<!doctype html><html><body>
        <script src="/widget.js"></script>
        <script>SupportLine.init({language: "de", title: "Hilfe", position: "bottom-left",
            greeting: "Hallo!", colors: {primary: "rgb(10, 20, 30)", agentBubble: "not a colour"}});</script>
        </body></html>""")
    widget = Widget(page).goto(url).open()
    expect(widget.input).to_have_attribute("placeholder", "Nachricht schreiben…")
    expect(widget.host.locator(".title")).to_have_text("Hilfe")
    expect(widget.bubble("bot", "Hallo!")).to_be_visible()
    assert widget.launcher.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(10, 20, 30)"
    box = widget.launcher.bounding_box()
    assert box["x"] < 100


def test_cross_origin_embedding_with_an_allowed_origin(make_bridge, fake_rasa, new_context, host_site):
    bridge = make_bridge(fake_rasa.url, fake_rasa.token, allowed_origins=[host_site.url])
    host_site.pages["/shop.html"] = f"""<!doctype html><html><head><meta charset="utf-8"></head><body>
        <h1>Another shop</h1>
        <script>window.SupportLineConfig = {{title: "Shop help"}};</script>
        <script src="{bridge.url}/widget.js" async></script></body></html>"""
    widget = Widget(new_context().new_page()).goto(host_site.url + "/shop.html").open()
    session = widget.wait_connected()
    widget.send("hello across origins")
    expect(widget.bubble("bot", "echo: hello across origins")).to_be_visible()
    widget.input.fill("refund status")
    expect(widget.suggestions.locator("li").first).to_be_visible()
    assert bridge.conversation(session).page_url == host_site.url + "/shop.html"


def test_cross_origin_embedding_from_a_foreign_origin_is_refused(bridge, fake_rasa, new_context, host_site):
    host_site.pages["/evil.html"] = f"""<!doctype html><html><body>
        <script src="{bridge.url}/widget.js"></script>
        <script>SupportLine.init({{}});</script></body></html>"""
    widget = Widget(new_context().new_page()).goto(host_site.url + "/evil.html").open()
    expect(widget.conn).to_contain_text("Reconnecting")
    assert widget.session_id is None

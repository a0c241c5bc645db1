"""The dashboard's designer breakdowns in real Chromium (issue #7): handoffs by intent,
fallbacks by the classifier's best guess and articles shown before a handoff, from a
conversation held in the widget (against the fake Rasa) plus seeded records; intent
names and article ids from the XSS corpus stay inert text."""
from __future__ import annotations

import time

from playwright.sync_api import expect

from handoff.store.base import Conversation
from tests.widget.harness import wait_until
from tests.widget.test_xss import PAYLOADS

CLARIFY = "Sorry, I'm not sure I understood. Did you mean one of these?"
IMG = '<img src=x onerror="window.__xss=1">'
TITLE = "</title><script>window.__xss=1</script>"
SVG = "<svg onload=window.__xss=1>"
ARTICLES = [f"a-{i:02d}" for i in range(1, 12)]
CHART_TAGS = {"figure", "figcaption", "span", "div", "p", "svg", "g", "title", "text", "rect",
              "line", "polyline"}

INSPECT = """([root, allowed]) => {
  const bad = [];
  for (const node of root.querySelectorAll("*")) {
    const tag = node.tagName.toLowerCase();
    if (!allowed.includes(tag)) bad.push(`<${tag}>`);
    for (const attr of node.attributes) if (/^on/i.test(attr.name)) bad.push(`${tag}@${attr.name}`);
  }
  return bad;
}"""


def _seed(bridge) -> None:
    now = time.time() - 60

    def fallback(intent):
        return {"message_id": "m", "intent": intent, "confidence": 0.2, "ts": now}

    async def seed() -> None:
        await bridge.bridge.store.create_conversation(Conversation(
            id="seed-1", state="closed", created_at=now, reason="frustration", queued_at=now,
            meta={"escalation_intent": "order_status", "articles_shown": ["returns-policy", IMG],
                  "fallbacks": [fallback("refund_status"), fallback(TITLE)]}))
        await bridge.bridge.store.create_conversation(Conversation(
            id="seed-2", state="closed", created_at=now, reason="frustration", queued_at=now,
            meta={"escalation_intent": SVG, "articles_shown": ARTICLES}))
    bridge.loop.run(seed())


def _bars(page, chart: str) -> list[tuple[str, str, str]]:
    """(label shown, value shown, tooltip) of each bar of a chart."""
    return [tuple(bar) for bar in page.locator(f"{chart} g.bar").evaluate_all(
        "bars => bars.map(b => [b.querySelector('.bar-label').textContent,"
        " b.querySelector('.bar-value').textContent, b.querySelector('title').textContent])")]


def test_dashboard_shows_intents_fallbacks_and_articles_as_text(bridge, fake_rasa, widget_page,
                                                               console_page):
    assert {IMG, TITLE, SVG} <= set(PAYLOADS)
    fake_rasa.replies["wibble"] = [{"text": CLARIFY}, fake_rasa.fallback("refund_status", 0.21)]
    fake_rasa.replies["a person please"] = [
        {"text": "Of course."},
        fake_rasa.handoff("human_requested", "orders", intent="request_human", articles=["returns-policy"])]
    widget = widget_page(bridge.url + "/").open()
    session = widget.wait_connected()
    widget.send("wibble")
    expect(widget.bubble("bot", CLARIFY)).to_be_visible()
    widget.send("a person please")
    wait_until(lambda: bridge.conversation(session).state == "queued", 15, "the handoff")
    expect(widget.bubble("bot", "Of course.")).to_be_visible()
    # the reports were never shown: after the widget's greeting, exactly the bot's two texts
    greeting, *replies = widget.texts("bot")
    assert greeting.startswith("Hi!") and replies == [CLARIFY, "Of course."]
    _seed(bridge)

    console = console_page(bridge.url)
    page = console.page
    page.goto(bridge.url + "/console/dashboard.html")
    expect(page.locator("#chart-handoff-intents g.bar")).to_have_count(3)
    expect(page.locator("#chart-handoff-intents .total")).to_have_text("3 handoffs")
    expect(page.locator("#chart-fallback-intents .total")).to_have_text("3 fallbacks (clarifying questions)")

    assert _bars(page, "#chart-handoff-intents") == [
        (SVG[:25] + "…", "1", f"{SVG}: 1"), ("order_status", "1", "order_status: 1"),
        ("request_human", "1", "request_human: 1")]
    # a long name is cut in the chart and whole in the tooltip
    assert _bars(page, "#chart-fallback-intents") == [
        ("refund_status", "2", "refund_status: 2"), (TITLE[:25] + "…", "1", f"{TITLE}: 1")]
    articles = _bars(page, "#chart-articles")
    assert [label for label, _, _ in articles] == ["returns-policy", IMG[:25] + "…", *ARTICLES[:8]]
    assert articles[0][1] == "2" and articles[1][2] == f"{IMG}: 1"
    expect(page.locator("#chart-articles .more")).to_have_text("and 3 more (3 in all)")

    # nothing of it became markup or ran
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    bad = page.evaluate(INSPECT, [page.evaluate_handle("() => document.querySelector('.charts')"),
                                  sorted(CHART_TAGS)])
    assert bad == [], f"injected into the dashboard: {bad[:20]}"
    assert page.evaluate("() => document.querySelectorAll('script').length") == 1

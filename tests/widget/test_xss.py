"""A corpus of classic XSS vectors (xss_payloads.txt) as visitor, bot, knowledge-base and
agent text, through the real bridge into both UIs: nothing may run, no dialog may open,
no element may be injected."""
from __future__ import annotations

from pathlib import Path

import yaml
from playwright.sync_api import expect

from tests.widget.conftest import Widget
from tests.widget.harness import wait_until

PAYLOADS = [line for line in (Path(__file__).parent / "xss_payloads.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()]

WIDGET_TAGS = {"style", "div", "span", "button", "svg", "path", "section", "h2", "h3", "h4", "form",
               "textarea", "a", "img", "ul", "li", "p", "strong", "i", "label", "input", "fieldset", "legend"}
CONSOLE_TAGS = {"html", "head", "meta", "title", "link", "body", "section", "form", "div", "h1", "h2",
                "h3", "p", "label", "input", "button", "header", "span", "nav", "a", "select", "option",
                "aside", "ul", "li", "main", "script", "details", "summary", "dl", "dt", "dd", "ol",
                "textarea", "strong", "i", "dialog", "datalist"}

INSPECT = """([root, allowed]) => {
  const bad = [];
  const ok = new Set(allowed);
  for (const node of root.querySelectorAll("*")) {
    const tag = node.tagName.toLowerCase();
    if (!ok.has(tag)) bad.push(`<${tag}>`);
    for (const attr of node.attributes) {
      if (/^on/i.test(attr.name)) bad.push(`${tag}@${attr.name}`);
      if (["href", "src", "action", "formaction", "xlink:href", "data"].includes(attr.name.toLowerCase())
          && attr.value && !/^(https?:|#|\\/)/i.test(attr.value)) bad.push(`${tag}@${attr.name}=${attr.value}`);
    }
  }
  return bad;
}"""

CANARY = "() => ({flag: typeof window.__xss, frames: window.frames.length})"


def _check_widget(widget: Widget) -> None:
    assert widget.page.evaluate(CANARY) == {"flag": "undefined", "frames": 0}
    shadow = widget.page.evaluate_handle("() => document.querySelector('supportline-widget').shadowRoot")
    bad = widget.page.evaluate(INSPECT, [shadow, sorted(WIDGET_TAGS)])
    assert bad == [], f"injected into the widget: {bad[:20]}"
    light = widget.page.evaluate("""() => ({
        scripts: document.querySelectorAll('script').length,
        handlers: [...document.querySelectorAll('*')].filter(n => [...n.attributes].some(a => /^on/i.test(a.name))).length,
        embeds: document.querySelectorAll('iframe, object, embed, img, svg').length})""")
    assert light == {"scripts": 2, "handlers": 0, "embeds": 1}  # the demo page's own logo svg


def _check_console(page) -> None:
    assert page.evaluate(CANARY) == {"flag": "undefined", "frames": 0}
    bad = page.evaluate(INSPECT, [page.evaluate_handle("() => document"), sorted(CONSOLE_TAGS)])
    assert bad == [], f"injected into the console: {bad[:20]}"
    assert page.evaluate("() => document.querySelectorAll('script').length") == 2


def test_corpus_is_large_enough():
    assert len(PAYLOADS) >= 100
    assert len(set(PAYLOADS)) == len(PAYLOADS)


def test_payloads_stay_inert_in_widget_and_console(bridge, fake_rasa, new_context, console_page, page_errors):
    for payload in PAYLOADS:
        fake_rasa.replies[payload] = [
            {"text": payload, "buttons": [{"title": payload, "payload": "/xss"}]},
            {"attachment": {"type": "image", "payload": {"src": payload}}},
            {"text": f"[{payload}]({payload}) and https://example.com/{payload}"}]
        fake_rasa.intents[payload] = ("nlu_fallback", 0.3)
    fake_rasa.replies["agent please"] = [fake_rasa.handoff(
        "human_requested", "general", detail=PAYLOADS[0] + PAYLOADS[9], summary=" ".join(PAYLOADS[:12]))]
    fake_rasa.slots = {"order_number": PAYLOADS[10], "product": PAYLOADS[24]}

    widget = Widget(new_context().new_page()).goto(bridge.url + "/").open()
    session = widget.wait_connected()
    console = console_page(bridge.url)

    for payload in PAYLOADS:
        widget.send(payload)
    wait_until(lambda: widget.messages("visitor").count() == len(PAYLOADS), 60, "the visitor messages")
    expect(widget.host.locator(".msg[data-pending]")).to_have_count(0, timeout=60_000)
    wait_until(lambda: widget.messages("bot").count() >= 1 + 2 * len(PAYLOADS), 60, "the bot answers")
    shown = widget.texts("visitor")
    assert shown == [p.strip() for p in PAYLOADS]
    _check_widget(widget)

    widget.send("agent please")
    expect(console.queue_item(session)).to_be_visible()
    _check_console(console.page)
    chat = console.claim(session)
    expect(chat.locator(".transcript .from-visitor")).to_have_count(len(PAYLOADS) + 1)
    _check_console(console.page)

    for payload in PAYLOADS:
        widget.send(payload)
    box = chat.locator(".composer textarea")
    for payload in PAYLOADS:
        box.fill(payload)
        box.press("Enter")
    wait_until(lambda: widget.messages("agent").count() == len(PAYLOADS), 60, "the agent messages")
    wait_until(lambda: chat.locator(".live .from-visitor").count() == len(PAYLOADS), 60, "live visitor messages")
    expect(chat.locator(".live .pending")).to_have_count(0)
    chat.locator(".note-toggle").check()
    for payload in PAYLOADS[:20]:
        box.fill(payload)
        box.press("Enter")
    wait_until(lambda: chat.locator(".live .from-note").count() == 20, 30, "the notes")

    assert widget.page.evaluate("() => [...document.querySelector('supportline-widget').shadowRoot"
                                ".querySelectorAll('.msg[data-sender=agent] .bubble')].map(b => b.textContent)") \
        == PAYLOADS
    _check_widget(widget)
    _check_console(console.page)

    console.page.reload()
    expect(console.chat(session)).to_be_attached()
    expect(console.chat(session).locator(".live .from-agent")).to_have_count(len(PAYLOADS))
    _check_console(console.page)
    widget.page.reload()
    widget.open()
    wait_until(lambda: widget.messages("agent").count() == len(PAYLOADS), 30, "history replay")
    _check_widget(widget)
    assert not page_errors.dialogs


def test_knowledge_base_payloads_stay_inert(make_bridge, fake_rasa, new_context, tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    groups = [PAYLOADS[i:i + 9] for i in range(0, len(PAYLOADS), 9)]
    articles = []
    for g, group in enumerate(groups):
        for a in range(0, len(group), 3):
            title, body, url = (group + group)[a:a + 3]
            articles.append({"id": f"xss-{g}-{a}", "title": title, "body": body, "url": url,
                             "keywords": [f"xsskb{g:02d}"]})
    (kb / "articles.yml").write_text(yaml.safe_dump({"articles": articles}, allow_unicode=True))
    bridge = make_bridge(fake_rasa.url, fake_rasa.token, kb_path=str(kb))

    widget = Widget(new_context().new_page()).goto(bridge.url + "/").open()
    widget.wait_connected()
    for g, group in enumerate(groups):
        widget.input.fill(f"xsskb{g:02d}")
        expected = min(3, (len(group) + 2) // 3)
        expect(widget.suggestions.locator("li > :first-child")).to_have_text(
            [group[a].strip() for a in range(0, 3 * expected, 3)])
        _check_widget(widget)

"""The agent console in real Chromium on the real bridge: login, presence, several chats,
internal notes, canned responses, flags, transfer, the new-chat beep and title badge,
visitor typing, sign out."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.widget.conftest import Console, Widget
from tests.widget.harness import AGENTS, wait_until


def _escalated_visitor(new_context, bridge, fake_rasa, text):
    fake_rasa.replies[text] = [{"text": "Let me find someone."}, fake_rasa.handoff("human_requested", "billing",
                                                                               summary=f"Visitor wrote: {text}")]
    widget = Widget(new_context().new_page()).goto(bridge.url + "/").open()
    session = widget.wait_connected()
    widget.send(text)
    expect(widget.status).to_contain_text("Connecting you to a person")
    return widget, session


def test_login_is_refused_with_a_wrong_password(bridge, new_context):
    page = new_context().new_page()
    page.goto(bridge.url + "/console/")
    page.fill("#login-username", "alice")
    page.fill("#login-password", "wrong password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    expect(page.locator("#app")).to_be_hidden()


def test_several_chats_notes_canned_flags_typing_and_sign_out(bridge, fake_rasa, new_context, console_page):
    console = console_page(bridge.url)
    page = console.page
    page.evaluate("() => { document.hasFocus = () => false; }")
    beeps_before = page.evaluate("() => window.__supportlineBeeps || 0")

    first, s1 = _escalated_visitor(new_context, bridge, fake_rasa, "I was charged twice")
    expect(console.queue_item(s1)).to_contain_text("Visitor wrote: I was charged twice")
    wait_until(lambda: page.evaluate("() => window.__supportlineBeeps || 0") > beeps_before, 5, "a beep")
    expect(page).to_have_title(re.compile(r"^\(1\) New chat"))
    second, s2 = _escalated_visitor(new_context, bridge, fake_rasa, "my invoice is wrong")
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page).to_have_title(re.compile(r"^\(2\) New chat"))
    page.evaluate("() => { document.hasFocus = () => true; window.dispatchEvent(new Event('focus')); }")
    expect(page).not_to_have_title(re.compile(r"^\("))

    chat1 = console.claim(s1)
    chat2 = console.claim(s2)
    expect(page.locator("#chats .chat-tab")).to_have_count(2)
    expect(chat2).to_be_visible()
    expect(chat1).to_be_hidden()
    first.send("are you there?")
    tab1 = page.locator(f'#chats .chat-tab[data-id="{s1}"]')
    expect(tab1.locator(".ct-unread")).to_have_text("1")
    tab1.click()
    expect(chat1).to_be_visible()
    expect(tab1.locator(".ct-unread")).to_have_count(0)
    expect(chat1.locator(".live .from-visitor").filter(has_text="are you there?")).to_be_visible()

    first.input.fill("typing something")
    expect(chat1.locator(".typing")).to_be_visible()
    first.input.fill("")
    expect(chat1.locator(".typing")).to_be_hidden()

    chat1.locator(".note-toggle").check()
    box = chat1.locator(".composer textarea")
    box.fill("customer seems legit, refund approved")
    box.press("Enter")
    expect(chat1.locator(".live .from-note")).to_contain_text("refund approved")
    chat1.locator(".note-toggle").uncheck()

    chat1.get_by_role("button", name="Canned responses").click()
    search = chat1.locator(".canned input[type=search]")
    expect(search).to_be_focused()
    search.fill("refund issued")
    expect(chat1.locator(".canned-item")).to_have_count(1)
    search.press("Enter")
    expect(box).to_have_value(re.compile("issued a full refund"))
    box.press("Enter")
    expect(first.messages("agent").filter(has_text="issued a full refund")).to_be_visible()
    box.fill("")
    box.press("/")
    expect(chat1.locator(".canned")).to_be_visible()
    chat1.locator(".canned input[type=search]").fill("greeting")
    chat1.locator(".canned input[type=search]").press("Enter")
    expect(box).to_have_value(re.compile("I'm Alice from Trailhead"))
    box.fill("")

    visitor_line = chat1.locator(".transcript .from-visitor").filter(has_text="I was charged twice")
    visitor_line.get_by_role("button", name="Flag as misunderstood").click()
    expect(visitor_line.get_by_role("button", name="Flagged")).to_be_disabled()
    token = page.evaluate("() => JSON.parse(sessionStorage.getItem('supportline-console:auth')).token")
    status, body = bridge.http("GET", "/api/flags", token=token)
    assert status == 200 and len(body["flags"]) == 1

    page.select_option("#presence", "away")
    wait_until(lambda: any(a["id"] == "alice" and a["status"] == "away"
                           for a in bridge.http("GET", "/api/agents", token=token)[1]["agents"]), 5, "away")

    assert "refund approved" not in " ".join(first.texts())
    assert all(m.sender != "note" or m.text == "customer seems legit, refund approved"
               for m in bridge.messages(s1))
    history = first.page.evaluate("() => document.querySelector('supportline-widget').shadowRoot.textContent")
    assert "refund approved" not in history

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert bridge.http("GET", "/api/queue", token=token)[0] == 401
    second.send("still waiting")


def test_transfer_to_another_agent(bridge, fake_rasa, new_context, console_page):
    alice = console_page(bridge.url, "alice")
    bob = console_page(bridge.url, "bob")
    widget, session = _escalated_visitor(new_context, bridge, fake_rasa, "the app crashes on login")
    chat = alice.claim(session)
    alice.reply(session, "Let me get a colleague from the technical team")
    expect(widget.status).to_contain_text("Alice")

    chat.locator("[data-action=transfer]").click()
    dialog = alice.page.locator("dialog")
    expect(dialog.locator("#dlg-agent option", has_text="Bob")).to_be_attached()
    dialog.locator("#dlg-agent").select_option("bob")
    dialog.get_by_role("button", name="Transfer").click()
    expect(chat.locator(".ended-banner")).to_contain_text("Transferred")

    bob_chat = bob.chat(session)
    expect(bob_chat).to_be_attached()
    bob.page.locator(f'#chats .chat-tab[data-id="{session}"]').click()
    expect(bob_chat.locator("details.packet")).to_contain_text("the app crashes on login")
    expect(widget.status).to_contain_text("chatting with Bob")
    bob.reply(session, "Hi, Bob from tech here")
    reply = widget.messages("agent").filter(has_text="Bob from tech")
    expect(reply.locator(".who")).to_contain_text("Bob")
    assert AGENTS["bob"][0] == "Bob"


def test_reload_of_the_console_brings_the_chats_back(bridge, fake_rasa, new_context, console_page):
    console = console_page(bridge.url)
    widget, session = _escalated_visitor(new_context, bridge, fake_rasa, "where is my refund")
    console.claim(session)
    console.reply(session, "Checking now")
    expect(widget.messages("agent")).to_have_count(1)
    console.page.reload()
    expect(console.page.locator("#app")).to_be_visible()
    chat = console.chat(session)
    expect(chat).to_be_attached()
    expect(chat.locator(".live .from-agent").filter(has_text="Checking now")).to_have_count(1)
    second_tab = Console(console.page.context.new_page(), bridge.url)
    second_tab.page.goto(bridge.url + "/console/")
    expect(second_tab.page.locator("#login")).to_be_visible()


def test_a_revoked_token_leads_back_to_the_login(bridge, new_context):
    page = new_context().new_page()
    page.goto(bridge.url + "/console/")
    page.evaluate("""() => sessionStorage.setItem('supportline-console:auth', JSON.stringify(
        {token: 'not-a-valid-token', expires_at: Date.now() / 1000 + 3600, agent: {id: 'alice', name: 'Alice'}}))""")
    page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("expired")
    assert page.evaluate("() => sessionStorage.getItem('supportline-console:auth')") is None

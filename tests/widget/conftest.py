"""Fixtures of the browser tests: the real bridge (against the fake Rasa unless a test
asks for the real one), Debian's Chromium driven by Playwright, and page helpers for the
widget (inside its Shadow DOM) and the agent console."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.widget.harness import (AGENTS, CHROMIUM, CHROMIUM_ARGS, BridgeServer, FakeRasaServer,
                                  HostSite, LoopThread)

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def fake_rasa(loop: LoopThread):
    server = FakeRasaServer(loop)
    fake = server.start()
    yield fake
    server.stop()


@pytest.fixture
def make_bridge(loop: LoopThread, tmp_path: Path) -> Iterator[Callable[..., BridgeServer]]:
    started: list[BridgeServer] = []

    def make(rasa_url: str, rasa_token: str, **overrides: Any) -> BridgeServer:
        directory = tmp_path / f"bridge{len(started)}"
        directory.mkdir()
        server = BridgeServer(loop, directory, rasa_url, rasa_token, **overrides).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def bridge(make_bridge, fake_rasa) -> BridgeServer:
    return make_bridge(fake_rasa.url, fake_rasa.token)


@pytest.fixture
def host_site(loop: LoopThread) -> Iterator[HostSite]:
    site = HostSite(loop).start()
    yield site
    site.stop()


class PageErrors:
    """Uncaught script errors and dialogs of every page of a test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))

        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()
        page.on("dialog", on_dialog)
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def new_context(browser: Browser, page_errors: PageErrors) -> Iterator[Callable[..., BrowserContext]]:
    contexts: list[BrowserContext] = []

    def make(**kwargs: Any) -> BrowserContext:
        kwargs.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**kwargs)
        context.on("page", page_errors.watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not page_errors.errors, f"script errors in the pages: {page_errors.errors}"
    assert not page_errors.dialogs, f"dialogs opened: {page_errors.dialogs}"


class Widget:
    """The chat widget on a page, reached through its (open) shadow root."""

    def __init__(self, page: Page):
        self.page = page
        self.host = page.locator("supportline-widget")
        self.launcher = self.host.locator(".launcher")
        self.panel = self.host.locator(".panel")
        self.input = self.host.locator("textarea#sl-input")
        self.log = self.host.locator(".log")
        self.status = self.host.locator(".status")
        self.conn = self.host.locator(".conn")
        self.typing = self.host.locator(".typing")
        self.suggestions = self.host.locator(".suggest")

    def goto(self, url: str) -> "Widget":
        self.page.goto(url)
        expect(self.launcher).to_be_visible()
        return self

    def open(self) -> "Widget":
        if not self.panel.is_visible():
            self.launcher.click()
        expect(self.panel).to_be_visible()
        return self

    def wait_connected(self) -> str:
        self.page.wait_for_function("() => window.SupportLine.sessionId && "
                                    "document.querySelector('supportline-widget').shadowRoot"
                                    ".querySelector('.sl').dataset.conn === 'online'")
        return self.session_id

    @property
    def session_id(self) -> str:
        return self.page.evaluate("() => window.SupportLine.sessionId")

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def messages(self, sender: str | None = None):
        selector = ".msg" if sender is None else f'.msg[data-sender="{sender}"]'
        return self.log.locator(selector)

    def bubble(self, sender: str, text: str | re.Pattern):
        return self.messages(sender).locator(".bubble").filter(has_text=text)

    def system(self, text: str | re.Pattern):
        return self.log.locator(".system").filter(has_text=text)

    def texts(self, sender: str | None = None) -> list[str]:
        return self.messages(sender).locator(".bubble").all_inner_texts()


class Console:
    """The agent console."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def login(self, username: str = "alice") -> "Console":
        self.page.goto(self.base_url + "/console/")
        self.page.fill("#login-username", username)
        self.page.fill("#login-password", AGENTS[username][2])
        self.page.click("#login-form button[type=submit]")
        expect(self.page.locator("#app")).to_be_visible()
        expect(self.page.locator("#conn")).to_have_text("Connected")
        return self

    def queue_item(self, conversation_id: str):
        return self.page.locator(f'#queue .queue-item[data-id="{conversation_id}"]')

    def claim(self, conversation_id: str):
        self.queue_item(conversation_id).get_by_role("button", name=re.compile("Claim")).click()
        chat = self.chat(conversation_id)
        expect(chat).to_be_attached()
        self.page.locator(f'#chats .chat-tab[data-id="{conversation_id}"]').click()
        expect(chat).to_be_visible()
        return chat

    def chat(self, conversation_id: str):
        return self.page.locator(f'section.chat[data-id="{conversation_id}"]')

    def reply(self, conversation_id: str, text: str) -> None:
        box = self.chat(conversation_id).locator(".composer textarea")
        box.fill(text)
        box.press("Enter")


@pytest.fixture
def widget_page(new_context) -> Callable[..., Widget]:
    def make(url: str, **context_kwargs: Any) -> Widget:
        context = new_context(**context_kwargs)
        return Widget(context.new_page()).goto(url)
    return make


@pytest.fixture
def console_page(new_context) -> Callable[..., Console]:
    def make(base_url: str, username: str = "alice") -> Console:
        context = new_context(viewport={"width": 1440, "height": 900})
        return Console(context.new_page(), base_url).login(username)
    return make

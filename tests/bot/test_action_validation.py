"""bot.action_validation: the action server's answers are checked exactly as Rasa checks
them (same verdicts, same error messages), with the validator built once; the trained
model installs it in the process that loads the model."""
from __future__ import annotations

import asyncio

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot import action_validation
from tests.support.processes import PROJECT_ROOT

ANSWERS = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "order_number", "value": "10023"}],
     "responses": [{"text": "Order 10023 ships today.", "buttons": [], "custom": {}}]},
    {"events": [{"event": "active_loop", "name": None}, {"event": "followup", "name": "action_listen"}],
     "responses": [{"response": "utter_greet"}]},
    {"events": [{"event": "bot", "text": "hi", "data": {}, "metadata": {}}]},
    # invalid ones
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "order_number"}]},
    {"events": [{"event": "slot", "value": 1}]},
    {"responses": "hello"},
    {"responses": [1, 2]},
    [],
]


def verdict(action: RemoteAction, answer) -> str:
    try:
        action._validate_action_result(answer)
        return "valid"
    except ValidationError as error:
        return f"invalid: {error.message} @ {list(error.absolute_path)}"


@pytest.fixture
def installed():
    action_validation.install()
    yield
    action_validation.uninstall()


def test_the_same_verdicts_and_messages_as_rasa(installed):
    action = RemoteAction("action_answer_faq", None)
    ours = [verdict(action, answer) for answer in ANSWERS]
    action_validation.uninstall()
    theirs = [verdict(action, answer) for answer in ANSWERS]
    assert ours == theirs
    assert ours.count("valid") == 5 and all(v.startswith("invalid: ") for v in ours[5:])
    assert all("Failed to validate Action server response" in v for v in ours[5:])


def test_install_is_idempotent_and_reversible():
    original = RemoteAction._validate_action_result
    action_validation.install()
    action_validation.install()
    assert RemoteAction._validate_action_result is action_validation.validate_action_result
    action_validation.uninstall()
    assert RemoteAction._validate_action_result is original


def test_loading_the_trained_model_installs_it():
    """The component is in config.yml: a process that loads the model validates with the
    cached validator (the Rasa server does exactly this load)."""
    from rasa.core.agent import Agent

    action_validation.uninstall()
    assert RemoteAction._validate_action_result is not action_validation.validate_action_result
    try:
        agent = Agent.load(str(PROJECT_ROOT / "models" / "supportline.tar.gz"))
        assert RemoteAction._validate_action_result is action_validation.validate_action_result
        parsed = asyncio.run(agent.parse_message("where is my order 10023?"))
        assert parsed["intent"]["name"] == "order_status"   # the component changes no message
    finally:
        action_validation.uninstall()

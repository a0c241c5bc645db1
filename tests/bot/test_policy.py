"""bot.policy.EscalationPolicy on real Rasa trackers and the project's domain."""
from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policy import EscalationPolicy, recent_events
from tests.support.processes import PROJECT_ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> EscalationPolicy:
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    return EscalationPolicy.create(
        {**EscalationPolicy.get_default_config()}, storage, Resource("escalation"),
        ExecutionContext(GraphSchema({}), "test"))


def user(text: str, intent: str, confidence: float = 0.9) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": confidence})


def tracker_with(domain, *turns: UserUttered, after=None) -> DialogueStateTracker:
    events = [ActionExecuted("action_listen")]
    for index, turn in enumerate(turns):
        events.append(turn)
        if index < len(turns) - 1:
            events += [ActionExecuted("action_answer_faq"), BotUttered("answer"),
                       ActionExecuted("action_listen")]
    events += after or []
    return DialogueStateTracker.from_events("visitor", events, domain.slots)


def predicted(prediction, domain) -> str | None:
    best = max(prediction.probabilities)
    return domain.action_names_or_texts[prediction.probabilities.index(best)] if best else None


def test_frustration_predicts_action_escalate_over_everything(policy, domain):
    prediction = policy.predict_action_probabilities(
        tracker_with(domain, user("you are useless", "bot_challenge")), domain)
    assert predicted(prediction, domain) == "action_escalate"
    assert max(prediction.probabilities) == 1.0
    assert prediction.is_no_user_prediction and prediction.policy_priority == 7


def test_routine_message_gets_no_opinion(policy, domain):
    prediction = policy.predict_action_probabilities(
        tracker_with(domain, user("my package is a bit late, where is it?", "order_status")), domain)
    assert predicted(prediction, domain) is None
    assert not prediction.is_no_user_prediction


def test_after_action_escalate_the_bot_listens(policy, domain):
    tracker = tracker_with(domain, user("I want a human", "request_human"),
                           after=[ActionExecuted("action_escalate")])
    assert predicted(policy.predict_action_probabilities(tracker, domain), domain) == "action_listen"


def test_no_opinion_in_the_middle_of_a_turn(policy, domain):
    tracker = tracker_with(domain, user("you are useless", "complaint"),
                           after=[ActionExecuted("action_answer_faq")])
    assert predicted(policy.predict_action_probabilities(tracker, domain), domain) is None


def test_second_fallback_in_a_row_escalates(policy, domain):
    first = tracker_with(domain, user("blorp", "nlu_fallback", 0.1))
    assert predicted(policy.predict_action_probabilities(first, domain), domain) is None
    second = tracker_with(domain, user("blorp", "nlu_fallback", 0.1), user("frob", "nlu_fallback", 0.1))
    assert predicted(policy.predict_action_probabilities(second, domain), domain) == "action_escalate"


def test_only_the_recent_tail_is_read(domain):
    turns = [user(f"question {i}", "shipping_options") for i in range(200)]
    events = recent_events(tracker_with(domain, *turns), 3)
    assert sum(1 for e in events if e["event"] == "user") == 3
    assert len(events) < 15

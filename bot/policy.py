"""A Rasa graph policy that hands the conversation to a person when it must.

Escalation must not hang on intent classification alone: an angry message is
angry whatever intent it was given, and "I'll take you to court" is a policy
topic even when classified as a complaint. So after every visitor message this
policy runs :class:`bot.escalation.EscalationDetector` over the tracker and, when
a signal fires, predicts ``action_escalate`` with full confidence and a priority
above RulePolicy's. The action server runs the same detector to record the reason.

The prediction is flagged ``is_no_user_prediction`` on purpose: Rasa's ensemble
lets such predictions overrule all others, which is what lets an escalation win
even inside an active form (RulePolicy's "loop happy path" uses the same flag).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.escalation import DEFAULT_CONFIG_PATH, ESCALATE_ACTION, RESET_EVENTS, \
    EscalationDetector, conversation_from_events

logger = logging.getLogger(__name__)


def resolve_config_path(configured: Optional[Text]) -> Path:
    """The escalation rules file: as configured (relative to the working directory,
    else to the project root), or the project's data/escalation.yml."""
    if not configured:
        return DEFAULT_CONFIG_PATH
    path = Path(configured)
    if path.is_absolute() or path.is_file():
        return path
    return DEFAULT_CONFIG_PATH.parents[1] / path


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class EscalationPolicy(Policy):
    """Predicts ``action_escalate`` right after a visitor message that calls for a person."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Priority above RulePolicy (6); the rules file is read when the model loads."""
        return {"priority": 7, "config_path": "data/escalation.yml"}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Optional[Any] = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        self.detector = EscalationDetector.from_file(resolve_config_path(config.get("config_path")))

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        """Nothing to learn: the rules are configuration. Persists a marker only."""
        with self._model_storage.write_to(self._resource) as directory:
            (Path(directory) / "escalation_policy.json").write_text(
                json.dumps({"config_path": self.config.get("config_path")}))
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """``action_escalate`` after a message that fires a signal, ``action_listen``
        after ``action_escalate``, otherwise no opinion (all zeros)."""
        probabilities = self._default_predictions(domain)
        latest_action = tracker.latest_action_name

        if latest_action == ESCALATE_ACTION:
            probabilities[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
            return self._prediction(probabilities)

        if latest_action != ACTION_LISTEN_NAME or not isinstance(
                _last_user_or_action(tracker), UserUttered):
            return self._prediction(probabilities)

        decision = self.detector.assess(conversation_from_events(
            recent_events(tracker, self.detector.turns_needed)))
        if decision is None:
            return self._prediction(probabilities)

        logger.info("escalating conversation %s: %s (%s)", tracker.sender_id,
                    decision.reason, decision.topic)
        probabilities[domain.index_for_action(ESCALATE_ACTION)] = 1.0
        return self._prediction(probabilities, is_no_user_prediction=True)


def recent_events(tracker: DialogueStateTracker, user_turns: int) -> List[Dict[Text, Any]]:
    """The tail of the tracker holding the last ``user_turns`` visitor messages (or
    back to the latest reset), as dicts. Keeps each prediction O(1) in the length
    of the conversation, which matters for long chats."""
    tail: List[Dict[Text, Any]] = []
    seen = 0
    for event in reversed(tracker.events):
        data = event.as_dict()
        tail.append(data)
        if data.get("event") in RESET_EVENTS or (
                data.get("event") == "action" and data.get("name") == ESCALATE_ACTION):
            break
        if data.get("event") == "user":
            seen += 1
            if seen >= user_turns:
                break
    tail.reverse()
    return tail


def _last_user_or_action(tracker: DialogueStateTracker) -> Any:
    """The latest user or action event: is the bot answering a fresh message?"""
    from rasa.shared.core.events import ActionExecuted

    for event in reversed(tracker.events):
        if isinstance(event, (UserUttered, ActionExecuted)):
            return event
    return None

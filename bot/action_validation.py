"""Rasa's check of the action server's answers, with its validator built once.

Rasa 3.6 checks every answer of the action server against a JSON schema
(``RemoteAction._validate_action_result``) with ``jsonschema.validate``, which first
checks the schema itself against the JSON Schema meta-schema and builds a new validator,
on every call: about 38 ms per custom action on the development machine, the largest
single item of a turn of our assistant (docs/benchmarks.md, section 2). The schema is a
constant (``RemoteAction.action_response_format_spec``), so here the validator is built
once and reused. The check is the same: same schema, the same error
(``jsonschema.exceptions.best_match``, as ``jsonschema.validate`` raises it) with Rasa's
message appended, raised the same way.

It is installed by the no-op pipeline component ``ActionValidationCache`` (listed in
config.yml), because Rasa imports and builds the components of a model in every
process that serves it; ``install`` may also be called directly.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict, List, Text

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

_RASA_VALIDATE = RemoteAction._validate_action_result


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """RemoteAction._validate_action_result with the validator built once."""
    error = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Make every RemoteAction of this process use the cached validator (idempotent)."""
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result
        logger.info("action server answers are validated with a cached validator")


def uninstall() -> None:
    """Back to Rasa's own check (for comparisons and tests)."""
    RemoteAction._validate_action_result = _RASA_VALIDATE


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ActionValidationCache(GraphComponent):
    """Pipeline component that only installs the cached check when the model is loaded
    (or trained); it leaves messages and training data as they are."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ActionValidationCache":
        install()
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

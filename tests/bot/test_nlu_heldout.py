"""Intent accuracy of the trained model on tests/bot/heldout_nlu.yml, a set that
is never trained on (and checked here not to overlap data/). Must be >= 90%,
counting a fallback (nlu_fallback) as a miss."""
from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter

import pytest
import yaml

from tests.support.processes import PROJECT_ROOT
from tests.support.rasa_stack import MODEL_PATH

HELDOUT = PROJECT_ROOT / "tests" / "bot" / "heldout_nlu.yml"
MIN_ACCURACY = 0.90
_ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)")

pytestmark = pytest.mark.timeout(600)


def examples(path) -> list[tuple[str, str]]:
    """(text, intent) pairs of a Rasa NLU file, entity annotations removed."""
    data = yaml.safe_load(path.read_text())
    pairs = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((_ANNOTATION.sub(r"\1", line[2:]).strip(), block["intent"]))
    return pairs


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_heldout_set_is_not_in_the_training_data():
    trained = {normalized(text) for path in (PROJECT_ROOT / "data").rglob("*.yml")
               for text, _ in (examples(path) if "nlu" in (yaml.safe_load(path.read_text()) or {})
                               else [])}
    heldout = [text for text, _ in examples(HELDOUT)]
    assert len(heldout) >= 150
    assert not [t for t in heldout if normalized(t) in trained]


def test_heldout_intent_accuracy():
    assert MODEL_PATH.is_file(), f"no trained model at {MODEL_PATH}: run 'bash scripts/train.sh'"
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug log would print every message
    agent = Agent.load(str(MODEL_PATH))
    pairs = examples(HELDOUT)

    async def parse_all():
        return [await agent.parse_message(text) for text, _ in pairs]

    results = asyncio.run(parse_all())
    misses = Counter()
    correct = 0
    for (text, intent), result in zip(pairs, results):
        if result["intent"]["name"] == intent:
            correct += 1
        else:
            misses[(intent, result["intent"]["name"])] += 1
    accuracy = correct / len(pairs)
    intents = {intent for _, intent in pairs}
    print(f"\nheld-out intent accuracy: {accuracy:.3f} ({correct}/{len(pairs)}, "
          f"{len(intents)} intents; fallbacks count as misses)")
    for (expected, got), count in misses.most_common():
        print(f"  {expected} -> {got}: {count}")
    assert len(intents) >= 25
    assert accuracy >= MIN_ACCURACY

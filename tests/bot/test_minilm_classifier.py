"""MiniLMIntentClassifier's ensemble with the classifier before it (blend_previous).

The encoder is replaced by a fixed table of probabilities: these tests check how the
two rankings are combined, not the network (the NLU benchmarks run the real one).
"""
import numpy as np
import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.minilm_classifier import MiniLMIntentClassifier

LABELS = ["balance", "card_lost", "transfer"]


class FixedNet:
    """Gives every message the same probabilities over LABELS."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=np.float32)

    def predict(self, texts):
        return np.tile(self.probs, (len(texts), 1))


def classify(own, previous_ranking, weight):
    classifier = MiniLMIntentClassifier({"blend_previous": weight, "ranking_length": 0}, "clf",
                                        None, None, net=FixedNet(own), labels=LABELS)
    message = Message(data={"text": "I lost my card"})
    if previous_ranking is not None:
        message.set("intent_ranking", previous_ranking)
    classifier.process([message])
    return message.get("intent"), {r["name"]: r["confidence"] for r in message.get("intent_ranking")}


def test_without_blend_the_previous_ranking_is_ignored():
    intent, ranking = classify([0.6, 0.3, 0.1], [{"name": "transfer", "confidence": 1.0}], 0.0)
    assert intent["name"] == "balance"
    assert ranking == pytest.approx({"balance": 0.6, "card_lost": 0.3, "transfer": 0.1})


def test_blend_averages_the_two_rankings_and_can_change_the_winner():
    previous = [{"name": "card_lost", "confidence": 0.9}, {"name": "balance", "confidence": 0.05},
                {"name": "transfer", "confidence": 0.05}]
    intent, ranking = classify([0.5, 0.4, 0.1], previous, 0.5)
    assert intent["name"] == "card_lost"
    assert intent["confidence"] == pytest.approx(0.65)
    assert ranking == pytest.approx({"balance": 0.275, "card_lost": 0.65, "transfer": 0.075})
    assert sum(ranking.values()) == pytest.approx(1.0)


def test_intents_missing_from_the_previous_ranking_count_as_zero():
    # a truncated or foreign ranking: unknown names are dropped, missing labels get 0
    previous = [{"name": "transfer", "confidence": 0.7}, {"name": "not_ours", "confidence": 0.3}]
    intent, ranking = classify([0.2, 0.2, 0.6], previous, 0.5)
    assert intent["name"] == "transfer"
    assert ranking == pytest.approx({"balance": 0.1, "card_lost": 0.1, "transfer": 0.65})


def test_blend_without_a_previous_ranking_keeps_own_confidences():
    intent, ranking = classify([0.7, 0.2, 0.1], None, 0.5)
    assert intent == {"name": "balance", "confidence": pytest.approx(0.7)}
    assert ranking == pytest.approx({"balance": 0.7, "card_lost": 0.2, "transfer": 0.1})

"""A Rasa 3.6 intent classifier: multinomial logistic regression over the sentence
features of the pipeline's featurizers, with the scaling those features need.

Rasa's own LogisticRegressionClassifier stacks raw sparse counts next to dense
features and fixes C=1 with balanced class weights: on normalised sentence
embeddings that under-fits badly. This one

- takes the dense sentence features as they come (the MiniLM ones are unit vectors)
  times ``dense_weight``;
- takes the sparse sentence features (e.g. CountVectorsFeaturizer counts), applies
  log1p and L2-normalises each row, times ``sparse_weight`` (0 leaves them out);
- fits scikit-learn's LogisticRegression (lbfgs, multinomial) with ``C``,
  ``max_iter`` and a fixed ``random_state``;
- writes intent and intent_ranking like Rasa's classifiers, so a FallbackClassifier
  after it can apply a confidence threshold (out-of-scope / nlu_fallback).

Usage: ``- name: bot.sklearn_intent.LinearIntentClassifier`` with C: 10 etc.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
import scipy.sparse as sp

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

RANKING_LENGTH = "ranking_length"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Logistic regression on scaled sparse + dense sentence features."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "skops"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 10.0,
            "dense_weight": 1.0,
            "sparse_weight": 0.0,
            "class_weight": None,  # or "balanced"
            "max_iter": 2000,
            "tol": 1e-4,
            "random_state": 42,
            RANKING_LENGTH: LABEL_RANKING_LENGTH,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        name: Text,
        model_storage: ModelStorage,
        resource: Resource,
        clf: Optional[Any] = None,
    ) -> None:
        self.name = name
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.clf = clf

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        return cls(config, execution_context.node_name, model_storage, resource)

    # -------------------------------------------------------------- features
    def _features(self, messages: List[Message]):
        """(n, d) features: a dense array when only dense features are used (lbfgs is
        much faster on it), else a CSR matrix."""
        sw, dw = float(self.config["sparse_weight"]), float(self.config["dense_weight"])
        if not sw:
            dense = [m.get_dense_features(TEXT)[1] for m in messages]
            if all(f is not None for f in dense):
                return np.vstack([np.asarray(f.features, dtype=np.float64).reshape(1, -1) * dw for f in dense])
        rows = []
        for m in messages:
            blocks = []
            if dw:
                dense = m.get_dense_features(TEXT)[1]
                if dense is not None:
                    blocks.append(sp.csr_matrix(np.asarray(dense.features, dtype=np.float64) * dw))
            if sw:
                sparse = m.get_sparse_features(TEXT)[1]
                if sparse is not None:
                    v = sp.csr_matrix(sparse.features, dtype=np.float64).log1p()
                    norm = np.sqrt(v.multiply(v).sum())
                    if norm > 0:
                        v = v * (sw / norm)
                    blocks.append(v)
            rows.append(sp.hstack(blocks).tocsr() if blocks else sp.csr_matrix((1, 0)))
        return sp.vstack(rows).tocsr()

    # -------------------------------------------------------------- training
    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug(f"{self.__class__.__name__}: no intent examples, not trained.")
            return self._resource
        X = self._features(examples)
        y = [e.get(INTENT) for e in examples]
        if X.shape[1] == 0:
            raise ValueError(
                f"{self.__class__.__name__} found no sentence features: put a dense "
                f"featurizer (e.g. bot.embeddings.MiniLMFeaturizer) before it, or set "
                f"sparse_weight > 0 with a sparse one."
            )
        self.clf = LogisticRegression(
            C=float(self.config["C"]),
            class_weight=self.config["class_weight"],
            max_iter=int(self.config["max_iter"]),
            tol=float(self.config["tol"]),
            random_state=self.config["random_state"],
            solver="lbfgs",
            multi_class="multinomial",
        )
        self.clf.fit(X, y)
        self.persist()
        return self._resource

    # -------------------------------------------------------------- inference
    def process(self, messages: List[Message]) -> List[Message]:
        if self.clf is None:
            for m in messages:
                m.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                m.set("intent_ranking", [], add_to_output=True)
            return messages
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return messages
        probas = self.clf.predict_proba(self._features(todo))
        classes = self.clf.classes_
        n = int(self.config[RANKING_LENGTH] or 0)
        for m, p in zip(todo, probas):
            order = np.argsort(-p)
            ranking = [{"name": str(classes[i]), "confidence": float(p[i])} for i in order]
            m.set("intent", ranking[0], add_to_output=True)
            m.set("intent_ranking", ranking[:n] if n > 0 else ranking, add_to_output=True)
        return messages

    # -------------------------------------------------------------- storage
    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.clf, model_dir / "classifier.skops")

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        import skops.io as sio

        clf = None
        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / "classifier.skops"
                untrusted = sio.get_untrusted_types(file=path)
                allowed = [t for t in untrusted if t.startswith(("numpy.", "sklearn."))]
                if len(allowed) != len(untrusted):
                    raise ValueError(f"untrusted types in {path}: {untrusted}")
                clf = sio.load(path, trusted=allowed)
        except ValueError as e:
            logger.debug(f"{cls.__name__}: nothing to load ({e}).")
        return cls(config, execution_context.node_name, model_storage, resource, clf)

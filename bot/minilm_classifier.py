"""A Rasa 3.6 intent classifier that fine-tunes all-MiniLM-L6-v2 on the intents, on the CPU.

The frozen sentence embeddings of bot/embeddings.py with a linear classifier are cheap
and good; fine-tuning the encoder itself (mean pooling + a linear layer, cross-entropy,
a few epochs) adapts it to the domain's wording. It reads the text itself (its own
word-piece tokenizer), so it needs no featurizer before it; it is a separate component
so that the featurizer stays frozen and cheap.

- weights: all-MiniLM-L6-v2 by default (hence the name), or all-mpnet-base-v2 (``model``),
  offline and without torch, see bot/embeddings.py;
- training: Adam, linear warm-up then linear decay, encoder learning rate ``lr``, head
  ``head_lr``, ``epochs`` passes in length-bucketed, shuffled batches, fixed seeds;
- inference: one tf.function (batch and length dynamic), messages padded to a bucket
  length (16, 32, 64), softmax confidences in intent / intent_ranking;
- persisted in the Rasa model: the fine-tuned encoder (TF h5, ~90 MB), the head and
  the label list.

Usage: ``- name: bot.minilm_classifier.MiniLMIntentClassifier`` (after a tokenizer).

``blend_previous`` (0 by default) makes it an ensemble with the intent classifier before
it in the pipeline: its confidences become ``(1 - w) * own + w * previous`` over the
previous component's full intent_ranking (that component should rank every intent,
``ranking_length: 0``; with no ranking before it, its own confidences stand). Two models that err differently (a frozen encoder with a linear
classifier, the fine-tuned encoder) are right together more often than either alone.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.embeddings import MINILM, model_dir_for, takes_token_types

logger = logging.getLogger(__name__)

BUCKETS = (16, 32, 64, 128, 256, 512)


class _Net:
    """Encoder + head, with a compiled forward pass."""

    def __init__(self, model_dir: Path, n_labels: int, max_length: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import tensorflow as tf
        from transformers import AutoTokenizer, TFAutoModel
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            self.encoder = TFAutoModel.from_pretrained(str(model_dir), local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        self.max_length = max_length
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        token_types = takes_token_types(self.tokenizer)
        self.buckets = tuple(b for b in BUCKETS if b < max_length) + (max_length,)
        self.head = tf.keras.layers.Dense(n_labels, name="intent_head")
        self.head.build((None, self.encoder.config.hidden_size))
        encoder, head = self.encoder, self.head
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)

        def logits_fn(ids, mask, training):
            extra = {"token_type_ids": tf.zeros_like(ids)} if token_types else {}
            hidden = encoder(input_ids=ids, attention_mask=mask, training=training, **extra).last_hidden_state
            m = tf.cast(mask, hidden.dtype)[:, :, None]
            pooled = tf.reduce_sum(hidden * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1e-9)
            return head(pooled)

        self.logits_fn = logits_fn

        @tf.function(input_signature=[spec, spec], reduce_retracing=True)
        def predict(ids, mask):
            return tf.nn.softmax(logits_fn(ids, mask, False), axis=-1)

        self._predict = predict

    def tokenize(self, texts: List[Text]):
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=False)["input_ids"]
        return ids

    def pad(self, seqs: List[List[int]]):
        longest = max(len(s) for s in seqs)
        width = next((b for b in self.buckets if longest <= b), self.max_length)
        ids = np.full((len(seqs), width), self.pad_id, dtype=np.int32)
        mask = np.zeros((len(seqs), width), dtype=np.int32)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = 1
        return ids, mask

    def predict(self, texts: List[Text], batch_size: int = 64) -> np.ndarray:
        seqs = self.tokenize(texts)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.zeros((len(seqs), self.head.units), dtype=np.float32)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            ids, mask = self.pad([seqs[i] for i in idx])
            out[idx] = self._predict(ids, mask).numpy()
        return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class MiniLMIntentClassifier(IntentClassifier, GraphComponent):
    """Fine-tuned sentence encoder (mean pooling + linear layer) intent classifier."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return []

    @staticmethod
    def required_packages() -> List[Text]:
        return ["tensorflow", "transformers"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "model": MINILM,    # or all-mpnet-base-v2 (bot/embeddings.py)
            "model_dir": None,  # or a folder with the encoder's files
            "max_length": 64,
            "epochs": 4,
            "batch_size": 32,
            "lr": 5e-5,
            "head_lr": 2e-3,
            "warmup_fraction": 0.1,
            "random_seed": 42,
            "ranking_length": LABEL_RANKING_LENGTH,
            "blend_previous": 0.0,  # weight of the previous classifier's ranking (0: ignore it)
        }

    def __init__(self, config, name, model_storage, resource, net: Optional[_Net] = None,
                 labels: Optional[List[Text]] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self.name = name
        self._model_storage = model_storage
        self._resource = resource
        self.net = net
        self.labels = labels or []

    @classmethod
    def create(cls, config, model_storage, resource, execution_context: ExecutionContext):
        return cls(config, execution_context.node_name, model_storage, resource)

    # ---------------------------------------------------------------- training
    def train(self, training_data: TrainingData) -> Resource:
        import tensorflow as tf

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            return self._resource
        cfg = self.config
        seed = int(cfg["random_seed"])
        tf.random.set_seed(seed)
        rng = np.random.default_rng(seed)
        self.labels = sorted({e.get(INTENT) for e in examples})
        index = {l: i for i, l in enumerate(self.labels)}
        model_dir = model_dir_for(cfg["model"], cfg["model_dir"])
        net = _Net(model_dir, len(self.labels), int(cfg["max_length"]))
        seqs = net.tokenize([e.get(TEXT) for e in examples])
        y = np.array([index[e.get(INTENT)] for e in examples], dtype=np.int32)

        bs, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
        steps_per_epoch = int(np.ceil(len(seqs) / bs))
        total = steps_per_epoch * epochs
        warm = max(1, int(total * float(cfg["warmup_fraction"])))

        def schedule(step: int) -> float:
            return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

        opt_enc = tf.keras.optimizers.Adam(learning_rate=float(cfg["lr"]))
        opt_head = tf.keras.optimizers.Adam(learning_rate=float(cfg["head_lr"]))
        enc_vars, head_vars = net.encoder.trainable_variables, net.head.trainable_variables
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)

        @tf.function(input_signature=[spec, spec, tf.TensorSpec((None,), tf.int32)], reduce_retracing=True)
        def step_fn(ids, mask, labels):
            with tf.GradientTape() as tape:
                logits = net.logits_fn(ids, mask, True)
                loss = tf.reduce_mean(
                    tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
            grads = tape.gradient(loss, enc_vars + head_vars)
            opt_enc.apply_gradients(zip(grads[: len(enc_vars)], enc_vars))
            opt_head.apply_gradients(zip(grads[len(enc_vars):], head_vars))
            return loss

        step = 0
        for epoch in range(epochs):
            # length-bucketed batches (similar lengths together, less padding), shuffled
            perm = rng.permutation(len(seqs))
            chunks = [perm[i : i + bs * 50] for i in range(0, len(perm), bs * 50)]
            batches = []
            for ch in chunks:
                ch = sorted(ch, key=lambda i: len(seqs[i]))
                batches += [ch[i : i + bs] for i in range(0, len(ch), bs)]
            rng.shuffle(batches)
            t0, losses = time.time(), []
            for b in batches:
                f = schedule(step)
                opt_enc.learning_rate.assign(float(cfg["lr"]) * f)
                opt_head.learning_rate.assign(float(cfg["head_lr"]) * f)
                ids, mask = net.pad([seqs[i] for i in b])
                losses.append(float(step_fn(ids, mask, y[b])))
                step += 1
            logger.info(f"{self.name}: epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f} "
                        f"({time.time() - t0:.0f} s)")
        self.net = net
        self.persist()
        return self._resource

    # ---------------------------------------------------------------- inference
    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if m.get(TEXT)]
        if self.net is None or not todo:
            for m in todo:
                m.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                m.set("intent_ranking", [], add_to_output=True)
            return messages
        probs = self.net.predict([m.get(TEXT) for m in todo])
        weight = float(self.config["blend_previous"] or 0.0)
        index = {label: i for i, label in enumerate(self.labels)} if weight > 0.0 else {}
        n = int(self.config["ranking_length"] or 0)
        for m, p in zip(todo, probs):
            previous = self._previous_confidences(m, index) if weight > 0.0 else None
            if previous is not None and previous.any():
                p = (1.0 - weight) * p + weight * previous
            order = np.argsort(-p)
            ranking = [{"name": self.labels[i], "confidence": float(p[i])} for i in order]
            m.set("intent", ranking[0], add_to_output=True)
            m.set("intent_ranking", ranking[:n] if n > 0 else ranking, add_to_output=True)
        return messages

    def _previous_confidences(self, message: Message, index: Dict[Text, int]) -> np.ndarray:
        """The confidences the previous classifier gave our labels (0 for any it left out);
        `index` maps each of our labels to its position."""
        previous = np.zeros(len(self.labels), dtype=np.float32)
        for entry in message.get("intent_ranking") or []:
            i = index.get(entry.get("name"))
            if i is not None:
                previous[i] = float(entry.get("confidence") or 0.0)
        return previous

    # ---------------------------------------------------------------- storage
    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as d:
            self.net.encoder.save_pretrained(str(d / "encoder"))
            self.net.tokenizer.save_pretrained(str(d / "encoder"))
            w, b = self.net.head.get_weights()
            np.savez(d / "head.npz", w=w, b=b)
            (d / "labels.json").write_text(json.dumps(self.labels))

    @classmethod
    def load(cls, config, model_storage, resource, execution_context, **kwargs):
        cfg = {**cls.get_default_config(), **config}
        try:
            with model_storage.read_from(resource) as d:
                labels = json.loads((d / "labels.json").read_text())
                net = _Net(d / "encoder", len(labels), int(cfg["max_length"]))
                head = np.load(d / "head.npz")
                net.head.set_weights([head["w"], head["b"]])
        except (ValueError, FileNotFoundError) as e:
            logger.debug(f"{cls.__name__}: nothing to load ({e}).")
            return cls(config, execution_context.node_name, model_storage, resource)
        return cls(config, execution_context.node_name, model_storage, resource, net, labels)

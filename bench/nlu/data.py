"""Loading the public benchmark data sets (read in place from ../shared/benchmarks, never
copied into the project) and writing them as Rasa NLU training data in a temp dir.

Splits returned as lists of (text, label):
  banking77: train, test; "dev" = a stratified 10 % of train held out (seed 0) for
             choosing settings, "fit" = the other 90 % (BANKING77 has no validation split)
  clinc150:  train, val, test (in-scope, 150 intents), oos_train, oos_val, oos_test (label "oos")
"""
from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

Example = Tuple[str, str]
OOS = "oos"

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def benchmarks_dir() -> Path:
    env = os.environ.get("SUPPORTLINE_BENCHMARKS")
    if env:
        return Path(env)
    for cand in (PROJECT_ROOT.parent / "shared" / "benchmarks", Path("/work/shared/benchmarks")):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(
        "benchmark data not found: expected ../shared/benchmarks next to the project "
        "(or set SUPPORTLINE_BENCHMARKS)"
    )


def _read_csv(path: Path) -> List[Example]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"].strip(), r["category"].strip()) for r in csv.DictReader(f)]


def stratified_holdout(data: List[Example], fraction: float, seed: int) -> Tuple[List[Example], List[Example]]:
    by_label: Dict[str, List[Example]] = defaultdict(list)
    for ex in data:
        by_label[ex[1]].append(ex)
    rng = random.Random(seed)
    keep, held = [], []
    for label in sorted(by_label):
        items = list(by_label[label])
        rng.shuffle(items)
        k = max(1, round(len(items) * fraction))
        held += items[:k]
        keep += items[k:]
    return keep, held


def load(dataset: str) -> Dict[str, List[Example]]:
    root = benchmarks_dir()
    if dataset == "banking77":
        train = _read_csv(root / "banking77" / "train.csv")
        test = _read_csv(root / "banking77" / "test.csv")
        fit, dev = stratified_holdout(train, 0.1, seed=0)
        return {"train": train, "test": test, "fit": fit, "dev": dev}
    if dataset == "clinc150":
        with open(root / "clinc150" / "data_full.json", encoding="utf-8") as f:
            raw = json.load(f)
        return {k: [(t.strip(), l) for t, l in v] for k, v in raw.items()}
    raise ValueError(f"unknown data set {dataset!r}")


def subsample(
    data: List[Example], n_intents: Optional[int], n_per_intent: Optional[int], seed: int = 0,
    intents: Optional[List[str]] = None,
) -> List[Example]:
    """A small slice: the first n_intents labels (sorted) or the given ones, n_per_intent each."""
    labels = intents if intents is not None else sorted({l for _, l in data})[: n_intents or None]
    wanted = set(labels)
    by_label: Dict[str, List[Example]] = defaultdict(list)
    for ex in data:
        if ex[1] in wanted:
            by_label[ex[1]].append(ex)
    rng = random.Random(seed)
    out: List[Example] = []
    for label in labels:
        items = list(by_label[label])
        rng.shuffle(items)
        out += items[: n_per_intent or None]
    return out


def write_rasa_nlu(examples: List[Example], path: Path) -> Path:
    """Rasa NLU training data in Rasa's JSON format: the text is taken literally (no
    markdown entity syntax to escape, unlike the YAML format)."""
    data = {"rasa_nlu_data": {"common_examples": [{"text": t, "intent": l, "entities": []} for t, l in examples]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path

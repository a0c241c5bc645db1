"""Choosing our pipeline's settings on held-out data only (never on test).

BANKING77: fit on 90 % of train, score on the held-out 10 % ("dev", seed 0).
CLINC150: fit on train (+ oos_train when used as a class), score on val + oos_val.
Uses the same MiniLM encoder as bot/embeddings.py (embeddings cached in $NLU_CACHE,
default /tmp/nlu_cache) and scikit-learn stand-ins for the Rasa components, so that many
settings can be compared in minutes. Prints a table; writes results/explore.json.

  nice -n 15 .venv-nlu/bin/python bench/nlu/explore.py
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as bdata  # noqa: E402

CACHE = Path(os.environ.get("NLU_CACHE", "/tmp/nlu_cache"))


def embeddings(dataset, splits):
    CACHE.mkdir(parents=True, exist_ok=True)
    out, enc = {}, None
    for name, exs in splits.items():
        f = CACHE / f"{dataset}-{name}.npy"
        if f.exists():
            out[name] = np.load(f)
            continue
        if enc is None:
            from bot.embeddings import MiniLMEncoder
            enc = MiniLMEncoder(max_length=64)
        t = time.time()
        out[name] = enc.encode([x for x, _ in exs])[0]
        print(f"encoded {dataset}/{name}: {len(exs)} in {time.time()-t:.0f}s", flush=True)
        np.save(f, out[name])
    return out




# ---------------------------------------------------------------- model selection
def sparse_block(kind, fit_texts, other_texts):
    """Stand-in for Rasa's CountVectorsFeaturizer sentence features (counts), then the
    classifier's own transform (log1p, L2 row normalisation)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize
    if kind == "char_wb14":
        cv = CountVectorizer(analyzer="char_wb", ngram_range=(1, 4), lowercase=True)
    elif kind == "word12":
        cv = CountVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True, token_pattern=r"(?u)\b\w+\b")
    else:
        raise ValueError(kind)
    A = cv.fit_transform(fit_texts).astype(np.float64)
    B = [cv.transform(t).astype(np.float64) for t in other_texts]
    f = lambda M: normalize(M.log1p())
    return f(A), [f(b) for b in B]


def build(E_fit, E_others, texts_fit, texts_others, sparse, sparse_weight, dense_weight=1.0):
    import scipy.sparse as sp
    Xf = [sp.csr_matrix(E_fit * dense_weight)]
    Xo = [[sp.csr_matrix(e * dense_weight)] for e in E_others]
    for kind in sparse:
        A, Bs = sparse_block(kind, texts_fit, texts_others)
        Xf.append(A * sparse_weight)
        for xo, b in zip(Xo, Bs):
            xo.append(b * sparse_weight)
    return sp.hstack(Xf).tocsr(), [sp.hstack(x).tocsr() for x in Xo]


def fit_lr(X, y, C, class_weight=None):
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(C=C, max_iter=2000, solver="lbfgs", random_state=42, class_weight=class_weight)
    t = time.time()
    clf.fit(X, y)
    return clf, time.time() - t


def grid():
    out = []
    for C in (10, 30, 100):
        out.append(dict(sparse=(), sparse_weight=0.0, C=C))
    for C in (10, 30):
        for w in (0.5, 1.0):
            out.append(dict(sparse=("char_wb14",), sparse_weight=w, C=C))
    out.append(dict(sparse=("char_wb14", "word12"), sparse_weight=0.7, C=30))
    return out


# CLINC150: the setting chosen on BANKING77's dev split (dense only, C=10), with and
# without oos_train as a class
CLINC_GRID = [dict(sparse=(), sparse_weight=0.0, C=10)]


def explore_banking(results):
    d = bdata.load("banking77")
    E = embeddings("banking77", {"fit": d["fit"], "dev": d["dev"]})
    tf_, td = [t for t, _ in d["fit"]], [t for t, _ in d["dev"]]
    yf, yd = [l for _, l in d["fit"]], np.array([l for _, l in d["dev"]])
    for g in grid():
        Xf, (Xd,) = build(E["fit"], [E["dev"]], tf_, [td], g["sparse"], g["sparse_weight"])
        clf, secs = fit_lr(Xf, yf, g["C"])
        acc = float((clf.predict(Xd) == yd).mean())
        row = dict(dataset="banking77", split="dev (10% of train)", **g, acc=acc, fit_s=round(secs, 1))
        results.append(row)
        print(json.dumps(row), flush=True)


def oos_metrics(probs, classes, y_true, thr):
    """In-scope accuracy (a rejected in-scope query counts as wrong) and OOS recall."""
    classes = np.asarray(classes)
    top = probs.argmax(1)
    pred = classes[top].astype(object)
    pred[(probs[np.arange(len(top)), top] < thr) | (pred == bdata.OOS)] = bdata.OOS
    ins = y_true != bdata.OOS
    return float((pred[ins] == y_true[ins]).mean()), float((pred[~ins] == bdata.OOS).mean())


def explore_clinc(results):
    from run import choose_threshold
    d = bdata.load("clinc150")
    E = embeddings("clinc150", d)
    for oos_class in (False, True):
        fit = d["train"] + (d["oos_train"] if oos_class else [])
        Ef = np.vstack([E["train"]] + ([E["oos_train"]] if oos_class else []))
        ev = d["val"] + d["oos_val"]
        Ev = np.vstack([E["val"], E["oos_val"]])
        yv = np.array([l for _, l in ev], dtype=object)
        for g in CLINC_GRID:
            Xf, (Xv,) = build(Ef, [Ev], [t for t, _ in fit], [[t for t, _ in ev]], g["sparse"], g["sparse_weight"])
            clf, secs = fit_lr(Xf, [l for _, l in fit], g["C"])
            P = clf.predict_proba(Xv)
            top = P.argmax(1)
            preds, confs = list(clf.classes_[top]), list(P[np.arange(len(top)), top])
            best, rule, curve = choose_threshold(preds, confs, list(yv), 0.969)
            row = dict(dataset="clinc150", split="val+oos_val", oos_class=oos_class, **g,
                       acc_no_threshold=curve[0]["inscope_accuracy"], oos_recall_no_threshold=curve[0]["oos_recall"],
                       best_thr=best["threshold"], inscope_acc=best["inscope_accuracy"], oos_recall=best["oos_recall"],
                       rule=rule, fit_s=round(secs, 1), curve=curve[::5])
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)


def main_explore():
    results = []
    which = sys.argv[1:] or ["banking77", "clinc150"]
    out = Path(__file__).resolve().parent / "results" / "explore.json"
    if out.exists():
        results = [r for r in json.loads(out.read_text()) if r["dataset"] not in which]
    if "banking77" in which:
        explore_banking(results)
        out.write_text(json.dumps(results, indent=1))
    if "clinc150" in which:
        explore_clinc(results)
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main_explore()

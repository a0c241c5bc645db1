"""Smoke run of both NLU benchmarks on a tiny slice (5 intents x 10 training examples,
5 test examples each; CLINC150 also 5 out-of-scope), with our pipeline, in one process
(TensorFlow and the MiniLM weights load once). Writes <outdir>/<dataset>.json.

  .venv-nlu/bin/python bench/nlu/smoke.py /tmp/nlu-smoke [config]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/nlu-smoke")
    config = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parent / "configs" / "ours.yml")
    out.mkdir(parents=True, exist_ok=True)
    run.main(["--dataset", "banking77", "--config", config, "--smoke", "--out", str(out / "banking77.json")])
    run.main(["--dataset", "clinc150", "--config", config, "--smoke", "--oos-class",
              "--out", str(out / "clinc150.json")])
    # the featurizer on its own, with sequence features (for DIET): shapes and norms
    import json
    import numpy as np
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.message import Message
    from bot.embeddings import MiniLMFeaturizer

    tok = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    feat = MiniLMFeaturizer({**MiniLMFeaturizer.get_default_config(), "sequence_features": True}, "minilm")
    msg = Message({"text": "I still haven't received my new card, it's been 2 weeks!"})
    tok.process([msg])
    feat.process([msg])
    seq, sent = msg.get_dense_features("text")
    # each encoder: a paraphrase is nearer than an unrelated query, and a message's
    # embedding does not depend on the longer messages padded into its batch
    from bot.embeddings import MODELS, model_dir_for, shared_encoder
    texts = ["how do I reset my password", "I forgot my password and can't log in",
             "what will the weather be like tomorrow morning and in the afternoon up in the "
             "mountains near the big lake where we want to go hiking with the children"]
    encoders = {}
    for name in MODELS:
        encoder = shared_encoder(model_dir_for(name), 64, 64)
        batch, _ = encoder.encode(texts)         # padded to 32 word pieces (the long text)
        alone, _ = encoder.encode(texts[:1])     # padded to 16
        encoders[name] = {
            "dim": int(batch.shape[1]), "norms": [float(n) for n in np.linalg.norm(batch, axis=1)],
            "paraphrase_cos": float(batch[0] @ batch[1]), "unrelated_cos": float(batch[0] @ batch[2]),
            "batch_vs_alone_max_diff": float(np.abs(batch[0] - alone[0]).max()),
        }
    (out / "featurizer.json").write_text(json.dumps({
        "n_tokens": len(msg.get("text_tokens")), "sequence_shape": list(seq.features.shape),
        "sentence_shape": list(sent.features.shape),
        "sentence_norm": float(np.linalg.norm(sent.features)),
        "zero_token_rows": int((np.abs(seq.features).sum(axis=1) == 0).sum()),
        "encoders": encoders,
    }))

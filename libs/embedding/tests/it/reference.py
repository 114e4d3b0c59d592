"""Writes reference.json: all-MiniLM-L6-v2 sentence embeddings computed by an independent implementation.

The model is run here with numpy alone (float64, written from the BERT paper's equations and the sentence-transformers
pipeline: BERT encoder, mean pooling over the attention mask, L2 normalisation), reading the same safetensors file, so
the Rust crate (candle) is compared with code that shares nothing with it but the weights and the tokenizer file. The
tokenizer is the `tokenizers` Python package reading the model's tokenizer.json, truncated at the model's 256 word
pieces (sentence_bert_config.json), each sentence on its own so no padding is involved.

Run once, by hand, when the sentences or the model change:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy safetensors tokenizers
    bash scripts/fetch-embedding-model.sh
    /tmp/ref/bin/python libs/embedding/tests/it/reference.py ~/.cache/switchboard/models/all-minilm-l6-v2 \
        > libs/embedding/tests/it/reference.json
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

# The test embeds the texts it reads from reference.json, so adding a sentence here is all a new case needs.
SENTENCES = [
    "refund the order",
    "please refund order 1042",
    "how many orders were refunded last month",
    "Which invoices are overdue?",
    "",
    "Café crème, s'il vous plaît — naïve résumé façade 日本語 🎉",
    # Far longer than 256 word pieces: checks truncation.
    " ".join(f"line {i}: the customer ordered {i % 7 + 1} items and asked for a refund of ${i * 3}.00." for i in range(80)),
]


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    # The exact (erf) GELU that BERT's "gelu" names.
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(w, prefix, x):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def embed(w, config, ids):
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(n)]
        + w["embeddings.token_type_embeddings.weight"][np.zeros(n, dtype=np.int64)]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        q = linear(w, p + "attention.self.query", x).reshape(n, heads, head_dim).transpose(1, 0, 2)
        k = linear(w, p + "attention.self.key", x).reshape(n, heads, head_dim).transpose(1, 0, 2)
        v = linear(w, p + "attention.self.value", x).reshape(n, heads, head_dim).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        attention = linear(w, p + "attention.output.dense", context)
        x = layer_norm(x + attention, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        inner = gelu(linear(w, p + "intermediate.dense", x))
        out = linear(w, p + "output.dense", inner)
        x = layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def main():
    root = sys.argv[1]
    config = json.load(open(f"{root}/config.json"))
    max_len = json.load(open(f"{root}/sentence_bert_config.json"))["max_seq_length"]
    weights = {k: v.astype(np.float64) for k, v in load_file(f"{root}/model.safetensors").items()}
    tokenizer = Tokenizer.from_file(f"{root}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_len)
    out = []
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        vector = embed(weights, config, np.array(ids, dtype=np.int64))
        out.append({"text": sentence, "tokens": len(ids), "embedding": [round(float(v), 7) for v in vector]})
    json.dump({"model": "all-MiniLM-L6-v2", "produced_by": "tests/it/reference.py (numpy, float64)", "sentences": out},
              sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    sims = np.array([[np.dot(a["embedding"], b["embedding"]) for b in out] for a in out])
    print("cosine similarities of the first three:\n", np.round(sims[:3, :3], 4), file=sys.stderr)


if __name__ == "__main__":
    main()

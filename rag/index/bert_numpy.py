"""A BERT sentence encoder in NumPy, for the questions and evidence sentences the server embeds.

Importing sentence-transformers (PyTorch, transformers' model code, scikit-learn, SciPy) takes 7-9 s on two cores;
the server only embeds a question and a few sentences at a time. This reads the same sentence-transformers folder
(safetensors weights, `tokenizer.json`, the pooling config) and runs the same computation in NumPy: embeddings match
sentence-transformers' to ~1e-6 (tests/integration checks it), so an index built by one is searched by the other.
Only plain BERT encoders with mean or CLS pooling are supported (`load` returns None otherwise, and the caller uses
sentence-transformers); all-MiniLM-L6-v2, the default, is one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 absolute (Abramowitz & Stegun 7.1.26), enough for float32: NumPy has none and SciPy is slow to
    import. BERT's GELU is the exact, erf-based one."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-a * a)
    return s * y


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class NumpyBertEncoder:
    """Loaded by `load`; `encode` returns L2-normalised (n, dim) float32 rows when the model normalises."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer, pooling: str, normalize: bool,
                 max_len: int) -> None:
        self.w = weights
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.max_len = max_len

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # similar lengths share a batch
        for a in range(0, len(order), batch_size):
            rows = order[a : a + batch_size]
            out[rows] = self._forward([encodings[i] for i in rows])
        return out

    def _forward(self, encodings) -> np.ndarray:
        w = self.w
        n, length = len(encodings), max(len(e.ids) for e in encodings)
        ids = np.zeros((n, length), dtype=np.int64)
        types = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            types[i, : len(e.ids)] = e.type_ids
            mask[i, : len(e.ids)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding gets no attention
        head = self.dim // self.heads
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(v: np.ndarray, name: str) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(v: np.ndarray) -> np.ndarray:
                return v.reshape(n, length, self.heads, head).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.dim)
            x = _layer_norm(dense(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(dense(hidden, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"], self.eps)
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        if self.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load(folder: str | Path) -> NumpyBertEncoder | None:
    """The encoder for a local sentence-transformers folder, or None when it is not a plain BERT model with mean or
    CLS pooling (or its files are not all there): the caller then uses sentence-transformers itself."""
    root = Path(folder)
    try:
        modules = _read(root / "modules.json")
        config = _read(root / "config.json")
    except (OSError, ValueError):
        return None
    kinds = [m.get("type") for m in modules]
    if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]) or modules[0].get("path"):
        return None
    if config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu" \
            or config.get("position_embedding_type", "absolute") != "absolute":
        return None
    try:
        pool = _read(root / modules[1]["path"] / "config.json")
        st_config = _read(root / "sentence_bert_config.json")
        tok_config = _read(root / "tokenizer_config.json") if (root / "tokenizer_config.json").is_file() else {}
    except (OSError, ValueError, KeyError):
        return None
    modes = {k for k, v in pool.items() if k.startswith("pooling_mode_") and v}
    if modes == {"pooling_mode_mean_tokens"}:
        pooling = "mean"
    elif modes == {"pooling_mode_cls_token"}:
        pooling = "cls"
    else:
        return None
    if st_config.get("do_lower_case"):  # sentence-transformers lower-cases before the tokenizer: not mirrored here
        return None
    weights_file = root / "model.safetensors"
    if not (weights_file.is_file() and (root / "tokenizer.json").is_file()):
        return None
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    weights = load_file(str(weights_file))
    weights = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in weights.items()}
    if "embeddings.word_embeddings.weight" not in weights:
        return None
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    # as sentence-transformers sets it up: truncate at max_seq_length (capped by the model), pad nothing
    max_len = int(min(st_config.get("max_seq_length") or 512, tok_config.get("model_max_length") or 512,
                      config.get("max_position_embeddings", 512)))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_len)
    return NumpyBertEncoder(weights, config, tokenizer, pooling, _NORMALIZE in kinds, max_len)

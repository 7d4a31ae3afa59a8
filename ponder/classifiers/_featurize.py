"""Turn query texts into fixed-width float32 matrices for the difficulty classifiers.

Routing must cost far less than the LLM call it routes, so every featurizer here is cheap for a
single short query, and none touches the network. A saved classifier stores a `FeaturizerSpec`
rather than a pickled featurizer, so it can be rebuilt by any later ponder version that still
knows the spec's kind.
"""

from __future__ import annotations

import importlib.util
import json
import re
import zlib
from collections.abc import Sequence
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from ponder.classifiers._textstats import STATS_NAMES, clip, text_stats
from ponder.classifiers._wordpiece import WordPiece
from ponder.errors import ModelArtifactError

FloatMatrix = npt.NDArray[np.float32]

# The files model2vec reads. Checking them ourselves before loading matters: given a path that
# does not exist, model2vec treats it as a Hugging Face repo id and tries to download it.
_STATIC_FILES = ("config.json", "model.safetensors", "tokenizer.json")


@runtime_checkable
class Featurizer(Protocol):
    """Anything that maps texts to a dense (n, dim) float32 matrix with a fixed dim."""

    def transform(self, texts: Sequence[str]) -> FloatMatrix: ...


class FeaturizerSpec(BaseModel):
    """A featurizer's recipe, small enough to live in a saved classifier's JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["stats", "hashed", "static", "concat"]
    params: dict[str, int | str | None] = Field(default_factory=dict)
    parts: tuple[FeaturizerSpec, ...] = ()


# --------------------------------------------------------------------------------------------
# Text statistics


class TextStats:
    """Surface statistics that separate math, code, multiple-choice and chat-shaped prompts.

    Counts go through log1p so one very long prompt does not dominate a linear model. They
    are read from the text as :func:`clip` cuts it, so the cost is bounded whatever the
    prompt's size; only ``log_chars`` is the true length, which costs nothing to know and
    is the one signal clipping would erase. A batch is computed in one vectorised pass
    (:mod:`ponder.classifiers._textstats`), to the same values the packaged model was
    trained on.
    """

    feature_names: tuple[str, ...] = STATS_NAMES

    def transform(self, texts: Sequence[str]) -> FloatMatrix:
        return text_stats(texts)

    @property
    def spec(self) -> FeaturizerSpec:
        return FeaturizerSpec(kind="stats")


# --------------------------------------------------------------------------------------------
# Hashed n-grams

_TOKEN = re.compile(r"\w+|[^\w\s]")
_HASH_SEED = 0x9E3779B1  # any fixed value; changing it invalidates every saved classifier


class HashedNgrams:
    """Bag of hashed unigrams and bigrams: a content signal that needs no model file.

    Uses crc32, not hash(): Python salts str hashes per process (PYTHONHASHSEED), which would
    give a saved classifier different columns on every run. Punctuation marks count as tokens
    because `$`, `{` and `=` say a lot about a prompt. A signed hash keeps collisions unbiased.
    """

    def __init__(self, n_features: int = 256) -> None:
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.n_features = n_features

    def transform(self, texts: Sequence[str]) -> FloatMatrix:
        out = np.zeros((len(texts), self.n_features), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = _TOKEN.findall(clip(text).lower())
            grams = tokens + [f"{a} {b}" for a, b in pairwise(tokens)]
            row = out[i]
            for gram in grams:
                h = zlib.crc32(gram.encode("utf-8"), _HASH_SEED)
                row[h % self.n_features] += 1.0 if h & 0x80000000 else -1.0
            norm = float(np.linalg.norm(row))
            if norm > 0.0:
                row /= norm
        return out

    @property
    def spec(self) -> FeaturizerSpec:
        return FeaturizerSpec(kind="hashed", params={"n_features": self.n_features})


# --------------------------------------------------------------------------------------------
# Static embedding (model2vec)


def packaged_static_dir() -> Path:
    """Where the static model shipped inside the ponder package lives."""
    return Path(str(files("ponder") / "models" / "static-minilm"))


class StaticEmbedding:
    """Mean of distilled MiniLM token vectors (model2vec): semantic signal at ~0.1 ms a query.

    The model loads on first use, so importing ponder or building a featurizer for a classifier
    that is never called costs nothing, and a missing model only fails where it is needed.
    A model in model2vec's plain layout (one vector per token) is read directly, with
    ``tokenizers`` and ``safetensors``, and embedded by our own lookup and mean: model2vec's
    loader imports the Hugging Face hub client, a third of a second of a cold `ponder route`.
    Other layouts (vocabulary-quantised, weighted) go through model2vec itself.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._model: Any = None  # model2vec's StaticModel, for the layouts we do not read
        self._lookup: _Lookup | None = None

    @property
    def spec(self) -> FeaturizerSpec:
        return FeaturizerSpec(kind="static", params={"path": self.path})

    def transform(self, texts: Sequence[str]) -> FloatMatrix:
        lookup = self._load()
        if lookup is None:  # a layout only model2vec reads: let it do the lookup
            encoded = self._model.encode(list(texts), use_multiprocessing=False)
            return np.asarray(encoded, dtype=np.float32).reshape(len(texts), -1)
        return lookup.embed(texts)

    def _load(self) -> _Lookup | None:
        if self._lookup is not None or self._model is not None:
            return self._lookup
        directory = Path(self.path) if self.path is not None else packaged_static_dir()
        missing = [name for name in _STATIC_FILES if not (directory / name).is_file()]
        if missing:
            raise ModelArtifactError(
                f"static embedding model not found: {directory} lacks {', '.join(missing)}. "
                "Reinstall ponder, or rebuild it with tools/build_static_embedding.py."
            )
        try:
            import safetensors  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError as exc:
            raise ModelArtifactError(
                "the static embedding featurizer needs the 'model2vec' package (and with it "
                "'tokenizers' and 'safetensors'): pip install model2vec"
            ) from exc
        try:
            self._lookup = _Lookup.read(directory)
            if self._lookup is None:
                self._model = _model2vec(directory)
        except ModelArtifactError:
            raise
        except Exception as exc:  # corrupt files surface as assorted library errors
            raise ModelArtifactError(
                f"cannot load static embedding model {directory}: {exc}"
            ) from exc
        return self._lookup

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the recipe, not the 15 MB of loaded vectors."""
        return {"path": self.path, "_model": None, "_lookup": None}


def _model2vec(directory: Path) -> Any:
    try:
        from model2vec import StaticModel
    except ImportError as exc:
        raise ModelArtifactError(
            f"the static embedding model in {directory} needs the 'model2vec' package: "
            "pip install model2vec"
        ) from exc
    # An existing local directory is read directly; model2vec makes no hub call for it.
    return StaticModel.from_pretrained(directory, quantize_to="float32")


_DEFAULT_MAX_LENGTH = 512
"""Tokens read when a model's config names no max_length (model2vec's own default)."""


class _Lookup:
    """A plain model2vec model, read without model2vec: what its ``StaticModel`` would hold
    (tokenizer truncating at ``max_length``, vectors as float32, the [UNK] id, the median
    token length that caps the characters read), and the mean of a text's token vectors."""

    def __init__(self, vectors: FloatMatrix, tokenizer: Any, config: dict[str, Any]) -> None:
        max_length = config.get("max_length", _DEFAULT_MAX_LENGTH)
        if max_length is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(int(max_length))
        tokenizer.no_padding()
        vocab = tokenizer.get_vocab()
        median = int(np.median([len(token) for token in vocab]))
        unk = getattr(tokenizer.model, "unk_token", None)
        self.vectors = vectors
        self.tokenizer = tokenizer
        self.unk: int | None = None if unk is None else tokenizer.token_to_id(unk)
        self.max_chars = int(max_length) * median if max_length else None
        self.fast = WordPiece.of(tokenizer, None if max_length is None else int(max_length))

    @classmethod
    def read(cls, directory: Path) -> _Lookup | None:
        """The model in ``directory``, or None if it is not in the plain layout."""
        from safetensors import safe_open
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("config.json is not a JSON object")
        with safe_open(str(directory / "model.safetensors"), framework="numpy") as tensors:
            if set(tensors.keys()) != {"embeddings"}:
                return None  # token weights or a vocabulary mapping: model2vec's business
            vectors = tensors.get_tensor("embeddings")
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        if vectors.ndim != 2 or vectors.shape[0] != tokenizer.get_vocab_size():
            return None
        return cls(np.ascontiguousarray(vectors, dtype=np.float32), tokenizer, config)

    def token_ids(self, texts: Sequence[str]) -> list[npt.NDArray[np.int64]]:
        """Each text's token ids, [UNK] left out (as model2vec does: it carries no meaning)."""
        cut = [t[: self.max_chars] for t in texts] if self.max_chars else [clip(t) for t in texts]
        if self.fast is not None:
            encoded = self.fast.encode_many(cut)
        else:
            batch = self.tokenizer.encode_batch_fast(cut, add_special_tokens=False)
            encoded = [e.ids for e in batch]
        arrays = [np.array(ids, dtype=np.int64) for ids in encoded]
        unk = self.unk
        return arrays if unk is None else [a[a != unk] for a in arrays]

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """The L2-normalised mean of each text's token vectors (zeros for no tokens)."""
        vectors = self.vectors
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        for i, ids in enumerate(self.token_ids(texts)):
            if ids.size:
                out[i] = vectors.take(ids, axis=0).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


# --------------------------------------------------------------------------------------------
# Composition and (de)serialisation


class Concat:
    """Side-by-side columns of several featurizers, in the order given."""

    def __init__(self, parts: Sequence[Featurizer]) -> None:
        if not parts:
            raise ValueError("Concat needs at least one part")
        self.parts = tuple(parts)

    def transform(self, texts: Sequence[str]) -> FloatMatrix:
        return np.hstack([p.transform(texts) for p in self.parts]).astype(np.float32, copy=False)

    @property
    def spec(self) -> FeaturizerSpec:
        return FeaturizerSpec(kind="concat", parts=tuple(_spec_of(p) for p in self.parts))


def _spec_of(featurizer: Featurizer) -> FeaturizerSpec:
    spec = getattr(featurizer, "spec", None)
    if not isinstance(spec, FeaturizerSpec):
        raise TypeError(f"{type(featurizer).__name__} has no FeaturizerSpec; it cannot be saved")
    return spec


def build_featurizer(spec: FeaturizerSpec) -> Featurizer:
    """Rebuild a featurizer from its spec; a malformed spec is a corrupt classifier artifact."""
    params = dict(spec.params)
    try:
        if spec.kind == "stats":
            featurizer: Featurizer = TextStats()
        elif spec.kind == "hashed":
            n_features = params.pop("n_features", 256)
            if not isinstance(n_features, int):
                raise ValueError(f"n_features must be an int, got {n_features!r}")
            featurizer = HashedNgrams(n_features)
        elif spec.kind == "static":
            path = params.pop("path", None)
            if path is not None and not isinstance(path, str):
                raise ValueError(f"path must be a string or null, got {path!r}")
            featurizer = StaticEmbedding(path)
        else:
            featurizer = Concat([build_featurizer(part) for part in spec.parts])
        if params:
            raise ValueError(f"unknown parameters {sorted(params)}")
        if spec.parts and spec.kind != "concat":
            raise ValueError("only 'concat' takes parts")
    except ValueError as exc:
        raise ModelArtifactError(f"invalid featurizer spec {spec.kind!r}: {exc}") from exc
    return featurizer


def static_model_available(path: str | None = None) -> bool:
    """Whether StaticEmbedding(path) can be expected to load, without paying to load it."""
    directory = Path(path) if path is not None else packaged_static_dir()
    has_files = all((directory / name).is_file() for name in _STATIC_FILES)
    return has_files and importlib.util.find_spec("model2vec") is not None


def default_featurizer_spec() -> FeaturizerSpec:
    """What `ponder train` uses: statistics plus the best content embedding this install has."""
    content = StaticEmbedding().spec if static_model_available() else HashedNgrams().spec
    return FeaturizerSpec(kind="concat", parts=(TextStats().spec, content))

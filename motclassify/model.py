"""The torch module: encoder with LoRA adapters, turn pooling, and the moment and sentiment heads."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .config import FEATURE_PARTS, ModelConfig
from .errors import ModelFormatError

LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


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

    def turn_sums(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, turn_ids: torch.Tensor,
                  first_row: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of windows and pool their token vectors by turn, into flat per-turn rows.

        ``turn_ids`` gives each token's turn index in its transcript (-1 for special and pad tokens) and
        ``first_row[b]`` the row of window ``b``'s transcript's first turn, so a token of turn ``t`` adds to row
        ``first_row[b] + t`` of the ``(rows, H)`` sums (and its count to the ``(rows,)`` counts). Training and
        the inference engine both pool through here; a transcript read in several windows adds up across them.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        valid = turn_ids >= 0
        row = (first_row.unsqueeze(1) + turn_ids.clamp(min=0))[valid]
        sums = hidden.new_zeros(rows, hidden.shape[-1]).index_add(0, row, hidden[valid])
        counts = hidden.new_zeros(rows).index_add(0, row, torch.ones_like(row, dtype=hidden.dtype))
        return sums, counts

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

    def span_features(self, sums: torch.Tensor, counts: torch.Tensor, start: torch.Tensor,
                      end: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each head reads for turn spans (arguments as in :meth:`span_parts`): ``{"moment": ..., "sentiment": ...}``."""
        dtype = self.moment_head.weight.dtype
        parts = self.span_parts(sums.to(dtype), counts.to(dtype), start, end,
                                {p for names in self.config.head_features.values() for p in names})
        return {head: torch.cat([parts[p] for p in self.config.head_features[head]], dim=-1)
                for head in ("moment", "sentiment")}

    def span_logits(self, sums: torch.Tensor, counts: torch.Tensor, start: torch.Tensor, end: torch.Tensor):
        """Moment and sentiment logits of turn spans (arguments as in :meth:`span_parts`)."""
        features = self.span_features(sums, counts, start, end)
        return self.moment_head(self.dropout(features["moment"])), self.sentiment_head(self.dropout(features["sentiment"]))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a model folder stores: LoRA factors, LayerNorms and heads, the parts that differ from the base."""
        names = {name for name, p in self.named_parameters() if p.requires_grad}
        return {name: tensor for name, tensor in self.state_dict().items() if name in names}

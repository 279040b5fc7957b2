"""The inference engine: tokenize, cut windows on turn boundaries, batch under a token budget, encode, pool by turn."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from .config import DEFAULT_BATCH_TOKENS, default_threads
from .errors import MotclassifyError
from .model import MomentModel
from .transcript import ROLES, Transcript


@dataclass(frozen=True)
class Window:
    """Token ids of one model window and the transcript turn of each token (-1 for [CLS]/[SEP])."""

    input_ids: list[int]
    turn_ids: list[int]


@dataclass
class TurnSums:
    """Per-turn sums of token vectors of transcripts laid end to end, gathered over all their windows: the
    engine's output. Transcript ``i``'s turns are rows ``offsets[i]`` to ``offsets[i + 1] - 1``."""

    sums: torch.Tensor  # (total turns, hidden), float32
    counts: torch.Tensor  # (total turns,)
    offsets: np.ndarray  # (transcripts + 1,)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """The fast tokenizer with the file's fixed truncation and padding removed: the engine pads and cuts itself."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without one is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MotclassifyError("device 'cuda' was asked for but no CUDA GPU is available: use device='cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise MotclassifyError(f"device {device!r} is not supported: use 'auto', 'cpu' or 'cuda'")
    return resolved


def autocast_dtype(device: torch.device, bf16_supported: bool | None = None) -> torch.dtype | None:
    """Mixed precision on CUDA (bf16 where the GPU has it, else fp16); full precision on CPU."""
    if device.type != "cuda":
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16


PAD_MULTIPLE = 32  # batch widths are multiples of this: few distinct shapes, few cached kernel plans
# What one more encoder pass costs, in tokens of a pass (CPU; benchmarks/results/speed.json: encoder_pass_cost, about
# 10 ms a pass, 52 to 67 tokens in two runs, on either backend).
PASS_COST_TOKENS = 64
# Row counts a batch may have (besides a full one): few distinct batch shapes, so memory stays flat (as PAD_MULTIPLE).
BATCH_ROWS = (1, 2, 4, 8, 16, 32, 64, 128)


class Windower:
    """Turns transcripts into model windows of token ids, cut on turn boundaries, and pads batches of them."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = 256, overlap_tokens: int = 64):
        if max_length < 16:
            raise MotclassifyError(f"max_length must be at least 16, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.overlap_tokens = min(overlap_tokens, (max_length - 2) // 2)
        self.cls_id = tokenizer.token_to_id("[CLS]")
        self.sep_id = tokenizer.token_to_id("[SEP]")
        self.pad_id = tokenizer.token_to_id("[PAD]") or 0
        self.role_ids = {role: tokenizer.encode(f"{role}:", add_special_tokens=False).ids for role in ROLES}

    def windows(self, transcripts: Sequence[Transcript]) -> list[list[Window]]:
        """Tokenize all turns in one batch call and cut each transcript into windows."""
        texts = [turn.text for transcript in transcripts for turn in transcript.turns]
        encodings = iter(self.tokenizer.encode_batch(texts, add_special_tokens=False))
        result = []
        for transcript in transcripts:
            ids: list[int] = []
            turn_of: list[int] = []
            starts: list[int] = []
            for index, turn in enumerate(transcript.turns):
                starts.append(len(ids))
                tokens = self.role_ids[turn.speaker] + next(encodings).ids
                ids.extend(tokens)
                turn_of.extend([index] * len(tokens))
            result.append(self._cut(ids, turn_of, starts))
        return result

    def _cut(self, ids: list[int], turn_of: list[int], turn_starts: list[int]) -> list[Window]:
        """Windows of at most ``max_length`` tokens; cuts fall on turn starts where one lies in the back half
        of the window, and each window re-reads up to ``overlap_tokens`` of the one before, from a turn start."""
        budget = self.max_length - 2
        windows, start = [], 0
        while True:
            end = min(start + budget, len(ids))
            if end < len(ids):
                end = max((s for s in turn_starts if start + budget // 2 < s <= end), default=end)
            windows.append(Window([self.cls_id, *ids[start:end], self.sep_id], [-1, *turn_of[start:end], -1]))
            if end >= len(ids):
                return windows
            back = end - self.overlap_tokens
            start = min((s for s in turn_starts if back <= s < end), default=back)


    def width(self, length: int) -> int:
        """The padded width of a batch whose longest window has ``length`` tokens: rounded up to a multiple of
        ``PAD_MULTIPLE`` (at most ``max_length``), so batches come in a few shapes rather than hundreds."""
        return min(self.max_length, -(-length // PAD_MULTIPLE) * PAD_MULTIPLE)

    def pad(self, windows: Sequence[Window]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``input_ids``, ``attention_mask`` and ``turn_ids`` padded to the batch's :meth:`width`."""
        width = self.width(max(len(w.input_ids) for w in windows))
        input_ids = torch.full((len(windows), width), self.pad_id, dtype=torch.long)
        turn_ids = torch.full((len(windows), width), -1, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for row, window in enumerate(windows):
            length = len(window.input_ids)
            input_ids[row, :length] = torch.tensor(window.input_ids)
            turn_ids[row, :length] = torch.tensor(window.turn_ids)
            mask[row, :length] = 1
        return input_ids, mask, turn_ids


class Engine:
    """Runs a :class:`MomentModel` over windows: length-sorted batches under a padded-token budget,
    dynamic padding, inference mode, autocast on CUDA, optional int8 or ONNX Runtime on CPU."""

    def __init__(self, model: MomentModel, tokenizer_path: str | os.PathLike, device: str = "auto",
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, quantize: str | None = None, threads: int | None = None,
                 backend: str = "torch"):
        self.device = resolve_device(device)
        if batch_tokens < model.config.max_length:
            raise MotclassifyError(f"batch_tokens ({batch_tokens}) must be at least max_length ({model.config.max_length})")
        self.batch_tokens = batch_tokens
        if threads is not None or torch.get_num_threads() > default_threads():
            torch.set_num_threads(threads or default_threads())
        if quantize not in (None, "int8"):
            raise MotclassifyError(f"quantize must be None or 'int8', got {quantize!r}")
        if backend not in ("torch", "onnx"):
            raise MotclassifyError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        if self.device.type != "cpu" and (quantize or backend == "onnx"):
            raise MotclassifyError(f"{'quantize=' + repr(quantize) if quantize else 'backend=onnx'} runs on the CPU only; "
                                   "on CUDA the torch backend uses fp16/bf16 autocast")
        if backend == "onnx":
            from .onnxrt import OnnxEncoder

            model.encoder = OnnxEncoder(model.encoder, threads or default_threads(), quantize)
        elif quantize == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.encoder = torch.ao.quantization.quantize_dynamic(model.encoder, {torch.nn.Linear}, dtype=torch.qint8)
        self.quantize = quantize
        self.backend = backend
        self.model = model.to(self.device).eval()
        self.dtype = autocast_dtype(self.device)
        self.windower = Windower(load_tokenizer(Path(tokenizer_path)), model.config.max_length,
                                 model.config.window_overlap_tokens)

    def batches(self, windows: list[Window]) -> list[list[int]]:
        """Indices of windows, sorted by length, cut into runs of neighbours (of ``BATCH_ROWS`` or a full budget's
        rows) that keep ``batch size x padded width`` within the budget and, among such cuts, compute the fewest
        tokens: padded tokens plus ``PASS_COST_TOKENS`` a pass (a shortest path over the cut points). Filling each
        batch up to the budget instead pads a few short windows to the width of long ones, which costs most on small inputs
        (a service's micro-batches) where neighbours differ most in length."""
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        cost, cut = np.zeros(len(order) + 1, np.int64), np.zeros(len(order) + 1, np.int64)
        for end in range(1, len(order) + 1):
            width = self.windower.width(len(windows[order[end - 1]].input_ids))
            full = max(1, self.batch_tokens // width)
            starts = end - np.array(sorted((rows for rows in {*BATCH_ROWS, full} if rows <= min(end, full)), reverse=True))
            totals = cost[starts] + (end - starts) * width + PASS_COST_TOKENS
            best = int(totals.argmin())  # the first minimum: the largest batch among equal costs
            cost[end], cut[end] = totals[best], starts[best]
        batches, end = [], len(order)
        while end:
            batches.append(order[int(cut[end]):end])
            end = int(cut[end])
        return batches[::-1]

    def turn_sums(self, transcripts: Sequence[Transcript]) -> TurnSums:
        """Encode transcripts in length-sorted batches; per-turn sums and counts of their token vectors."""
        per_transcript = self.windower.windows(transcripts)
        offsets = np.cumsum([0] + [len(t.turns) for t in transcripts])
        flat = [(t, w) for t, windows in enumerate(per_transcript) for w in windows]
        rows = int(offsets[-1])
        sums = torch.zeros(rows, self.model.hidden_size, device=self.device)
        counts = torch.zeros(rows, device=self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            for batch in self.batches([w for _, w in flat]):
                input_ids, mask, turn_ids = self.pad([flat[i][1] for i in batch])
                first_row = torch.as_tensor(offsets[[flat[i][0] for i in batch]]).to(self.device)
                batch_sums, batch_counts = self.model.turn_sums(input_ids, mask, turn_ids, first_row, rows)
                sums += batch_sums.float()
                counts += batch_counts.float()
        return TurnSums(sums, counts, offsets)

    def pad(self, windows: list[Window]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Dynamic padding to the batch's own longest window, moved to the device (pinned memory on CUDA)."""
        pin = self.device.type == "cuda"
        return tuple(t.pin_memory().to(self.device, non_blocking=True) if pin else t for t in self.windower.pad(windows))

    def span_logits(self, turns: TurnSums, spans: Sequence[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Moment and sentiment logits (before temperature) for each ``(transcript index, first turn, last turn)``
        span of ``turns``: the heads only, no new encoder pass."""
        labels = self.model.config.labels
        if not spans:
            return np.zeros((0, len(labels.moments)), np.float32), np.zeros((0, len(labels.sentiments)), np.float32)
        owner, first, last = (np.asarray(column) for column in zip(*spans))
        with torch.inference_mode():
            moment, sentiment = self.model.span_logits(
                turns.sums, turns.counts, torch.as_tensor(turns.offsets[owner] + first).to(self.device),
                torch.as_tensor(turns.offsets[owner] + last).to(self.device))
        return moment.float().cpu().numpy(), sentiment.float().cpu().numpy()

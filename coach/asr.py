"""Recognition stage: faster-whisper over the speech spans of one channel.

Only own speech (from the crosstalk-aware VAD) is sent to the model: the spans
are cut out, joined, transcribed in one pass and the word times mapped back to
the file's clock.  That is what faster-whisper's own `vad_filter` does, but with
our spans, so customer bleed and silence never reach the decoder (fewer
hallucinations, less work).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from coach import textnorm
from coach.audio import SAMPLE_RATE
from coach.config import AsrOptions
from coach.errors import ModelError
from coach.results import Span, Word

log = logging.getLogger(__name__)

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "whisper-base"


@dataclass(frozen=True)
class _Piece:
    """Where a span of the original audio sits in the joined audio."""

    joined_start: float
    original_start: float
    duration: float


class Transcriber:
    """A Whisper model loaded once; `transcribe` is called per channel."""

    def __init__(self, model_dir: str | Path | None = None, options: AsrOptions = AsrOptions()):
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        missing = [f for f in MODEL_FILES if not (self.model_dir / f).is_file()]
        if missing:
            raise ModelError(
                f"no Whisper model in {self.model_dir} (missing {', '.join(missing)}): "
                "run 'make setup' or pass --model DIR of a CTranslate2 Whisper model"
            )
        from faster_whisper import WhisperModel  # heavy import, only when a model is needed

        self.options = options
        try:
            self._model = WhisperModel(
                str(self.model_dir), device="cpu", compute_type=options.compute_type,
                cpu_threads=options.cpu_threads,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load the Whisper model in {self.model_dir} ({exc}): reinstall it with 'make setup'") from None

    def transcribe(self, samples: np.ndarray, spans: Sequence[Span]) -> list[Word]:
        """Words spoken in `spans` of `samples` (16 kHz), times on the file's clock."""
        if not spans:
            return []
        joined, pieces = join_spans(samples, spans, self.options.pad_s)
        segments, _ = self._model.transcribe(
            joined,
            language=self.options.language,
            beam_size=self.options.beam_size,
            initial_prompt=self.options.initial_prompt,
            word_timestamps=True,
            vad_filter=False,
            # Conditioning on earlier text is what lets one hallucination loop for minutes.
            condition_on_previous_text=False,
        )
        words: list[Word] = []
        for seg in segments:
            if textnorm.is_hallucination(
                seg.text, no_speech_prob=seg.no_speech_prob, avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
            ):
                log.info("dropped a likely hallucination at %.1f s: %r", seg.start, seg.text)
                continue
            for w in seg.words or ():
                text = w.word.strip()
                if text:
                    start = to_original(w.start, pieces)
                    end = max(start, to_original(w.end, pieces, is_end=True))
                    words.append(Word(start, end, text, w.probability))
        return words


def join_spans(samples: np.ndarray, spans: Sequence[Span], pad_s: float) -> tuple[np.ndarray, list[_Piece]]:
    """Cut the padded spans out of `samples` and join them, remembering where each went."""
    padded = merge_spans(
        [Span(max(0.0, s.start - pad_s), min(len(samples) / SAMPLE_RATE, s.end + pad_s)) for s in spans]
    )
    parts, pieces, cursor = [], [], 0.0
    for span in padded:
        a, b = int(span.start * SAMPLE_RATE), int(span.end * SAMPLE_RATE)
        parts.append(samples[a:b])
        pieces.append(_Piece(cursor, a / SAMPLE_RATE, (b - a) / SAMPLE_RATE))
        cursor += (b - a) / SAMPLE_RATE
    return np.concatenate(parts).astype(np.float32, copy=False), pieces


def to_original(t: float, pieces: Sequence[_Piece], is_end: bool = False) -> float:
    """Map a time in the joined audio back to the original file.

    A time exactly on a joint belongs to the piece before it when it is an end.
    """
    for piece in pieces:
        piece_end = piece.joined_start + piece.duration
        if t < piece_end or (is_end and t <= piece_end):
            return round(piece.original_start + max(0.0, t - piece.joined_start), 3)
    last = pieces[-1]
    return round(last.original_start + last.duration, 3)


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Sorted spans with overlaps joined."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged

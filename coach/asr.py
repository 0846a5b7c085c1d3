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

SENTENCE_ENDS = ("。", "？", "！", "?", "!", ".")
# Mandarin is spoken at up to ~6 characters a second and Whisper's tokenizer spends 1–2
# tokens on a character: more than this per second of speech is a loop, not speech.
TOKENS_PER_S = 12
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

    def transcribe(self, samples: np.ndarray, spans: Sequence[Span], bound_decoding: bool = False) -> list[Word]:
        """Words spoken in `spans` of `samples` (16 kHz), times on the file's clock.

        ``bound_decoding`` is for live pieces of a few seconds: greedy decoding only and at most
        `TOKENS_PER_S` per second of speech.  On a short piece padded to Whisper's 30 s window a
        hallucination loop otherwise runs to 448 tokens at every fallback temperature (seen here:
        48 s of decoding for a 3 s piece); bounded, it ends with the piece's real length.
        """
        if not spans:
            return []
        joined, pieces = join_spans(samples, spans, self.options.pad_s, self.options.gap_s)
        bounds = {}
        if bound_decoding:
            speech_s = sum(s.end - s.start for s in spans)
            bounds = {"temperature": 0.0, "max_new_tokens": int(TOKENS_PER_S * speech_s) + 8}
        segments, _ = self._model.transcribe(
            joined,
            language=self.options.language,
            beam_size=self.options.beam_size,
            initial_prompt=self.options.initial_prompt,
            hotwords=self.options.hotwords or None,
            word_timestamps=True,
            vad_filter=False,
            # Conditioning on earlier text is what lets one hallucination loop for minutes.
            condition_on_previous_text=False,
            **bounds,
        )
        words: list[Word] = []
        after_sentence_end = True
        tokens = 0
        for seg in segments:
            tokens += len(seg.tokens)
            seg_words = list(seg.words or ())
            if bounds and tokens >= bounds["max_new_tokens"] - 1:
                # The bound cut this segment in a loop: keep what came before the loop began.
                seg_words = seg_words[:before_loop([w.word.strip() for w in seg_words])]
                log.info("cut a decoding loop at %.1f s: %r", seg.start, seg.text)
            elif textnorm.is_hallucination(
                seg.text, no_speech_prob=seg.no_speech_prob, avg_logprob=seg.avg_logprob,
                compression_ratio=seg.compression_ratio,
            ):
                log.info("dropped a likely hallucination at %.1f s: %r", seg.start, seg.text)
                continue
            for w in seg_words:
                text = w.word.strip()
                if text:
                    lean = 1 if after_sentence_end else -1 if text.endswith(SENTENCE_ENDS) else 0
                    start, end = word_to_original(w.start, w.end, pieces, lean)
                    words.append(Word(start, end, text, w.probability))
                    after_sentence_end = text.endswith(SENTENCE_ENDS)
        return words


def before_loop(words: Sequence[str], repeats: int = 3) -> int:
    """How many words of a segment cut off in a decoding loop are speech: those before the first
    broken character (a token cut mid-character), the first word said `repeats` times in a row,
    or the end of the first sentence (a loop of whole phrases restarts after one)."""
    for i, word in enumerate(words):
        if "\ufffd" in word or words[i:i + repeats] == [word] * repeats:
            return i
        if word.endswith(SENTENCE_ENDS):
            return i + 1
    return len(words)


def join_spans(samples: np.ndarray, spans: Sequence[Span], pad_s: float,
               gap_s: float = 0.0) -> tuple[np.ndarray, list[_Piece]]:
    """Cut the padded spans out of `samples` and join them, `gap_s` of silence apart,
    remembering where each went."""
    padded = merge_spans(
        [Span(max(0.0, s.start - pad_s), min(len(samples) / SAMPLE_RATE, s.end + pad_s)) for s in spans]
    )
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE)), np.float32)
    parts, pieces, cursor = [], [], 0.0
    for span in padded:
        a, b = int(span.start * SAMPLE_RATE), int(span.end * SAMPLE_RATE)
        if parts:
            parts.append(gap)
            cursor += len(gap) / SAMPLE_RATE
        parts.append(samples[a:b])
        pieces.append(_Piece(cursor, a / SAMPLE_RATE, (b - a) / SAMPLE_RATE))
        cursor += (b - a) / SAMPLE_RATE
    return np.concatenate(parts).astype(np.float32, copy=False), pieces


def word_to_original(start: float, end: float, pieces: Sequence[_Piece], lean: int = 0) -> tuple[float, float]:
    """Map a word's joined-audio times back, keeping the word inside one piece.

    Whisper's word times drift by a few tenths of a second, and around a joint that is
    enough to put the first word of a turn into the tail of the turn before (一 "这是"
    heard at 50.6 s reported at 44.0 s).  A word belongs to the piece holding its middle.
    A middle in the silence between two pieces — where nothing was said — goes by the
    sentence: to the next piece when the word opens a sentence (lean +1), to the previous
    when it ends one (lean −1), else to the nearer piece.
    """
    middle = (start + end) / 2

    def distance(p: _Piece) -> float:
        return max(p.joined_start - middle, middle - p.joined_start - p.duration, 0.0)

    piece = min(pieces, key=distance)
    if distance(piece) > 0 and lean:
        side = [p for p in pieces if (p.joined_start > middle if lean > 0 else p.joined_start < middle)]
        if side:
            piece = min(side, key=distance)
    joined_end = piece.joined_start + piece.duration
    start = min(max(start, piece.joined_start), joined_end)
    end = min(max(end, start), joined_end)
    return (round(piece.original_start + start - piece.joined_start, 3),
            round(piece.original_start + end - piece.joined_start, 3))


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Sorted spans with overlaps joined."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged

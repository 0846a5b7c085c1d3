"""The Whisper recogniser (faster-whisper / CTranslate2), behind `coach.asr.Recognizer`.

Everything Whisper-specific lives here: the 30 s window, the prompt, the decoding settings,
the hallucination and loop guards, and mapping word times from the audio Whisper heard back
to the file's clock.

How the spans reach the model (measured on 2 cores, Whisper base int8, bench/README.md):

* The encoder costs about a second per 30 s window, whatever the window holds, so the spans
  of a channel are packed into windows of up to `AsrOptions.window_s`, `gap_s` of silence
  apart (so Whisper hears where each turn starts and its word times keep them apart).
* Each window is decoded on its own, in batches (`BatchedInferencePipeline` with our own
  `clip_timestamps`), and without timestamp tokens: faster-whisper's sequential
  `transcribe` skips the rest of a 30 s window when greedy decoding ends it after its first
  segment, and that lost whole turns; a window decoded as one text cannot lose its tail that
  way, and a window that comes back short anyway is caught by the caller's coverage check.
* `Decoding.CAREFUL` decodes one span per window with beam search at temperature 0 — no
  sampling fallback, so the same call always gives the same report (sampled retries differed
  from run to run, and what they added was mostly invented: 字幕製作, 证判, 请您认识):
  the second try for a span the first pass returned empty or far too short.
* `Decoding.LIVE` is for live pieces of a few seconds: greedy, and at most `TOKENS_PER_S` per
  second of speech (a hallucination loop on a short piece otherwise runs Whisper's fallbacks
  to 448 tokens: seen here, 48 s of decoding for a 3 s piece).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from coach import textnorm
from coach.asr import Decoding
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
_WINDOW_LIMIT_S = 30.0
_UNLIKELY_WORD = 0.2  # Whisper's own probability under which a word at the end of a piece is invented


@dataclass(frozen=True)
class Piece:
    """Where span `index` of the caller's list sits in the audio given to Whisper."""

    index: int
    joined_start: float
    original_start: float
    duration: float


class WhisperRecognizer:
    """A CTranslate2 Whisper model loaded once; `transcribe` is called per channel."""

    def __init__(self, model_dir: str | Path | None = None, options: AsrOptions = AsrOptions()):
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        missing = [f for f in MODEL_FILES if not (self.model_dir / f).is_file()]
        if missing:
            raise ModelError(
                f"no Whisper model in {self.model_dir} (missing {', '.join(missing)}): "
                "run 'make setup' or pass --model DIR of a CTranslate2 Whisper model"
            )
        from faster_whisper import BatchedInferencePipeline, WhisperModel  # heavy: only when a model is needed

        self.options = options
        try:
            self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type=options.compute_type,
                                       cpu_threads=options.cpu_threads)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load the Whisper model in {self.model_dir} ({exc}): "
                             "reinstall it with 'make setup'") from None
        self._batched = BatchedInferencePipeline(self._model)

    @property
    def identity(self) -> str:
        return model_identity(self.model_dir)

    def transcribe(self, samples: np.ndarray, spans: Sequence[Span],
                   decoding: Decoding = Decoding.FAST) -> list[list[Word]]:
        """The words of each span of `samples` (16 kHz), each inside its span, file clock."""
        words: list[list[Word]] = [[] for _ in spans]
        if not spans:
            return words
        if decoding is Decoding.FAST:
            self._fast(samples, spans, words)
        elif decoding is Decoding.CAREFUL:
            for i, span in enumerate(spans):
                self._careful(samples, i, span, words)
        else:
            self._live(samples, spans, words)
        return [without_invented_tail(span_words) for span_words in words]

    # ----------------------------------------------------------------- the three decodings
    def _fast(self, samples: np.ndarray, spans: Sequence[Span], words: list[list[Word]]) -> None:
        o = self.options
        windows = pack(spans, o.window_s, o.pad_s, o.gap_s)
        parts, pieces, clips, cursor = [], [], [], 0.0
        for window in windows:
            audio, window_pieces = join_spans(samples, window, spans, o.pad_s, o.gap_s, at=cursor)
            clips.append({"start": cursor, "end": cursor + len(audio) / SAMPLE_RATE})
            parts.append(audio)
            pieces.append(window_pieces)
            cursor += len(audio) / SAMPLE_RATE
        longest = max(sum(spans[i].duration for i in window) for window in windows)
        self._batched.last_speech_timestamp = 0.0  # left over from the previous call otherwise
        segments, _ = self._batched.transcribe(
            np.concatenate(parts), language=o.language, beam_size=o.beam_size, initial_prompt=o.initial_prompt or None,
            hotwords=o.hotwords or None, word_timestamps=True, without_timestamps=True, clip_timestamps=clips,
            batch_size=o.batch_size, max_new_tokens=int(TOKENS_PER_S * longest) + 8,
        )
        for segment in segments:
            window = next(i for i, c in enumerate(clips) if c["start"] <= (segment.start + segment.end) / 2 < c["end"]
                          or i == len(clips) - 1)
            self._collect([segment], pieces[window], words)

    def _careful(self, samples: np.ndarray, index: int, span: Span, words: list[list[Word]]) -> None:
        o = self.options
        audio, pieces = join_spans(samples, [index], {index: span}, o.pad_s, o.gap_s)
        segments, _ = self._model.transcribe(
            audio, language=o.language, beam_size=max(5, o.beam_size), temperature=0.0,
            word_timestamps=True, without_timestamps=True, vad_filter=False, condition_on_previous_text=False,
            max_new_tokens=int(TOKENS_PER_S * span.duration) + 8,
        )
        self._collect(segments, pieces, words)

    def _live(self, samples: np.ndarray, spans: Sequence[Span], words: list[list[Word]]) -> None:
        o = self.options
        audio, pieces = join_spans(samples, range(len(spans)), spans, o.pad_s, o.gap_s)
        speech_s = sum(s.duration for s in spans)
        segments, _ = self._model.transcribe(
            audio, language=o.language, beam_size=o.beam_size, initial_prompt=o.initial_prompt or None,
            hotwords=o.hotwords or None, word_timestamps=True, vad_filter=False, condition_on_previous_text=False,
            temperature=0.0, max_new_tokens=int(TOKENS_PER_S * speech_s) + 8,
        )
        self._collect(segments, pieces, words)

    # ----------------------------------------------------------------- words back to spans
    def _collect(self, segments: Iterable, pieces: Sequence[Piece], words: list[list[Word]]) -> None:
        after_sentence_end = True
        speech_s = sum(p.duration for p in pieces)
        for segment in segments:
            seg_words = drop_invented([w for w in (segment.words or ()) if w.word.strip()],
                                      self.options.initial_prompt)
            text = "".join(w.word for w in seg_words)
            if len(segment.tokens) >= TOKENS_PER_S * speech_s:
                # Past any real speech rate: a decoding loop.  Keep what came before it began.
                seg_words = seg_words[:before_loop([w.word.strip() for w in seg_words])]
                log.info("cut a decoding loop at %.1f s: %r", segment.start, segment.text)
            elif textnorm.is_hallucination(text, no_speech_prob=segment.no_speech_prob,
                                           avg_logprob=segment.avg_logprob,
                                           compression_ratio=segment.compression_ratio):
                log.info("dropped a likely hallucination at %.1f s: %r", segment.start, segment.text)
                continue
            for w in seg_words:
                text = w.word.strip()
                lean = 1 if after_sentence_end else -1 if text.endswith(SENTENCE_ENDS) else 0
                index, start, end = word_to_original(w.start, w.end, pieces, lean)
                words[index].append(Word(start, end, text, w.probability))
                after_sentence_end = text.endswith(SENTENCE_ENDS)


def model_identity(model_dir: str | Path | None = None) -> str:
    """Names the model by its files' bytes (the weights' size, head and tail, the JSON files
    whole), cheaply and without loading it: batch fingerprints its settings with this."""
    folder = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        file = folder / name
        if not file.is_file():
            digest.update(f"{name}:missing".encode())
        elif name == "model.bin":
            size = file.stat().st_size
            digest.update(f"{name}:{size}".encode())
            with file.open("rb") as f:
                digest.update(f.read(1 << 20))
                f.seek(max(0, size - (1 << 20)))
                digest.update(f.read())
        else:
            digest.update(file.read_bytes())
    return f"whisper:{digest.hexdigest()[:16]}"


def pack(spans: Sequence[Span], window_s: float, pad_s: float, gap_s: float) -> list[list[int]]:
    """Consecutive spans grouped into windows of at most `window_s` of audio as Whisper hears
    it (each span padded, `gap_s` apart); a span longer than a window gets one to itself and
    the caller (`coach.asr.pieces`) keeps spans shorter than that."""
    windows: list[list[int]] = []
    used = 0.0
    for i, span in enumerate(spans):
        length = span.duration + 2 * pad_s
        if windows and used + gap_s + length <= min(window_s, _WINDOW_LIMIT_S):
            windows[-1].append(i)
            used += gap_s + length
        else:
            windows.append([i])
            used = length
    return windows


def join_spans(samples: np.ndarray, indices: Iterable[int], spans, pad_s: float, gap_s: float,
               at: float = 0.0) -> tuple[np.ndarray, list[Piece]]:
    """Cut spans `indices` (padded, never into a neighbour's pad) out of `samples` and join
    them `gap_s` apart; `at` is where the result will sit in the audio Whisper is given."""
    chosen = sorted(indices, key=lambda i: spans[i].start)
    total_s = len(samples) / SAMPLE_RATE
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE)), np.float32)
    parts, pieces, cursor = [], [], at
    for n, i in enumerate(chosen):
        before = spans[chosen[n - 1]].end if n else 0.0
        after = spans[chosen[n + 1]].start if n + 1 < len(chosen) else total_s
        start = max(0.0, spans[i].start - min(pad_s, (spans[i].start - before) / 2))
        end = min(total_s, spans[i].end + min(pad_s, (after - spans[i].end) / 2))
        a, b = int(start * SAMPLE_RATE), max(int(start * SAMPLE_RATE) + 1, int(end * SAMPLE_RATE))
        if parts:
            parts.append(gap)
            cursor += len(gap) / SAMPLE_RATE
        parts.append(np.asarray(samples[a:b], dtype=np.float32))
        pieces.append(Piece(i, cursor, a / SAMPLE_RATE, (b - a) / SAMPLE_RATE))
        cursor += (b - a) / SAMPLE_RATE
    return np.concatenate(parts), pieces


def word_to_original(start: float, end: float, pieces: Sequence[Piece], lean: int = 0) -> tuple[int, float, float]:
    """Which span a word belongs to and its times there: it stays inside one piece.

    Whisper's word times drift by a few tenths of a second, and around a joint that is
    enough to put the first word of a turn into the tail of the turn before (一 "这是"
    heard at 50.6 s reported at 44.0 s).  A word belongs to the piece holding its middle.
    A middle in the silence between two pieces — where nothing was said — goes by the
    sentence: to the next piece when the word opens a sentence (lean +1), to the previous
    when it ends one (lean −1), else to the nearer piece.
    """
    middle = (start + end) / 2

    def distance(p: Piece) -> float:
        return max(p.joined_start - middle, middle - p.joined_start - p.duration, 0.0)

    piece = min(pieces, key=distance)
    if distance(piece) > 0 and lean:
        side = [p for p in pieces if (p.joined_start > middle if lean > 0 else p.joined_start < middle)]
        if side:
            piece = min(side, key=distance)
    joined_end = piece.joined_start + piece.duration
    start = min(max(start, piece.joined_start), joined_end)
    end = min(max(end, start), joined_end)
    return (piece.index, round(piece.original_start + start - piece.joined_start, 3),
            round(piece.original_start + end - piece.joined_start, 3))


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


def without_invented_tail(words: list[Word]) -> list[Word]:
    """The words without the tail Whisper finished a piece with in the silence after its last
    syllable: a run it barely believed in itself — 请注意, 我认识了, 试试: a probability of a few
    percent, where real words, even misheard ones, get a fifth or more — and, before that, a
    song's credits or a loop (`textnorm.invented_tail`)."""
    end = len(words)
    while end and words[end - 1].probability < _UNLIKELY_WORD:
        end -= 1
    said = [textnorm.compact(w.text) for w in words[:end]]
    tail_at, position = textnorm.invented_tail("".join(said)), 0
    for i, piece in enumerate(said):
        if position >= tail_at:
            end = i
            break
        position += len(piece)
    if end < len(words):
        log.info("dropped an invented tail: %r", "".join(w.text for w in words[end:]))
    return words[:end]


def drop_invented(words: Sequence, prompt: str) -> list:
    """The words without what Whisper invented among them: a clause of the prompt written back as
    if it were heard (a window that starts with a breath comes back as 请用简体中文。), or the
    credits of a song (作词…作曲…) after the last real word.  Dropping the whole window for
    them would lose the real words around them."""
    said = [textnorm.compact(w.word) for w in words]
    text = "".join(said)
    runs = textnorm.invented_runs(text)
    for clause in {c for c in map(textnorm.compact, re.split(r"[，。！？,.!?]", prompt or "")) if len(c) >= 4}:
        runs += [(m.start(), m.end()) for m in re.finditer(re.escape(clause), text)]
    if not runs:
        return list(words)
    kept, position = [], 0
    for word, piece in zip(words, said):
        start, position = position, position + len(piece)
        if any(a < position and start < b for a, b in runs) and piece:
            log.info("dropped %r as invented by the recogniser", word.word)
            continue
        kept.append(word)
    return kept

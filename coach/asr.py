"""Recognition stage: text for every speech turn, whatever the engine.

The recogniser only supplies text; when and how long someone spoke comes from the voice
activity.  So this stage's promise is *no speech without text*: every turn goes to the
recogniser, cut into pieces of at most `AsrOptions.piece_s` at its longest pauses, and every
piece whose text falls far short of the syllables the audio holds (`coach.syllables`) is
decoded a second time, carefully.  What still comes back empty is speech that was not
transcribed: the report says so with its time, and it stays speaking time, never silence.

An engine is a `Recognizer`: `coach.whisper.WhisperRecognizer` is the one coach ships.
"""

from __future__ import annotations

import enum
import logging
from typing import Callable, Protocol, Sequence

import numpy as np

from coach import textnorm
from coach.config import AsrOptions
from coach.results import Span, Word

log = logging.getLogger(__name__)


class Decoding(str, enum.Enum):
    FAST = "fast"  # the first pass over a channel: as much audio per model call as fits
    CAREFUL = "careful"  # a second try at a piece that came back empty or far too short
    LIVE = "live"  # live pieces of a few seconds: bounded, so the recogniser keeps up


class Recognizer(Protocol):
    """A speech recogniser, built once per process (it holds a model)."""

    @property
    def identity(self) -> str:
        """Names the engine and its model files: a different identity means different results."""

    def transcribe(self, samples: np.ndarray, spans: Sequence[Span],
                   decoding: Decoding = Decoding.FAST) -> list[list[Word]]:
        """The words said in each of `spans` of `samples` (16 kHz mono), in the same order;
        every word lies inside its span, times on the file's clock."""


def pieces(turn: Span, spans: Sequence[Span], max_s: float) -> list[Span]:
    """`turn` cut at its longest internal pauses (between the speech `spans` inside it)
    until no piece is longer than `max_s`; a single span longer than that stays whole."""
    inside = [s for s in spans if turn.start <= s.start and s.end <= turn.end] or [turn]
    if turn.duration <= max_s or len(inside) == 1:
        return [turn]
    gaps = [inside[i + 1].start - inside[i].end for i in range(len(inside) - 1)]
    cut = int(np.argmax(gaps)) + 1
    left = Span(turn.start, inside[cut - 1].end)
    right = Span(inside[cut].start, turn.end)
    return pieces(left, inside[:cut], max_s) + pieces(right, inside[cut:], max_s)


def transcribe_turns(recognizer: Recognizer, samples: np.ndarray, turns: Sequence[Span], spans: Sequence[Span],
                     syllables_in: Callable[[Span], int], options: AsrOptions) -> list[list[Word]]:
    """The words of each turn: a fast pass over all of it, then a careful one over the pieces
    that came back with fewer characters than `min_coverage` of the syllables the audio
    holds there (`syllables_in`)."""
    owners, cut = [], []
    for n, turn in enumerate(turns):
        for piece in pieces(turn, spans, options.piece_s):
            owners.append(n)
            cut.append(piece)
    words = recognizer.transcribe(samples, cut, Decoding.FAST)
    expected = [syllables_in(piece) for piece in cut]
    short = [i for i in range(len(cut)) if _too_short(words[i], expected[i], options)]
    if short:
        log.info("re-decoding %d of %d pieces that came back short", len(short), len(cut))
        again = recognizer.transcribe(samples, [cut[i] for i in short], Decoding.CAREFUL)
        for i, retried in zip(short, again):
            # The reading nearer what the audio holds: a second try can invent as well as recover.
            if abs(_chars(retried) - expected[i]) < abs(_chars(words[i]) - expected[i]):
                words[i] = retried
    per_turn: list[list[Word]] = [[] for _ in turns]
    for owner, piece_words in zip(owners, words):
        per_turn[owner].extend(piece_words)
    return per_turn


def _chars(words: Sequence[Word]) -> int:
    return textnorm.spoken_char_count("".join(w.text for w in words))


def _too_short(words: Sequence[Word], syllables: int, options: AsrOptions) -> bool:
    return syllables >= options.retry_min_syllables and _chars(words) < options.min_coverage * syllables

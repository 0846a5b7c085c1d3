"""Voice activity stage: who is speaking when, per channel, crosstalk-aware.

Silero VAD (bundled with faster-whisper, run through onnxruntime) gives a speech
probability every 32 ms.  On a call recording that is not enough: the customer
bleeds into the agent channel (headset and line crosstalk, −15…−25 dB) and silero
rightly hears that bleed as speech.  Bleed is a scaled copy of the other channel,
so its level sits a roughly constant number of decibels (the coupling) below the
other channel.  We estimate that coupling per direction from the recording itself
and keep a frame as own speech only where the channel is louder than the bleed
estimate by a margin.  Real double-talk (an interruption) passes, because then the
channel carries its own voice at full level.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import get_vad_model

from coach.audio import SAMPLE_RATE
from coach.config import VadOptions
from coach.results import Span

FRAME = 512  # silero's window at 16 kHz
FRAME_S = FRAME / SAMPLE_RATE  # 32 ms
_FLOOR_DB = -100.0
# Own speech should stand clearly above the channel's noise floor.
_ABOVE_FLOOR_DB = 6.0


class SpeechDetector:
    """Holds the silero model (loaded once per process) and finds speech spans."""

    def __init__(self, options: VadOptions = VadOptions()):
        self.options = options
        self._model = get_vad_model()

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Silero speech probability for each 32 ms frame of `samples`."""
        padded = np.pad(samples.astype(np.float32, copy=False), (0, (-len(samples)) % FRAME or FRAME))
        return np.asarray(self._model(padded)).reshape(-1)[: n_frames(len(samples))]

    def activity(self, channels: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """Boolean own-speech mask per channel, one value per 32 ms frame."""
        masks = [hysteresis(self.probabilities(ch), self.options) for ch in channels]
        if len(channels) == 2:
            levels = [frame_levels_db(ch) for ch in channels]
            masks = suppress_crosstalk(masks, levels, self.options.crosstalk_margin_db)
        return [clean_mask(m, self.options) for m in masks]


def n_frames(n_samples: int) -> int:
    return -(-n_samples // FRAME)


def frame_levels_db(samples: np.ndarray) -> np.ndarray:
    """Frame energy in dB, smoothed over 3 frames so syllable dips do not flicker."""
    padded = np.pad(samples, (0, (-len(samples)) % FRAME))
    power = np.mean(padded.reshape(-1, FRAME).astype(np.float64) ** 2, axis=1)
    power = np.convolve(power, np.ones(3) / 3, mode="same")
    return np.maximum(10 * np.log10(power + 1e-12), _FLOOR_DB)


def hysteresis(probs: np.ndarray, options: VadOptions) -> np.ndarray:
    """Speech starts above `threshold` and lasts until it falls below `neg_threshold`."""
    mask = np.zeros(len(probs), bool)
    speaking = False
    for i, p in enumerate(probs):
        speaking = p >= options.threshold or (speaking and p >= options.neg_threshold)
        mask[i] = speaking
    return mask


def estimate_coupling_db(own: np.ndarray, other: np.ndarray, other_active: np.ndarray) -> float:
    """How many dB the other party's bleed sits below them in this channel.

    Among frames where the other party talks, the quietest quarter of (own −
    other) level differences are frames where this channel holds only bleed
    (or noise, when there is no bleed: then the estimate is very low and
    suppresses nothing).
    """
    if other_active.sum() < 10:
        return _FLOOR_DB
    return float(np.percentile((own - other)[other_active], 25))


def suppress_crosstalk(masks: list[np.ndarray], levels: list[np.ndarray], margin_db: float) -> list[np.ndarray]:
    """Drop frames whose level is explained by bleed from the other channel."""
    out = []
    for i in (0, 1):
        own, other = levels[i], levels[1 - i]
        coupling = estimate_coupling_db(own, other, masks[1 - i])
        floor = np.percentile(own, 10)
        louder_than_bleed = own - other > coupling + margin_db
        above_floor = own > floor + _ABOVE_FLOOR_DB
        out.append(masks[i] & louder_than_bleed & above_floor)
    return out


def clean_mask(mask: np.ndarray, options: VadOptions) -> np.ndarray:
    """Close gaps shorter than `min_gap_s`, then drop runs shorter than `min_speech_s`."""
    mask = mask.copy()
    max_gap = int(round(options.min_gap_s / FRAME_S))
    for start, end in _runs(~mask):
        if start > 0 and end < len(mask) and end - start <= max_gap:
            mask[start:end] = True
    min_run = int(round(options.min_speech_s / FRAME_S))
    for start, end in _runs(mask):
        if end - start < min_run:
            mask[start:end] = False
    return mask


def mask_to_spans(mask: np.ndarray, duration_s: float) -> list[Span]:
    return [
        Span(round(s * FRAME_S, 3), round(min(e * FRAME_S, duration_s), 3))
        for s, e in _runs(mask)
    ]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))

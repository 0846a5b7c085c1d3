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

Silero is also slow to commit at the edges of speech: it scores soft onsets
(fricatives like 谢、是, a breathy 您) and trailing syllables low, so its spans start
0.2–0.7 s late and end early, which is enough to invent a 5 s silence out of a
4.5 s gap.  Silero decides *whether* there is speech; the boundaries of each span
are then moved out along the channel's energy to where the voice really starts
and stops (still only over frames that are the channel's own voice, not bleed), but
never into the line's noise: a frame must stand `noise_margin_db` above the noise floor
measured on the frames silero calls non-speech.  A fixed margin under the span's peak
alone walked the edges into pink noise and hum at −40 dBFS, grew every turn by up to
0.8 s and moved or hid dead-air gaps.
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
_MIN_NOISE_FRAMES = 16  # half a second of non-speech to measure the line's noise on
_MAX_NOISE_MARGIN_DB = 12.0
_SLOPE_FRAMES = 2  # a voice edge's slope is read over this many frames
_AT_THE_NOISE_DB = 3.0  # an edge this close above the noise was stopped by it
_MASKED_EDGE_S = 0.2
_BLEED_SPREAD_DB = 2.5  # bleed follows the other voice within this (median absolute deviation)


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
        return own_speech([self.probabilities(ch) for ch in channels],
                          [frame_levels_db(ch) for ch in channels], self.options)


def own_speech(probabilities: list[np.ndarray], levels: list[np.ndarray], options: VadOptions) -> list[np.ndarray]:
    """Own-speech mask per channel from silero's probabilities and the frame levels (dB).

    Pure, so live mode can run it over a trailing window of frames it has scored as they came.
    """
    cores = [hysteresis(p, options) for p in probabilities]
    noise_tops = [noise_floor_db(lv, p, options) + noise_margin_db(lv, p, options)
                  for lv, p in zip(levels, probabilities)]
    louder = [lv > top for lv, top in zip(levels, noise_tops)]
    if len(levels) == 2:
        own = [mine & loud for mine, loud in
               zip(own_voice_frames(cores, levels, options.crosstalk_margin_db, louder), louder)]
    else:
        own = louder
    return [clean_mask(extend_to_voice(core & mine, level, mine, options, top), options)
            for core, level, mine, top in zip(cores, levels, own, noise_tops)]


def noise_margin_db(levels: np.ndarray, probabilities: np.ndarray, options: VadOptions) -> float:
    """How far above the noise floor a frame must stand to be voice: `noise_margin_db`, or more
    on a line whose noise wanders (babble, music: four times the spread between the floor and
    the median of the non-speech frames, at most `_MAX_NOISE_MARGIN_DB`).  Steady line noise
    (pink noise, hum) varies by under a dB from frame to frame, and a wide fixed margin there
    cut the first and last tenth of a second off every word in −35 dBFS noise."""
    quiet = levels[probabilities < options.neg_threshold]
    if quiet.size < _MIN_NOISE_FRAMES:
        return options.noise_margin_db
    p25, p50 = np.percentile(quiet, [25, 50])
    return float(np.clip(4.0 * (p50 - p25), options.noise_margin_db, max(options.noise_margin_db, _MAX_NOISE_MARGIN_DB)))


def noise_floor_db(levels: np.ndarray, probabilities: np.ndarray, options: VadOptions) -> float:
    """The level of the line when nobody on it speaks: the lower quartile of the frames silero
    calls non-speech (its quietest tenth overall when there are too few of them).

    The lower quartile, not the median or a high percentile: the quiet heads and tails of
    words that silero scores low are non-speech frames too, and they must not lift the floor
    that decides how far a span's edges may move out over them.  Stationary line noise (pink
    noise, hum) varies by a dB or two from frame to frame, well inside `noise_margin_db`.
    """
    quiet = levels[probabilities < options.neg_threshold]
    if quiet.size < _MIN_NOISE_FRAMES:
        return float(np.percentile(levels, 10)) if levels.size else _FLOOR_DB
    return float(np.percentile(quiet, 25))


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


def estimate_coupling_db(own: np.ndarray, other: np.ndarray, other_active: np.ndarray,
                         audible: np.ndarray | None = None) -> float:
    """How many dB the other party's bleed sits below them in this channel.

    Frames where the other party talks and is the louder one hold their bleed in this
    channel.  Frames where this channel is louder are left out: those are this party
    speaking, often wrongly in `other_active` because silero hears this party's bleed there.
    Only frames above this channel's own noise (`audible`) count: where the bleed is buried
    in line noise the level difference measures the noise, not the bleed.

    Bleed is a copy of the other voice, so its difference to it is nearly constant: the
    lower quartile of a tight cluster is the coupling (the few frames of this party talking
    over the other sit above it).  A wide spread means no copy at all — the audible frames
    are this party talking at the same time (a call with −38 dBFS noise and a customer 10 dB
    quieter than the agent read −13 dB of "bleed" and cut the customer out of every barge-in).
    """
    candidates = other_active & ((own - other) < 0)
    if audible is not None:
        candidates &= audible
    bleed = (own - other)[candidates]
    if len(bleed) < 10:
        return _FLOOR_DB
    if np.median(np.abs(bleed - np.median(bleed))) > _BLEED_SPREAD_DB:
        return _FLOOR_DB
    return float(np.percentile(bleed, 25))


def own_voice_frames(masks: list[np.ndarray], levels: list[np.ndarray], margin_db: float,
                     audible: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Per channel, the frames loud enough to be its own voice rather than the other's bleed."""
    out = []
    for i in (0, 1):
        own, other = levels[i], levels[1 - i]
        coupling = estimate_coupling_db(own, other, masks[1 - i], audible[i] if audible else None)
        out.append(own - other > coupling + margin_db)
    return out


def extend_to_voice(mask: np.ndarray, levels: np.ndarray, allowed: np.ndarray, options: VadOptions,
                    noise_top_db: float | None = None) -> np.ndarray:
    """Move each span's edges outwards over frames still carrying its voice.

    A frame belongs to the span while it is `allowed` (own voice above the line's noise, not
    bleed) and within `edge_drop_db` of the span's loudest frame, for at most `max_edge_s` each
    side; a dip shorter than `min_gap_s` (a stop consonant, a breath between syllables) is
    stepped over.  Where the line's noise (`noise_top_db`: the level a frame must beat) stopped
    an edge before the voice had faded by `edge_drop_db`, the voice goes on under the noise:
    the edge is carried along the slope of its last audible frames to where it would have
    faded (at most `_MASKED_EDGE_S`) — in −35 dBFS noise a tenth of a second of every word's
    start and end is under the noise.
    """
    out = mask.copy()
    reach = int(round(options.max_edge_s / FRAME_S))
    max_dip = int(round(options.min_gap_s / FRAME_S))
    for start, end in _runs(mask):
        quietest = levels[start:end].max() - options.edge_drop_db
        voiced = allowed & (levels > quietest)
        first = start - _voiced_reach(voiced[max(0, start - reach):start][::-1], max_dip)
        last = end + _voiced_reach(voiced[end:end + reach], max_dip)
        if noise_top_db is not None and noise_top_db > quietest:
            first -= _under_the_noise(levels[first:end], quietest, noise_top_db)
            last += _under_the_noise(levels[start:last][::-1], quietest, noise_top_db)
        out[max(0, first):last] = True
    return out


def _under_the_noise(levels: np.ndarray, quietest: float, noise_top_db: float) -> int:
    """Frames a voice edge goes on under the noise: `levels` run from the audible edge inwards;
    when the edge sits at the noise, its rise over the next frames, continued down to
    `quietest`, says how long the voice was already (or still) there unheard."""
    if len(levels) < _SLOPE_FRAMES + 1 or levels[0] > noise_top_db + _AT_THE_NOISE_DB:
        return 0
    rise = (levels[_SLOPE_FRAMES] - levels[0]) / _SLOPE_FRAMES  # dB per frame, towards the voice
    if rise <= 0:
        return 0
    frames = (levels[0] - quietest) / rise
    return int(min(frames, _MASKED_EDGE_S / FRAME_S))


def _voiced_reach(voiced: np.ndarray, max_dip: int) -> int:
    """How many frames from the start of `voiced` are voice, stepping over short dips."""
    reach, dip = 0, 0
    for i, is_voice in enumerate(voiced):
        if is_voice:
            reach, dip = i + 1, 0
        else:
            dip += 1
            if dip > max_dip:
                break
    return reach


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

"""Pitch variation of the agent's voiced speech (docs/design.md: F0 75–500 Hz; variation =
standard deviation in semitones around the agent's median; monotone below a threshold,
`PitchOptions.monotone_below_st`, calibrated on real speakers: see its comment).

Tracker choice (measured on 2 cores): ``librosa.pyin`` at a 10 ms hop costs ~0.15 s per
second of speech (measured: its Viterbi is frames × states²) — far over the budget of
≲ 2 s for 150 s of agent speech — and pyin at coarser resolutions quantises F0 to bin
centres, blurring exactly the detail a 0.9-vs-4.5 st decision needs.  ``librosa.yin``
is ~30× cheaper and its F0 is continuous (parabolic interpolation), but it says nothing
about voicing.  So: yin on each agent span only, plus our own voicing decision:

* periodicity — the normalised autocorrelation of the frame at yin's period (best of the
  rounded lag ± 1 sample) must reach ``min_periodicity``; noise, breath and most creak
  fall below it;
* energy — frames more than ``silence_db`` under the loudest frame of the agent's speech
  are unvoiced (room tone between syllables inside a span).

Tracking errors are then dropped as outliers rather than smoothed, because the figure
is a spread and a few halved/doubled frames inflate a standard deviation badly:

* frames more than ``jump_st`` from the running median of their neighbours
  (``median_window_s`` of voiced frames in the same span) are octave jumps or creak
  sub-harmonics — intonation does not leap 8 st away from its surroundings;
* frames more than ``octave_st`` from the agent's overall median are whole syllables
  tracked an octave off.  An octave error lands ~12 st away; 10 st (not 12) catches it
  with margin.  This matters on telephone audio: with the fundamental gone and the 2nd
  harmonic dominant, the signal is nearly periodic at half the period and yin locks on
  it for whole syllables (a flattened clip read 3.3 st at a 12 st limit, 0.3 at 10);
* voiced runs shorter than ``min_run_s`` are isolated noise hits.

Against Praat (``to_pitch_ac``, 75–500 Hz) on the voice bank (bench/bench_pitch.py):
median Hz within a few Hz; semitone std mean |Δ| 0.24 st, coach lower where Praat
tracks creak at ~80 Hz (−20 st) that the outlier rules drop.  Flattened clips read
≤ 0.3 st, natural agent clips ≥ 3.0 st; on 300–3400 Hz telephone audio ≤ 0.33 and
≥ 2.7 st, at 20 dB SNR as clean.  Cost 0.4–0.9 s per 150 s of speech, plus ~1.6 s once
per process while numba loads librosa's yin helpers from its cache (~20 s to compile them on
a fresh install, which set-up spends: ``warm_up``).

The compile writes numba's on-disk cache, and two processes writing it at once can leave
files that crash every later process (numba issue #10128; seen here when ``coach batch``
started its workers on a fresh install).  The first yin call of each process therefore holds
a file lock, so only one process compiles and the others load its cache.  The lock is the
user's own and names the cache it guards (another user's lock, or another install's, is
none of its business), and a holder that stopped (Ctrl-Z, a debugger) is waited for
`COMPILE_LOCK_TIMEOUT_S` at most: then this process compiles unlocked rather than never.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import librosa
import numpy as np
from scipy.ndimage import median_filter

from coach.config import PitchOptions
from coach.errors import ConfigError
from coach.results import PitchStats, Span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class F0Track:
    """F0 per frame; ``times`` in seconds on the file clock, ``f0_hz`` nan where unvoiced."""

    times: np.ndarray
    f0_hz: np.ndarray
    hop_s: float = 0.01


def track_f0(samples: np.ndarray, sample_rate: int, spans: Sequence[Span],
             options: PitchOptions = PitchOptions()) -> F0Track:
    """F0 of ``samples`` inside ``spans`` only (the agent's speech), outliers removed."""
    _check(options, sample_rate)
    samples = np.asarray(samples, dtype=np.float32)
    hop = max(1, round(options.hop_s * sample_rate))
    frame_length = _frame_length(options.fmin_hz, sample_rate)
    pieces = [_track_span(samples, sample_rate, span, hop, frame_length, options)
              for span in _clip(spans, len(samples) / sample_rate)]
    pieces = [p for p in pieces if p[0].size]
    if not pieces:
        return F0Track(np.zeros(0), np.zeros(0), hop / sample_rate)
    times, f0, level_db, span_id = (np.concatenate(parts) for parts in zip(*pieces))
    f0[level_db < level_db.max() - options.silence_db] = np.nan
    f0 = _drop_tracking_errors(f0, span_id, hop / sample_rate, options)
    return F0Track(times, f0, hop / sample_rate)


def pitch_stats(track: F0Track, options: PitchOptions = PitchOptions(),
                within: Span | None = None) -> PitchStats:
    """Median and semitone spread of the voiced frames (only those inside ``within`` if given);
    the flat/lively verdict only with `verdict_min_voiced_s` of them (a spread over a couple
    of seconds says more about the sentence than about the voice)."""
    f0 = track.f0_hz
    if within is not None:
        f0 = f0[(track.times >= within.start) & (track.times < within.end)]
    f0 = f0[np.isfinite(f0)]
    voiced_s = round(float(f0.size * track.hop_s), 3)
    if voiced_s < options.min_voiced_s:
        return PitchStats(None, None, None, voiced_s)
    median = float(np.median(f0))
    semitones = 12.0 * np.log2(f0 / median)
    spread = float(np.std(semitones))
    monotone = spread < options.monotone_below_st if voiced_s >= options.verdict_min_voiced_s else None
    return PitchStats(round(median, 1), round(spread, 2), monotone, voiced_s, options.monotone_below_st)


def contour(track: F0Track, step_s: float = 0.2) -> tuple[tuple[float, float], ...]:
    """The track downsampled for plotting: (bin centre s, median Hz) for bins with voiced frames.

    0.2 s keeps a syllable's rise or fall visible (Mandarin syllables last ~0.2–0.3 s) at
    ~5 points a second of speech, a few kB of JSON for a 10-minute call instead of 60,000 frames.
    """
    voiced = np.isfinite(track.f0_hz)
    times, f0 = track.times[voiced], track.f0_hz[voiced]
    if not times.size:
        return ()
    bins = np.floor(times / step_s).astype(np.int64)
    edges = np.flatnonzero(np.diff(bins)) + 1
    return tuple((round((int(b[0]) + 0.5) * step_s, 2), round(float(np.median(v)), 1))
                 for b, v in zip(np.split(bins, edges), np.split(f0, edges)))


def _check(options: PitchOptions, sample_rate: int) -> None:
    if not 0 < options.fmin_hz < options.fmax_hz <= sample_rate / 2:
        raise ConfigError(
            f"pitch range {options.fmin_hz}–{options.fmax_hz} Hz is not valid at {sample_rate} Hz: "
            f"need 0 < fmin < fmax ≤ {sample_rate / 2:g} (set [pitch] fmin_hz/fmax_hz)")


def _frame_length(fmin_hz: float, sample_rate: int) -> int:
    # Two periods of the lowest F0 must fit in the frame for yin's difference function.
    return int(2 ** np.ceil(np.log2(2 * sample_rate / fmin_hz + 2)))


def _clip(spans: Sequence[Span], duration_s: float) -> list[Span]:
    clipped = [Span(max(0.0, s.start), min(duration_s, s.end)) for s in spans]
    return sorted((s for s in clipped if s.end > s.start), key=lambda s: s.start)


def _track_span(samples: np.ndarray, sample_rate: int, span: Span, hop: int, frame_length: int,
                options: PitchOptions) -> tuple[np.ndarray, ...]:
    """(times, f0 with unvoiced = nan, frame level in dB, span id) for one span."""
    first = int(round(span.start * sample_rate))
    segment = samples[first:int(round(span.end * sample_rate))]
    if segment.size < frame_length:
        return (np.zeros(0),) * 4
    f0 = _yin(segment, fmin=options.fmin_hz, fmax=options.fmax_hz, sr=sample_rate,
              frame_length=frame_length, hop_length=hop, center=True)
    # The same centred frames yin analysed (it pads with zeros by frame_length // 2).
    padded = np.pad(segment, frame_length // 2)
    frames = librosa.util.frame(padded, frame_length=frame_length, hop_length=hop, axis=0)[:f0.size]
    periodicity = _periodicity(frames, sample_rate / f0, frame_length - int(np.ceil(sample_rate / options.fmin_hz)) - 1)
    level_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    f0 = np.where(periodicity >= options.min_periodicity, f0, np.nan)
    # Keep frames centred inside the span: the last one yin adds sits on its end.
    inside = np.arange(f0.size) * hop < segment.size
    f0, level_db = f0[inside], level_db[inside]
    times = (first + np.arange(f0.size) * hop) / sample_rate
    return times, f0, level_db, np.full(f0.size, round(span.start * sample_rate))


def _periodicity(frames: np.ndarray, period: np.ndarray, width: int) -> np.ndarray:
    """Normalised autocorrelation of each frame at its period (best of lag-1, lag, lag+1)."""
    head = frames[:, :width].astype(np.float64)
    head -= head.mean(axis=1, keepdims=True)
    best = np.full(frames.shape[0], -1.0)
    offsets = np.arange(width)
    for shift in (-1, 0, 1):
        lag = np.clip(np.round(period).astype(int) + shift, 1, frames.shape[1] - width)
        tail = np.take_along_axis(frames, lag[:, None] + offsets[None, :], axis=1).astype(np.float64)
        tail -= tail.mean(axis=1, keepdims=True)
        energy = np.sqrt(np.sum(head ** 2, axis=1) * np.sum(tail ** 2, axis=1))
        r = np.sum(head * tail, axis=1) / np.maximum(energy, 1e-12)
        best = np.maximum(best, r)
    return best


def _drop_tracking_errors(f0: np.ndarray, span_id: np.ndarray, hop_s: float,
                          options: PitchOptions) -> np.ndarray:
    f0 = f0.copy()
    voiced = np.flatnonzero(np.isfinite(f0))
    if voiced.size == 0:
        return f0
    semitones = 12.0 * np.log2(f0[voiced])
    window = max(1, int(round(options.median_window_s / hop_s))) | 1
    local = np.empty_like(semitones)
    for span in np.unique(span_id[voiced]):
        members = span_id[voiced] == span
        local[members] = median_filter(semitones[members], size=window, mode="nearest")
    overall = np.median(semitones)
    wrong = (np.abs(semitones - local) > options.jump_st) | (np.abs(semitones - overall) > options.octave_st)
    if wrong.any():
        log.debug("pitch: dropped %d of %d voiced frames as tracking errors", wrong.sum(), voiced.size)
    f0[voiced[wrong]] = np.nan
    return _drop_short_runs(f0, max(1, int(round(options.min_run_s / hop_s))))


def _drop_short_runs(f0: np.ndarray, min_frames: int) -> np.ndarray:
    voiced = np.isfinite(f0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], voiced, [0]))))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start < min_frames:
            f0[start:end] = np.nan
    return f0


def warm_up() -> None:
    """Compile (or load) the tracker's numba code now; set-up calls it so no analysis pays ~20 s."""
    tone = np.sin(2 * np.pi * 150 * np.arange(8000) / 8000).astype(np.float32)
    track_f0(tone, 8000, [Span(0.0, 1.0)])


_compiled = threading.Event()
COMPILE_LOCK_TIMEOUT_S = 120.0  # compiling takes ~20 s on 2 cores; far longer means the holder stopped


def _compile_lock_path() -> str:
    # numba caches librosa's functions in NUMBA_CACHE_DIR, or else beside librosa's own files.
    cache = os.environ.get("NUMBA_CACHE_DIR") or os.path.dirname(librosa.__file__)
    install = hashlib.sha256(os.path.abspath(cache).encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"coach-numba-compile-{os.getuid()}-{install}.lock")


COMPILE_LOCK = _compile_lock_path()


def _yin(segment: np.ndarray, **kwargs) -> np.ndarray:
    if _compiled.is_set():
        return librosa.yin(segment, **kwargs)
    with _machine_wide_lock(COMPILE_LOCK):
        f0 = librosa.yin(segment, **kwargs)
    _compiled.set()
    return f0


@contextlib.contextmanager
def _machine_wide_lock(path: str, timeout_s: float = COMPILE_LOCK_TIMEOUT_S):
    """An exclusive ``flock`` on ``path``, waited for ``timeout_s`` at most; without one (no
    fcntl, no access, a holder that does not let go) it goes on unlocked with a warning."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    except (ImportError, OSError) as exc:
        log.warning("cannot lock %s (%s): numba may compile in several processes at once", path, exc)
        yield
        return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("%s is still held after %.0f s (is a coach process stopped?): "
                                "compiling without it", path, timeout_s)
                    break
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock

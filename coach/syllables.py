"""Syllable nuclei from the audio alone: how much was said, whatever the recogniser heard.

Mandarin is one syllable per character, so the number of syllables spoken in a stretch is
the number of characters the standard's rate counts.  The recogniser's count is short on
real spontaneous speech (Whisper drops 啊、嗯、这个这个、就是 and other short words), and
one lost turn takes all its characters with it.  Counting syllable nuclei in the audio
gives an independent figure to check the transcript against (`coach.asr` re-decodes what
came back far too short) and to correct the rate with (`coach.metrics.speaking_rate`).

The method follows de Jong & Wempe (2009, "Praat script to detect syllable nuclei"),
vectorised over numpy arrays:

* the vowel band (300–2500 Hz) carries a syllable's nucleus: fricatives and bursts sit above
  it, mains hum and rumble below, and a telephone band keeps all of it;
* its level every 10 ms, smoothed over ~60 ms, rises to one peak per syllable; a peak counts
  when it stands `prominence_db` above the dips on either side (find_peaks' prominence),
  is at most `floor_db` under the loudest frame of its span, and lies `min_distance_s` or
  more from the next (no one speaks more than ~10 syllables a second);
* a nucleus is voiced: the peak's frame must be periodic at a speaking pitch (normalised
  autocorrelation ≥ `min_periodicity` at a lag of 1/500–1/70 s), which rejects clicks,
  breaths and noise bursts.

Figures against exact transcripts are in bench/README.md (`bench/bench_accuracy.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from coach.results import Span

HOP_S = 0.01
_WINDOW_S = 0.025
_SMOOTH_FRAMES = 7  # a Hann window over ~60 ms: one hump per syllable, not per pitch period
_VOICING_WINDOW_S = 0.04
_F0_RANGE_HZ = (70.0, 500.0)


@dataclass(frozen=True)
class SyllableOptions:
    band_hz: tuple[float, float] = (300.0, 2500.0)
    prominence_db: float = 3.0
    floor_db: float = 25.0
    min_distance_s: float = 0.1
    min_periodicity: float = 0.45


def nuclei(samples: np.ndarray, sample_rate: int, spans: Sequence[Span],
           options: SyllableOptions = SyllableOptions()) -> np.ndarray:
    """Times (s, file clock, sorted) of the syllable nuclei inside ``spans``."""
    found = [_span_nuclei(samples, sample_rate, span, options) for span in spans]
    return np.sort(np.concatenate(found)) if found else np.zeros(0)


def count_in(times: np.ndarray, span: Span) -> int:
    """How many of the sorted ``times`` fall inside ``span``."""
    return int(np.searchsorted(times, span.end, "left") - np.searchsorted(times, span.start, "left"))


def _span_nuclei(samples: np.ndarray, sample_rate: int, span: Span, options: SyllableOptions) -> np.ndarray:
    first = max(0, int(span.start * sample_rate))
    segment = np.asarray(samples[first:int(span.end * sample_rate)], dtype=np.float64)
    hop, window = int(HOP_S * sample_rate), int(_WINDOW_S * sample_rate)
    if segment.size < window + hop:
        return np.zeros(0)
    low, high = options.band_hz
    band = sosfiltfilt(butter(4, [low, min(high, 0.45 * sample_rate)], btype="band", fs=sample_rate,
                              output="sos"), segment)
    level = _level_db(band, window, hop)
    peaks, _ = find_peaks(level, prominence=options.prominence_db,
                          distance=max(1, int(round(options.min_distance_s / HOP_S))))
    peaks = peaks[level[peaks] > level.max() - options.floor_db]
    centres = peaks * hop + window // 2
    voiced = _periodicity(segment, centres, sample_rate) >= options.min_periodicity
    return (first + centres[voiced]) / sample_rate


def _level_db(x: np.ndarray, window: int, hop: int) -> np.ndarray:
    n = 1 + (x.size - window) // hop
    power = np.lib.stride_tricks.sliding_window_view(x, window)[::hop][:n]
    energy = np.mean(power ** 2, axis=1)
    kernel = np.hanning(_SMOOTH_FRAMES + 2)[1:-1]
    energy = np.convolve(energy, kernel / kernel.sum(), mode="same")
    return 10.0 * np.log10(energy + 1e-12)


def _periodicity(x: np.ndarray, centres: np.ndarray, sample_rate: int) -> np.ndarray:
    """Peak normalised autocorrelation at pitch lags, for a short window around each centre."""
    width = int(_VOICING_WINDOW_S * sample_rate)
    if centres.size == 0 or x.size < width:
        return np.zeros(centres.size)
    starts = np.clip(centres - width // 2, 0, x.size - width)
    frames = x[starts[:, None] + np.arange(width)[None, :]]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2 * width, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :width]
    fmin, fmax = _F0_RANGE_HZ
    lags = slice(int(sample_rate / fmax), int(sample_rate / fmin))
    # Unbiased: divide by the overlap so long lags are not penalised for being long.
    overlap = width - np.arange(width)
    normalised = autocorrelation / np.maximum(autocorrelation[:, :1], 1e-12) * (width / overlap)
    return normalised[:, lags].max(axis=1)

"""Syllable nuclei from the audio alone: how much was said, whatever the recogniser heard.

Mandarin is one syllable per character, so the number of syllables spoken in a stretch is
the number of characters the standard's rate counts.  The recogniser's count is short on
real spontaneous speech (Whisper drops 啊、嗯、这个这个、就是 and other short words), and
one lost turn takes all its characters with it.  Counting syllable nuclei in the audio
gives an independent figure to check the transcript against (`coach.asr` re-decodes what
came back far too short) and to correct the rate with (`coach.metrics.speaking_rate`).

The method follows de Jong & Wempe (2009, "Praat script to detect syllable nuclei") with the
sub-band envelope of Wang & Narayanan (2007, "Robust speaking rate estimation using broad
phonetic class recognition"), vectorised over numpy arrays:

* a vowel is loud across the whole voice band at once, a consonant or a noise burst only in
  part of it: the geometric mean of four sub-band envelopes (250–2500 Hz, each divided by
  its median) peaks on vowels and stays low elsewhere; the band skips hum and rumble and
  survives a telephone line;
* that envelope every 10 ms, smoothed over ~50 ms, rises to one peak per syllable; a peak
  counts when it stands `prominence_db` above the dips on either side (find_peaks'
  prominence), is at most `floor_db` under the loudest frame of its span, and lies
  `min_distance_s` or more from the next (no one says more than ~12 syllables a second);
* a nucleus is voiced: the peak's frame must be periodic at a speaking pitch (normalised
  autocorrelation ≥ `min_periodicity` at a lag of 1/500–1/70 s), which rejects clicks,
  breaths and noise bursts.

Connected speech still merges some syllables (in fast speech two vowels share one hump), so
the count is scaled by `scale`, measured on real speakers with exact transcripts (the tune
half of tests/data/realvoice: bench/README.md has the figures, held-out half apart).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from coach.config import SyllableOptions
from coach.results import Span

HOP_S = 0.01
_WINDOW_S = 0.025
_SMOOTH_FRAMES = 5  # a Hann window over ~50 ms: one hump per syllable, not per pitch period
_VOICING_WINDOW_S = 0.04
_F0_RANGE_HZ = (70.0, 500.0)
_BANDS_HZ = ((250.0, 500.0), (500.0, 900.0), (900.0, 1500.0), (1500.0, 2500.0))


def nuclei(samples: np.ndarray, sample_rate: int, spans: Sequence[Span],
           options: SyllableOptions = SyllableOptions()) -> np.ndarray:
    """Times (s, file clock, sorted) of the syllable nuclei inside ``spans``."""
    found = [_span_nuclei(samples, sample_rate, span, options) for span in spans]
    return np.sort(np.concatenate(found)) if found else np.zeros(0)


def count_in(times: np.ndarray, span: Span, scale: float = 1.0) -> int:
    """How many syllables the sorted nucleus ``times`` inside ``span`` stand for."""
    found = int(np.searchsorted(times, span.end, "left") - np.searchsorted(times, span.start, "left"))
    return int(round(found * scale))


def _span_nuclei(samples: np.ndarray, sample_rate: int, span: Span, options: SyllableOptions) -> np.ndarray:
    first = max(0, int(span.start * sample_rate))
    segment = np.asarray(samples[first:int(span.end * sample_rate)], dtype=np.float64)
    hop, window = int(HOP_S * sample_rate), int(_WINDOW_S * sample_rate)
    if segment.size < window + hop:
        return np.zeros(0)
    level = _vowel_envelope_db(segment, sample_rate, window, hop)
    peaks, _ = find_peaks(level, prominence=options.prominence_db,
                          distance=max(1, int(round(options.min_distance_s / HOP_S))))
    peaks = peaks[level[peaks] > level.max() - options.floor_db]
    centres = peaks * hop + window // 2
    voiced = _periodicity(segment, centres, sample_rate) >= options.min_periodicity
    return (first + centres[voiced]) / sample_rate


def _vowel_envelope_db(x: np.ndarray, sample_rate: int, window: int, hop: int) -> np.ndarray:
    """The geometric mean of the sub-band envelopes, each relative to its median, in dB."""
    n = 1 + (x.size - window) // hop
    log_mean = np.zeros(n)
    bands = [(low, high) for low, high in _BANDS_HZ if high < 0.5 * sample_rate]
    for low, high in bands:
        band = sosfiltfilt(butter(4, [low, high], btype="band", fs=sample_rate, output="sos"), x)
        energy = np.mean(np.lib.stride_tricks.sliding_window_view(band, window)[::hop][:n] ** 2, axis=1) + 1e-12
        log_mean += np.log(energy / np.median(energy))
    energy = np.exp(log_mean / len(bands))
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

"""Syllable nuclei on synthetic syllables with known counts, and on real speech with exact transcripts."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from coach.config import SyllableOptions
from coach.results import Span
from coach.syllables import count_in, nuclei

SR = 16000
REAL = Path(__file__).resolve().parent / "data" / "realvoice"


def syllables(n: int, rate_hz: float = 4.0, f0: float = 180.0, seed: int = 0) -> np.ndarray:
    """`n` vowel-like syllables: a harmonic voice under a raised-cosine envelope per syllable,
    with a short fricative (noise) onset, `rate_hz` syllables a second."""
    rng = np.random.default_rng(seed)
    period = int(SR / rate_hz)
    t = np.arange(period) / SR
    out = []
    for k in range(n):
        pitch = f0 * 2 ** (rng.uniform(-3, 3) / 12)
        voice = sum(np.sin(2 * np.pi * h * pitch * t) / h for h in range(1, 15))
        envelope = np.sin(np.pi * np.clip((t - 0.03) / (period / SR - 0.05), 0, 1)) ** 2
        onset = rng.standard_normal(period) * 0.05 * (t < 0.03)
        out.append(voice * envelope * rng.uniform(0.6, 1.0) + onset)
    return (0.3 * np.concatenate(out) / np.abs(np.concatenate(out)).max()).astype(np.float32)


def test_one_nucleus_per_syllable():
    for n, rate in ((12, 3.0), (20, 5.0), (30, 7.0)):
        audio = syllables(n, rate)
        found = nuclei(audio, SR, [Span(0, len(audio) / SR)])
        assert abs(len(found) - n) <= 1, (n, rate, len(found))


def test_noise_and_hum_have_no_nuclei():
    rng = np.random.default_rng(3)
    t = np.arange(4 * SR) / SR
    noise = (0.05 * rng.standard_normal(len(t)) + 0.1 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    assert len(nuclei(noise, SR, [Span(0, 4.0)])) == 0


def test_through_a_telephone_line_the_count_holds():
    audio = syllables(20, 4.5, seed=4)
    narrow = resample_poly(resample_poly(audio, 1, 2), 2, 1).astype(np.float32)
    assert abs(len(nuclei(narrow, SR, [Span(0, len(narrow) / SR)])) - 20) <= 2


def test_only_inside_the_spans_and_counted_per_span():
    audio = np.concatenate([syllables(8, 4.0), np.zeros(SR, np.float32), syllables(6, 4.0, seed=1)])
    times = nuclei(audio, SR, [Span(0, 2.0), Span(3.0, 4.5)])
    assert count_in(times, Span(0, 2.0)) in (7, 8, 9)
    assert count_in(times, Span(3.0, 4.5)) in (5, 6, 7)
    assert count_in(times, Span(2.0, 3.0)) == 0
    assert count_in(np.array([0.5, 1.0, 1.5, 2.5]), Span(0.0, 2.0), scale=1.5) == 4  # 3 × 1.5, rounded


def test_real_speakers_of_the_tune_half_average_one_syllable_per_character():
    """The scale is set on these (SyllableOptions.scale); the held-out half is the benchmark's."""
    index = json.loads((REAL / "index.json").read_text(encoding="utf-8"))
    clips = [m for m in index.values() if m["split"] == "tune" and m["role"] == "speech" and not m["flattened"]]
    counted = chars = 0
    for meta in clips:
        audio, rate = sf.read(REAL / meta["file"], dtype="float32")
        counted += count_in(nuclei(audio, rate, [Span(0, len(audio) / rate)]), Span(0, len(audio) / rate),
                            SyllableOptions().scale)
        chars += meta["chars"]
    assert counted / chars == pytest.approx(1.0, abs=0.05)

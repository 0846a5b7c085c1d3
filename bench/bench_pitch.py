"""Pitch: coach's tracker against Praat on the same audio, and its cost.

For each clip: median Hz and semitone std from coach (``coach.pitch``, whole clip as one
agent span) and from Praat (parselmouth ``Sound.to_pitch_ac(time_step=0.01,
pitch_floor=75, pitch_ceiling=500)``, voiced frames, std of 12·log2(f/median)), their
difference, and coach's figure again on the same clip made worse: 8 kHz telephone band
(300–3400 Hz, μ-law-like band limit, fundamental mostly gone) and white noise at 20 dB SNR.
Timing is compute seconds ÷ audio seconds (× audio duration) for both trackers.

    .venv/bin/python bench/bench_pitch.py                 # the voice bank (tests/data/voicebank)
    .venv/bin/python bench/bench_pitch.py a.flac b.wav    # any files (mono or first channel)

Without a voice bank or paths it runs on synthetic speech-like signals.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import parselmouth
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfiltfilt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.config import PitchOptions  # noqa: E402
from coach.pitch import pitch_stats, track_f0  # noqa: E402
from coach.results import Span  # noqa: E402

SAMPLE_RATE = 16000
VOICEBANK = ROOT / "tests" / "data" / "voicebank"
OPTIONS = PitchOptions()


def load(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio[:, 0]
    if rate != SAMPLE_RATE:
        mono = resample_poly(mono, SAMPLE_RATE, rate).astype(np.float32)
    return mono


def synthetic_clips() -> dict[str, np.ndarray]:
    """Speech-like harmonic glides: syllables of 0.25 s with pauses, intonation std known."""
    rng = np.random.default_rng(1)
    clips = {}
    for name, depth_st in (("synth_lively", 4.5), ("synth_flat", 0.3)):
        pieces = []
        for _ in range(24):
            start, end = 200.0 * 2 ** (rng.normal(0, depth_st, 2) / 12)
            f0 = np.geomspace(start, end, int(0.25 * SAMPLE_RATE))
            phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
            pieces += [sum(np.sin(k * phase) / k for k in range(1, 12)), np.zeros(int(0.08 * SAMPLE_RATE))]
        clips[name] = (0.2 * np.concatenate(pieces)).astype(np.float32)
    return clips


def telephone(samples: np.ndarray) -> np.ndarray:
    band = sosfiltfilt(butter(6, [300, 3400], btype="band", fs=SAMPLE_RATE, output="sos"), samples)
    return resample_poly(resample_poly(band, 1, 2), 2, 1).astype(np.float32)


def noisy(samples: np.ndarray, snr_db: float = 20.0) -> np.ndarray:
    active = samples[np.abs(samples) > 0.01 * np.abs(samples).max()]
    noise_rms = np.sqrt(np.mean(active ** 2)) / 10 ** (snr_db / 20)
    return (samples + np.random.default_rng(0).normal(0, noise_rms, samples.size)).astype(np.float32)


def coach_pitch(samples: np.ndarray) -> tuple[float | None, float | None, float]:
    began = time.perf_counter()
    stats = pitch_stats(track_f0(samples, SAMPLE_RATE, [Span(0.0, samples.size / SAMPLE_RATE)], OPTIONS), OPTIONS)
    return stats.median_hz, stats.semitone_std, time.perf_counter() - began


def praat_pitch(samples: np.ndarray) -> tuple[float | None, float | None, float]:
    began = time.perf_counter()
    pitch = parselmouth.Sound(samples.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
        time_step=0.01, pitch_floor=75, pitch_ceiling=500)
    f0 = pitch.selected_array["frequency"]
    f0 = f0[f0 > 0]
    elapsed = time.perf_counter() - began
    if f0.size == 0:
        return None, None, elapsed
    median = float(np.median(f0))
    return median, float(np.std(12 * np.log2(f0 / median))), elapsed


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="audio files (default: the voice bank)")
    args = parser.parse_args()
    if args.paths:
        clips = {p.stem: load(p) for p in args.paths}
    elif (VOICEBANK / "index.json").exists():
        index = json.loads((VOICEBANK / "index.json").read_text(encoding="utf-8"))
        clips = {name: load(VOICEBANK / entry["file"]) for name, entry in sorted(index.items())
                 if (VOICEBANK / entry["file"]).exists()}
    else:
        clips = synthetic_clips()

    # librosa compiles yin's helpers (numba) on first use: a once-per-process cost, shown apart.
    warm_up_s = coach_pitch(synthetic_clips()["synth_flat"][:SAMPLE_RATE])[2]
    header = (f"{'clip':<14}{'coach Hz':>9}{'praat Hz':>9}{'ΔHz':>7}{'coach st':>9}{'praat st':>9}"
              f"{'Δst':>7}{'tel st':>8}{'20dB st':>8}  verdict(coach/praat)")
    print(header)
    print("-" * len(header))
    total_audio = coach_time = praat_time = 0.0
    diffs = []
    for name, samples in clips.items():
        c_med, c_std, c_t = coach_pitch(samples)
        p_med, p_std, p_t = praat_pitch(samples)
        _, tel_std, _ = coach_pitch(telephone(samples))
        _, noisy_std, _ = coach_pitch(noisy(samples))
        total_audio += samples.size / SAMPLE_RATE
        coach_time += c_t
        praat_time += p_t
        both = c_std is not None and p_std is not None
        if both:
            diffs.append(c_std - p_std)

        def verdict(std: float | None) -> str:
            return "—" if std is None else ("mono" if std < OPTIONS.monotone_below_st else "lively")

        print(f"{name:<14}{fmt(c_med, 1):>9}{fmt(p_med, 1):>9}"
              f"{fmt(c_med - p_med if c_med and p_med else None, 1):>7}{fmt(c_std):>9}{fmt(p_std):>9}"
              f"{fmt(c_std - p_std if both else None):>7}{fmt(tel_std):>8}{fmt(noisy_std):>8}"
              f"  {verdict(c_std)}/{verdict(p_std)}")
    if diffs:
        print(f"\nsemitone std, coach − praat: mean {np.mean(diffs):+.2f}, "
              f"mean |Δ| {np.mean(np.abs(diffs)):.2f}, max |Δ| {np.max(np.abs(diffs)):.2f} st over {len(diffs)} clips")
    print(f"audio {total_audio:.1f} s; coach {coach_time:.2f} s = ×{coach_time / total_audio:.4f} of audio "
          f"({150 * coach_time / total_audio:.2f} s per 150 s); praat {praat_time:.2f} s = ×{praat_time / total_audio:.4f}; "
          f"coach first call in a process (numba warm-up) {warm_up_s:.2f} s")


if __name__ == "__main__":
    main()

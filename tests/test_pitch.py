"""coach.pitch on synthetic signals whose F0 and semitone spread are known exactly."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, resample_poly, sosfiltfilt

from coach.config import PitchOptions
from coach.errors import ConfigError
from coach.pitch import F0Track, pitch_stats, track_f0
from coach.results import Span

SR = 16000
# The signals here are 2–3 s long: judge them (a call needs 3 s of voiced speech for a verdict).
OPTIONS = PitchOptions(verdict_min_voiced_s=1.0)
NO_OUTLIER_RULES = dataclasses.replace(OPTIONS, jump_st=np.inf, octave_st=np.inf)


def harmonic(f0_hz, duration_s: float, harmonics=range(1, 11)) -> np.ndarray:
    """Harmonic complex (1/k amplitudes) following ``f0_hz`` (a constant or one value per sample)."""
    n = int(duration_s * SR)
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(np.asarray(f0_hz, dtype=float), (n,))) / SR
    y = sum(np.sin(k * phase) / k for k in harmonics)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def stats_of(samples: np.ndarray, options: PitchOptions = OPTIONS, spans=None):
    spans = [Span(0.0, samples.size / SR)] if spans is None else spans
    return pitch_stats(track_f0(samples, SR, spans, options), options)


def telephone(samples: np.ndarray) -> np.ndarray:
    """300–3400 Hz through an 8 kHz channel and back to 16 kHz."""
    band = sosfiltfilt(butter(6, [300, 3400], btype="band", fs=SR, output="sos"), samples)
    return resample_poly(resample_poly(band, 1, 2), 2, 1).astype(np.float32)


@pytest.mark.parametrize("f0", [90.0, 200.0, 420.0])
def test_pure_tone_is_monotone_at_its_frequency(f0):
    t = np.arange(2 * SR) / SR
    stats = stats_of((0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32))
    # yin's parabolic refinement reads a lone sinusoid up to ~1.5 % sharp at low F0 in a
    # 32 ms frame (harmonic voices: < 0.2 %), wobbling with the frame phase by < 0.1 st.
    assert stats.median_hz == pytest.approx(f0, rel=0.02)
    assert stats.semitone_std < 0.1
    assert stats.monotone is True
    assert stats.voiced_s == pytest.approx(2.0, abs=0.1)


def test_constant_harmonic_complex_is_monotone():
    stats = stats_of(harmonic(150.0, 2.0))
    assert stats.median_hz == pytest.approx(150.0, rel=0.01)
    assert stats.semitone_std < 0.05
    assert stats.monotone is True


@pytest.mark.parametrize("distance_st, monotone", [(6.0, False), (2.4, False), (1.6, True)])
def test_alternating_tones_spread_is_half_their_distance(distance_st, monotone):
    # Equal time at 0 and d semitones: deviations ±d/2 from the mean, so std = d/2 exactly.
    n = 3 * SR
    high = (np.arange(n) // (SR // 4)) % 2 == 1
    stats = stats_of(harmonic(np.where(high, 180.0 * 2 ** (distance_st / 12), 180.0), 3.0))
    assert stats.semitone_std == pytest.approx(distance_st / 2, abs=0.1)
    assert stats.monotone is monotone


def test_too_little_voiced_speech_gets_a_figure_but_no_verdict():
    stats = stats_of(harmonic(150.0, 2.0), PitchOptions())  # 2 s voiced, 3 s needed
    assert stats.semitone_std < 0.05 and stats.monotone is None
    assert stats_of(harmonic(150.0, 3.5), PitchOptions()).monotone is True


def test_vibrato_spread_is_depth_over_root_two():
    # F0 = 200·2^(A·sin(2π·5t)/12): semitones are a sine of amplitude A, std = A/√2.
    depth_st = 4.0
    t = np.arange(3 * SR) / SR
    stats = stats_of(harmonic(200.0 * 2 ** (depth_st * np.sin(2 * np.pi * 5 * t) / 12), 3.0))
    assert stats.semitone_std == pytest.approx(depth_st / np.sqrt(2), abs=0.1)
    assert stats.median_hz == pytest.approx(200.0, rel=0.02)
    assert stats.monotone is False


def test_octave_errors_do_not_inflate_the_spread():
    # A steady 200 Hz voice with a short doubling, a short halving, and a whole 0.5 s
    # syllable an octave up — what a tracker's octave errors look like.
    f0 = np.full(4 * SR, 200.0)
    f0[int(0.8 * SR):int(0.9 * SR)] = 400.0
    f0[int(1.6 * SR):int(1.7 * SR)] = 100.0
    f0[int(2.5 * SR):int(3.0 * SR)] = 400.0
    signal = harmonic(f0, 4.0)
    stats = stats_of(signal)
    assert stats.median_hz == pytest.approx(200.0, rel=0.01)
    assert stats.semitone_std < 0.3
    assert stats.monotone is True
    # The same frames left in would make a monotone voice look lively: the rules do the work.
    assert stats_of(signal, NO_OUTLIER_RULES).semitone_std > 3.0


def test_short_octave_jumps_inside_lively_speech_are_dropped():
    # At the trough of a ±4 st intonation a doubling lands only ~8 st above the overall
    # median — inside the octave rule — but 12 st from its neighbours.
    t = np.arange(4 * SR) / SR
    f0 = 200.0 * 2 ** (4.0 * np.sin(2 * np.pi * 0.5 * t) / 12)
    for trough_s in (1.5, 3.5):
        f0[int((trough_s - 0.05) * SR):int((trough_s + 0.05) * SR)] *= 2
    signal = harmonic(f0, 4.0)
    assert stats_of(signal).semitone_std == pytest.approx(4.0 / np.sqrt(2), abs=0.1)
    assert stats_of(signal, dataclasses.replace(OPTIONS, jump_st=np.inf)).semitone_std > 3.1


def test_isolated_voiced_blips_are_not_voice():
    # 10 ms periodic clicks in the pauses of a steady voice (keyboard, line tones).
    pieces = [harmonic(200.0, 1.5)]
    for _ in range(10):
        pieces += [np.zeros(int(0.1 * SR), dtype=np.float32), harmonic(280.0, 0.01)]
    signal = np.concatenate(pieces)
    assert stats_of(signal).semitone_std < 0.05
    assert stats_of(signal, dataclasses.replace(OPTIONS, min_run_s=0.0)).semitone_std > 1.0


def test_quiet_bleed_inside_the_span_is_not_the_agent():
    # The customer's voice leaking 40 dB down into the agent's channel during a pause.
    signal = np.concatenate([harmonic(200.0, 1.5), 0.01 * harmonic(300.0, 1.5)])
    stats = stats_of(signal)
    assert stats.median_hz == pytest.approx(200.0, rel=0.01)
    assert stats.semitone_std < 0.05
    assert stats.voiced_s == pytest.approx(1.5, abs=0.1)


def test_creaky_stretches_do_not_inflate_the_spread():
    # Creak: irregular glottal pulses far below the voice, 150 ms at a time.
    rng = np.random.default_rng(3)
    signal = harmonic(220.0, 3.0)
    for start in (0.5, 1.5, 2.4):
        creak = np.zeros(int(0.15 * SR), dtype=np.float32)
        position = 0
        while position < creak.size:
            creak[position] = 0.3
            position += int(SR / rng.uniform(40, 70))
        signal[int(start * SR):int(start * SR) + creak.size] = np.convolve(creak, np.hanning(40), "same")
    stats = stats_of(signal)
    assert stats.median_hz == pytest.approx(220.0, rel=0.01)
    assert stats.semitone_std < 0.5


@pytest.mark.parametrize("noise", ["white", "silence"])
def test_noise_only_spans_give_no_figure(noise):
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(3 * SR) if noise == "white" else np.zeros(3 * SR)).astype(np.float32)
    stats = stats_of(samples)
    assert (stats.median_hz, stats.semitone_std, stats.monotone) == (None, None, None)
    assert stats.voiced_s < OPTIONS.min_voiced_s


def test_too_little_voiced_speech_gives_no_figure():
    stats = stats_of(harmonic(200.0, 0.3))
    assert stats.monotone is None and stats.semitone_std is None
    assert 0.0 < stats.voiced_s < 0.5


def test_line_noise_at_20_db_still_tracks():
    rng = np.random.default_rng(1)
    t = np.arange(3 * SR) / SR
    clean = harmonic(200.0 * 2 ** (4.0 * np.sin(2 * np.pi * 3 * t) / 12), 3.0)
    noise = rng.standard_normal(clean.size) * np.sqrt(np.mean(clean ** 2)) / 10
    stats = stats_of((clean + noise).astype(np.float32))
    assert stats.semitone_std == pytest.approx(4.0 / np.sqrt(2), abs=0.15)
    assert stats.voiced_s > 2.5


@pytest.mark.parametrize("harmonics", [range(3, 21), range(2, 11)])
def test_missing_fundamental_on_telephone_band_tracks_the_period(harmonics):
    # 150 Hz voice with no energy at 150 Hz (nor, in the first case, at 300 Hz), then the
    # 300–3400 Hz telephone band: the period is still 1/150 s.
    t = np.arange(3 * SR) / SR
    depth_st = 3.0
    signal = telephone(harmonic(150.0 * 2 ** (depth_st * np.sin(2 * np.pi * 4 * t) / 12), 3.0, harmonics))
    stats = stats_of(signal)
    assert stats.median_hz == pytest.approx(150.0, rel=0.03)
    assert stats.semitone_std == pytest.approx(depth_st / np.sqrt(2), abs=0.2)


def test_only_the_given_spans_are_analysed_on_the_file_clock():
    signal = np.concatenate([harmonic(200.0, 1.0), harmonic(300.0, 1.0), harmonic(120.0, 1.0)])
    track = track_f0(signal, SR, [Span(1.0, 2.0)], OPTIONS)
    assert track.times.min() >= 1.0 and track.times.max() < 2.0
    stats = pitch_stats(track, OPTIONS)
    assert stats.median_hz == pytest.approx(300.0, rel=0.01)
    assert stats.semitone_std < 0.05


def test_within_restricts_stats_to_one_utterance():
    signal = np.concatenate([harmonic(200.0, 1.5), harmonic(250.0, 1.5)])
    track = track_f0(signal, SR, [Span(0.0, 1.5), Span(1.5, 3.0)], OPTIONS)
    whole = pitch_stats(track, OPTIONS)
    assert whole.semitone_std == pytest.approx(12 * np.log2(250 / 200) / 2, abs=0.1)
    second = pitch_stats(track, OPTIONS, within=Span(1.5, 3.0))
    assert second.median_hz == pytest.approx(250.0, rel=0.01)
    assert second.semitone_std < 0.05
    assert second.voiced_s == pytest.approx(1.5, abs=0.1)
    assert pitch_stats(track, OPTIONS, within=Span(5.0, 6.0)).median_hz is None


def test_spans_outside_the_audio_or_empty_give_an_empty_track():
    signal = harmonic(200.0, 1.0)
    for spans in ([], [Span(2.0, 3.0)], [Span(0.5, 0.5)]):
        track = track_f0(signal, SR, spans, OPTIONS)
        assert isinstance(track, F0Track) and track.times.size == 0 == track.f0_hz.size
        assert pitch_stats(track, OPTIONS).monotone is None


def test_span_running_past_the_end_is_clipped():
    stats = stats_of(harmonic(200.0, 1.0), spans=[Span(0.0, 5.0)])
    assert stats.median_hz == pytest.approx(200.0, rel=0.01)


@pytest.mark.parametrize("fmin, fmax", [(500.0, 75.0), (0.0, 500.0), (75.0, 9000.0)])
def test_invalid_range_names_the_values(fmin, fmax):
    with pytest.raises(ConfigError, match=f"{fmin}"):
        track_f0(harmonic(200.0, 1.0), SR, [Span(0.0, 1.0)], PitchOptions(fmin_hz=fmin, fmax_hz=fmax))


# numba compiles librosa's yin helpers into an on-disk cache on the first call of a process;
# two processes compiling at once can write files that crash every later process (numba #10128;
# without the lock this crashed the later process in 2 of 5 tries here).
def _first_call(tmp_path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "TMPDIR": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-c", "from coach.pitch import warm_up; warm_up()"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lock_of(tmp_path) -> Path:
    """Where coach.pitch puts its compile lock in a process started like _first_call."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "import coach.pitch as p; print(p.COMPILE_LOCK)"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    return Path(out)


def _waiting_on(lock: Path, pids: set[int], timeout_s: float = 60.0) -> bool:
    """True once every pid holds the lock file open (inside the lock's wait) and is still running."""
    def holding(pid: int) -> bool:
        try:
            return any(os.readlink(fd) == str(lock) for fd in Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(holding(pid) for pid in pids):
            return True
        time.sleep(0.2)
    return False


def test_processes_starting_on_an_empty_cache_compile_one_at_a_time(tmp_path):
    lock = _lock_of(tmp_path)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        together = [_first_call(tmp_path) for _ in range(2)]
        assert _waiting_on(lock, {p.pid for p in together}), "the first yin call did not wait for the lock"
        time.sleep(1.0)
        assert all(p.poll() is None for p in together) and not any((tmp_path / "numba").rglob("*.nbi"))
    finished = [(p.wait(timeout=300), p.stderr.read()) for p in together]
    later = _first_call(tmp_path)
    finished.append((later.wait(timeout=120), later.stderr.read()))
    assert all(rc == 0 for rc, _ in finished), finished
    assert any((tmp_path / "numba").rglob("*.nbi"))  # the cache they share was written


def test_the_compile_lock_is_the_users_own_and_names_the_cache_it_guards(tmp_path):
    lock = _lock_of(tmp_path)
    assert lock.parent == tmp_path and f"-{os.getuid()}-" in lock.name
    (tmp_path / "other").mkdir()
    assert _lock_of(tmp_path / "other").name != lock.name  # another cache, another lock


def test_a_stale_compile_lock_delays_but_never_stalls(tmp_path, caplog):
    from coach.pitch import _machine_wide_lock

    lock = tmp_path / "held.lock"
    # Held by a process that stopped (here: another open file of this one, which conflicts alike).
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        began = time.monotonic()
        with _machine_wide_lock(str(lock), timeout_s=1.0):
            waited = time.monotonic() - began
    assert 1.0 <= waited < 5.0
    assert "still held after 1 s" in caplog.text

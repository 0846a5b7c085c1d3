"""Decoding every format a call centre produces, and every kind of bad input."""

import os

import av
import numpy as np
import pytest
import soundfile as sf

from coach.audio import SAMPLE_RATE, load_audio
from coach.errors import AudioError
from coach.results import Layout


def tone(sr, seconds=1.0, hz=440.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def stereo(sr, seconds=1.0):
    return np.stack([tone(sr, seconds, 440), tone(sr, seconds, 220, 0.25)], axis=1)


@pytest.mark.parametrize("fmt, subtype, sr", [
    ("WAV", "PCM_16", 16000), ("WAV", "PCM_24", 44100), ("WAV", "PCM_32", 48000),
    ("WAV", "FLOAT", 22050), ("WAV", "ULAW", 8000), ("WAV", "ALAW", 8000),
    ("FLAC", "PCM_16", 8000), ("OGG", "VORBIS", 16000), ("MP3", "MPEG_LAYER_III", 16000),
])
def test_formats_decode_to_16k_float_channels(tmp_path, fmt, subtype, sr):
    path = tmp_path / f"call.{fmt.lower()}"
    sf.write(path, stereo(sr, 2.0), sr, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.layout is Layout.STEREO
    assert audio.original_rate == sr
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)
    left, right = audio.channels
    assert left.dtype == np.float32
    # the channels keep their own levels (left 0.5, right 0.25): nothing was mixed
    assert np.abs(left).max() == pytest.approx(0.5, abs=0.06)
    assert np.abs(right).max() == pytest.approx(0.25, abs=0.06)
    assert not audio.truncated


def test_m4a_aac(tmp_path):
    path = tmp_path / "call.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        x = tone(16000, 2.0)
        for i in range(0, len(x), 1024):
            frame = av.AudioFrame.from_ndarray(x[None, i:i + 1024], format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    audio = load_audio(path)
    assert audio.layout is Layout.MONO
    # AAC adds ~1024 priming samples when the muxer writes no edit list
    assert audio.duration_s == pytest.approx(2.0, abs=0.15)


def test_mono_is_one_channel(tmp_path):
    sf.write(tmp_path / "m.wav", tone(8000), 8000)
    audio = load_audio(tmp_path / "m.wav")
    assert audio.layout is Layout.MONO and len(audio.channels) == 1
    assert len(audio.channels[0]) == SAMPLE_RATE


def test_truncated_file_is_analysed_with_a_warning(tmp_path, caplog):
    full = tmp_path / "full.wav"
    sf.write(full, stereo(8000, 3.0), 8000, subtype="ULAW")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 8000 * 2])  # about one second of the three
    audio = load_audio(cut)
    assert audio.truncated
    assert audio.duration_s == pytest.approx(1.0, abs=0.05)
    assert "truncated" in caplog.text


@pytest.mark.parametrize("make, fragment", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("这不是音频 " * 50), "not a readable audio file"),
    (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a readable audio file"),
    (lambda p: sf.write(p, tone(16000, 0.05), 16000), "only 50 ms long"),
])
def test_bad_input_is_one_clear_error(tmp_path, make, fragment):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=fragment):
        load_audio(path)


def test_folder_and_too_many_channels(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)
    sf.write(tmp_path / "six.wav", np.zeros((16000, 6), np.float32), 16000)
    with pytest.raises(AudioError, match="6 channels"):
        load_audio(tmp_path / "six.wav")


def test_unreadable_file(tmp_path):
    import os
    path = tmp_path / "locked.wav"
    sf.write(path, tone(16000), 16000)
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: nothing to test then
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(AudioError, match="permission denied"):
        load_audio(path)


# ----------------------------------------------------------------------------- faults a file can carry
VOICE = "tests/data/voicebank/a01_nat.flac"


def speech_seconds(path) -> float:
    from coach.config import VadOptions
    from coach.vad import SpeechDetector, mask_to_spans

    audio = load_audio(path)
    mask = SpeechDetector(VadOptions()).activity((audio.channels[0],))[0]
    return sum(s.end - s.start for s in mask_to_spans(mask, audio.duration_s))


@pytest.fixture(scope="module")
def voice():
    samples, sr = sf.read(VOICE, dtype="float32")
    assert sr == SAMPLE_RATE
    return samples


def test_nan_and_inf_samples_are_replaced_counted_and_the_speech_kept(tmp_path, voice, caplog):
    clean = tmp_path / "clean.wav"
    sf.write(clean, voice, SAMPLE_RATE, subtype="FLOAT")
    broken = voice.copy()
    where = np.random.default_rng(0).choice(len(broken), 30, replace=False)
    broken[where[:10]], broken[where[10:20]], broken[where[20:]] = np.nan, np.inf, -np.inf
    bad = tmp_path / "bad.wav"
    sf.write(bad, broken, SAMPLE_RATE, subtype="FLOAT")
    audio = load_audio(bad)
    assert audio.invalid_samples == 30
    assert np.isfinite(audio.channels[0]).all()
    assert "30 invalid samples (NaN or infinite)" in caplog.text
    # Before, the NaNs reached silero and the whole call read as silence (no speech, 90/100).
    assert speech_seconds(clean) > 5
    assert speech_seconds(bad) == pytest.approx(speech_seconds(clean), abs=0.1)


def test_a_file_of_mostly_invalid_samples_is_refused(tmp_path):
    x = tone(16000, 1.0)
    x[: int(len(x) * 0.7)] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav has 11200 of 16000 samples \(70%\) that are not numbers"):
        load_audio(tmp_path / "nan.wav")


@pytest.mark.parametrize("offset", [0.02, 0.05, -0.1])
def test_dc_offset_is_removed_and_the_speech_kept(tmp_path, voice, offset):
    clean, shifted = tmp_path / "clean.wav", tmp_path / "dc.wav"
    sf.write(clean, voice, SAMPLE_RATE, subtype="FLOAT")
    sf.write(shifted, voice + offset, SAMPLE_RATE, subtype="FLOAT")
    audio = load_audio(shifted)
    assert abs(float(audio.channels[0].mean())) < 1e-3
    # Before: 5 % of full scale lost 26 % of this sentence's speech (7.1 s → 5.2 s), 2 % lost 10 %.
    assert speech_seconds(shifted) == pytest.approx(speech_seconds(clean), abs=0.1)


@pytest.mark.parametrize("f0", [75.0, 90.0, 120.0])
def test_a_low_male_voice_keeps_its_pitch_through_the_high_pass(tmp_path, f0):
    from coach.config import PitchOptions
    from coach.pitch import pitch_stats, track_f0
    from coach.results import Span

    n = 2 * SAMPLE_RATE
    phase = 2 * np.pi * f0 * np.arange(n) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 11))
    sf.write(tmp_path / "low.wav", (0.3 * voice / np.abs(voice).max() + 0.05).astype(np.float32), SAMPLE_RATE,
             subtype="FLOAT")
    audio = load_audio(tmp_path / "low.wav")
    track = track_f0(audio.channels[0], SAMPLE_RATE, [Span(0.0, 2.0)], PitchOptions())
    assert pitch_stats(track, PitchOptions()).median_hz == pytest.approx(f0, rel=0.01)
    # The fundamental itself passes (YIN would find the pitch from the harmonics alone, so check it).
    fundamental = round(f0 * n / SAMPLE_RATE)
    before = np.abs(np.fft.rfft(voice))[fundamental]
    after = np.abs(np.fft.rfft(audio.channels[0] - audio.channels[0].mean()))[fundamental]
    assert after / (before * 0.3 / np.abs(voice).max()) > 0.97


def wav_header(path, rate, data=b"\x01\x02" * 1000, data_size=None):
    """A 16-bit mono PCM WAV whose header says ``rate`` Hz and ``data_size`` bytes of samples."""
    import struct
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    size = len(data) if data_size is None else data_size
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_a_header_claiming_1_hz_is_refused_not_read_as_1000_s(tmp_path):
    wav_header(tmp_path / "1hz.wav", 1)  # 2 KB of samples: 1000 s at 1 Hz
    with pytest.raises(AudioError, match="1hz.wav claims a sample rate of 1 Hz: its header is corrupt"):
        load_audio(tmp_path / "1hz.wav")


def test_a_header_claiming_more_than_the_file_holds_is_only_truncation(tmp_path):
    wav_header(tmp_path / "short.wav", 8000, data=b"\x00\x01" * 4000, data_size=10 ** 9)
    audio = load_audio(tmp_path / "short.wav")
    assert audio.truncated and audio.duration_s == pytest.approx(0.5, abs=0.01)


def test_audio_that_the_file_size_cannot_hold_is_refused(tmp_path, monkeypatch):
    import coach.audio

    # A minute of FLAC silence takes ~120 bit/s; a codec floor above that stands in for a
    # crafted file that claims hours in a few bytes.
    sf.write(tmp_path / "quiet.flac", np.zeros(60 * 8000, np.float32), 8000, format="FLAC")
    monkeypatch.setattr(coach.audio, "MIN_BITS_PER_S", 1000)
    with pytest.raises(AudioError, match=r"quiet.flac decodes to \d+ s of audio from \d+ bytes, more than any codec"):
        load_audio(tmp_path / "quiet.flac")


def test_a_recording_over_the_duration_setting_is_refused(tmp_path):
    from coach.config import AudioOptions

    sf.write(tmp_path / "long.wav", tone(8000, 3.0), 8000)
    load_audio(tmp_path / "long.wav", AudioOptions(max_duration_s=3.5))
    with pytest.raises(AudioError, match=r"long.wav is 0 min long, over the limit of 0 min: split the recording, "
                                         r"or raise audio.max_duration_s"):
        load_audio(tmp_path / "long.wav", AudioOptions(max_duration_s=2.0))


def test_the_duration_cap_also_holds_when_the_header_does_not_say(tmp_path):
    from coach.config import AudioOptions

    # A streaming writer leaves the sizes unset (0xFFFFFFFF): only decoding finds the length.
    wav_header(tmp_path / "stream.wav", 8000, data=b"\x00\x01" * 24000, data_size=0xFFFFFFFF)
    with pytest.raises(AudioError, match="over the limit"):
        load_audio(tmp_path / "stream.wav", AudioOptions(max_duration_s=1.0))


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), "a named pipe"),
    (lambda p: os.symlink("/dev/zero", p), "a character device"),
])
def test_a_pipe_or_device_is_refused_at_once(tmp_path, make, kind):
    import subprocess
    import sys

    path = tmp_path / "call.wav"
    make(path)
    # In a child process: before, opening the pipe waited for a writer for ever.
    child = subprocess.run([sys.executable, "-c", "import sys; from coach.audio import load_audio; "
                            "from coach.errors import AudioError\ntry: load_audio(sys.argv[1])\n"
                            "except AudioError as e: print(e)", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == f"{path} is {kind}, not a file: give a saved recording"

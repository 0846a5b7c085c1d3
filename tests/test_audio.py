"""Decoding every format a call centre produces, and every kind of bad input."""

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

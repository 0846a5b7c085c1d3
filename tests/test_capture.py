"""coach.live.capture: the file source's pacing, the recorder's crash safety, device lookup."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from coach.audio import load_audio
from coach.live.capture import BLOCK_S, DeviceError, FileSource, InputDevice, Recorder, find_device
from coach.errors import CoachError

SR = 16000


def tone_file(tmp_path, seconds: float, channels: int = 2, rate: int = SR):
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * (200 + 100 * c) * t) for c in range(channels)], axis=1)
    path = tmp_path / "tone.wav"
    sf.write(path, x, rate, subtype="PCM_16")
    return path, x


def test_file_source_feeds_every_sample_in_blocks_at_the_asked_speed(tmp_path):
    path, x = tone_file(tmp_path, 2.0)
    source = FileSource(path, speed=4.0)
    began = time.monotonic()
    blocks = list(source.blocks())
    elapsed = time.monotonic() - began
    assert 0.45 <= elapsed <= 1.5  # 2 s of audio at 4× takes 0.5 s
    assert all(len(b) == int(SR * BLOCK_S) for b in blocks[:-1])
    assert np.allclose(np.concatenate(blocks), np.stack(load_audio(path).channels, axis=1))  # as analyze reads it
    assert source.arrived_s() == pytest.approx(2.0)


def test_file_source_resamples_to_16k_and_stops_when_asked(tmp_path):
    path, _ = tone_file(tmp_path, 3.0, channels=1, rate=8000)
    source = FileSource(path, speed=100.0)
    assert source.channels == 1
    taken = []
    for block in source.blocks():
        taken.append(block)
        if len(taken) == 5:
            source.stop()
    assert len(taken) == 5 and taken[0].shape == (int(SR * BLOCK_S), 1)


@pytest.mark.parametrize("speed", [0, -1])
def test_speed_must_be_positive(tmp_path, speed):
    path, _ = tone_file(tmp_path, 0.5)
    with pytest.raises(CoachError, match="is not a speed"):
        FileSource(path, speed)


def test_recording_is_readable_while_it_is_written_and_complete_after(tmp_path):
    path = tmp_path / "live.wav"
    recorder = Recorder(path, channels=2)
    block = np.full((1600, 2), 0.25, np.float32)
    for _ in range(25):  # 2.5 s: at least two flushes happen
        recorder.write(block)
    mid = load_audio(path)  # what a crash right now would leave behind
    assert mid.duration_s >= 2.0
    recorder.write(block)
    recorder.close()
    done, rate = sf.read(path)
    assert rate == SR and done.shape == (26 * 1600, 2) and np.allclose(done, 0.25, atol=1e-4)


def test_recorder_in_a_missing_folder_says_so(tmp_path):
    with pytest.raises(CoachError, match="does not exist"):
        Recorder(tmp_path / "nope" / "x.wav", 1)


DEVICES = [InputDevice(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", 2, 44100),
           InputDevice(4, "Jabra EVOLVE 20 MS: USB Audio (hw:1,0)", 1, 16000),
           InputDevice(7, "pulse", 32, 44100), InputDevice(8, "default", 32, 44100)]


@pytest.mark.parametrize("wanted, index", [("4", 4), ("jabra", 4), ("pulse", 7), ("DEFAULT", 8)])
def test_device_by_index_or_name(wanted, index):
    assert find_device(DEVICES, wanted).index == index


def test_no_device_asked_is_the_system_default():
    assert find_device(DEVICES, None) is None


@pytest.mark.parametrize("wanted, message", [("9", "is not an input device"), ("bluetooth", "is not an input device"),
                                             ("a", "matches several devices")])
def test_unknown_or_ambiguous_device_lists_the_inputs(wanted, message):
    with pytest.raises(DeviceError, match=message) as info:
        find_device(DEVICES, wanted)
    assert "4: Jabra EVOLVE 20 MS" in str(info.value) and "--list-devices" in str(info.value)

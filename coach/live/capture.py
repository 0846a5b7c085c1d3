"""Capture stage of live mode: audio blocks from a PortAudio device, or a recording fed at a set speed.

Both sources hand the live session the same thing — float32 blocks (frames × channels) at
16 kHz — and keep a clock of how much audio has *arrived* (stream time).  Latency is measured
on that clock, so audio queued behind a busy analysis counts against it.

PyAudio (PortAudio) is the device layer: it reaches ALSA, PulseAudio/PipeWire and JACK devices
alike on Linux, and the same code opens a headset on macOS and Windows.  Devices that cannot
capture at 16 kHz are opened at their own rate and resampled with soxr's streaming resampler
(already installed with librosa), which keeps its filter state across blocks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import soundfile as sf

from coach.audio import SAMPLE_RATE, load_audio
from coach.errors import AudioError, CoachError

log = logging.getLogger(__name__)

BLOCK_S = 0.1  # a block every 100 ms: small enough for the silence timer, cheap per call
LIVE_HOME = Path.home() / "coach-live"  # where sessions keep their recordings unless told otherwise
_INT16_SCALE = 32768.0


class DeviceError(CoachError):
    """The capture device cannot be found or opened."""


class Source(Protocol):
    channels: int

    def blocks(self) -> Iterator[np.ndarray]:
        """Blocks of (frames, channels) float32 at 16 kHz until the source ends or is stopped."""

    def arrived_s(self) -> float:
        """Stream time: seconds of audio that have arrived so far (analysed or still queued)."""

    def stop(self) -> None: ...

    def drain(self) -> list[np.ndarray]:
        """Blocks that arrived before `stop` and were not yet taken."""


def session_folder(folder: str | Path | None = None) -> Path:
    """The folder one session's recording, report and events go to, created: `folder` as given,
    or a new one under ~/coach-live named by the date and time (…-2, -3 when that is taken), so
    a session never lands in whatever directory the agent happened to be in."""
    if folder is not None:
        path = Path(folder)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = LIVE_HOME / stamp
        n = 1
        while path.exists():
            n += 1
            path = LIVE_HOME / f"{stamp}-{n}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AudioError(f"cannot create the session folder {path} ({exc.strerror}): choose another --dir") from None
    return path


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    max_channels: int
    default_rate: int


@contextlib.contextmanager
def _quiet_stderr():
    """ALSA prints probe noise for every absent card while PortAudio starts: keep it off the screen."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _pyaudio():
    try:
        import pyaudio
    except ImportError:
        raise DeviceError("PyAudio is not installed: run 'make setup' (it installs portaudio19-dev and pyaudio)") from None
    with _quiet_stderr():
        return pyaudio, pyaudio.PyAudio()


def list_devices() -> list[InputDevice]:
    """Every device PortAudio can capture from."""
    _, pa = _pyaudio()
    try:
        return [_input_device(pa.get_device_info_by_index(i)) for i in range(pa.get_device_count())
                if pa.get_device_info_by_index(i)["maxInputChannels"] > 0]
    finally:
        pa.terminate()


def _input_device(info: dict) -> InputDevice:
    return InputDevice(int(info["index"]), str(info["name"]), int(info["maxInputChannels"]),
                       int(info["defaultSampleRate"]))


def find_device(devices: list[InputDevice], wanted: str | None) -> InputDevice | None:
    """`wanted` is an index, a name or part of one (case-insensitive); None is the system default."""
    if wanted is None:
        return None
    if wanted.isdigit():
        match = [d for d in devices if d.index == int(wanted)]
    else:
        match = [d for d in devices if d.name.lower() == wanted.lower()] or \
                [d for d in devices if wanted.lower() in d.name.lower()]
    if len(match) != 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in devices) or "none"
        why = "matches several devices" if match else "is not an input device"
        raise DeviceError(f"--device {wanted!r} {why} (inputs: {names}): see 'coach live --list-devices'")
    return match[0]


class DeviceSource:
    """Capture from a PortAudio input device, `channels` 1 (headset: the agent) or 2 (agent + customer)."""

    def __init__(self, device: str | None = None, channels: int = 1):
        self.channels = channels
        self._pyaudio_module, self._pa = _pyaudio()
        try:
            self._open(device)
        except BaseException:
            self._pa.terminate()
            raise

    def _open(self, device: str | None) -> None:
        pa = self._pa
        devices = [_input_device(pa.get_device_info_by_index(i)) for i in range(pa.get_device_count())
                   if pa.get_device_info_by_index(i)["maxInputChannels"] > 0]
        if not devices:
            raise DeviceError("no audio input device found: plug in a headset (or see 'coach live --list-devices')")
        chosen = find_device(devices, device)
        if chosen is None:
            try:
                chosen = _input_device(pa.get_default_input_device_info())
            except OSError:
                chosen = devices[0]
        if chosen.max_channels < self.channels:
            raise DeviceError(f"device {chosen.name!r} has {chosen.max_channels} input channel(s), "
                              f"not {self.channels}: use --channels {chosen.max_channels} or another --device")
        rate = SAMPLE_RATE if self._supports(chosen, SAMPLE_RATE) else chosen.default_rate
        self._resampler = None
        if rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, self.channels, dtype="float32")
        self.device, self.rate = chosen, rate
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self._arrived = 0
        self._stopped = threading.Event()
        try:
            with _quiet_stderr():
                # Opened now (a wrong device is said at once), started by `blocks` once the
                # session is ready: audio from the model's loading would only arrive late.
                self._stream = pa.open(format=self._pyaudio_module.paInt16, channels=self.channels, rate=rate,
                                       input=True, input_device_index=chosen.index, start=False,
                                       frames_per_buffer=int(rate * BLOCK_S), stream_callback=self._arrive)
        except OSError as exc:
            raise DeviceError(f"cannot open {chosen.name!r} at {rate} Hz, {self.channels} channel(s) ({exc}): "
                              "try another --device or --channels") from None
        log.info("capturing from %s at %d Hz", chosen.name, rate)

    def _supports(self, device: InputDevice, rate: int) -> bool:
        try:
            return bool(self._pa.is_format_supported(rate, input_device=device.index, input_channels=self.channels,
                                                     input_format=self._pyaudio_module.paInt16))
        except ValueError:
            return False

    def _arrive(self, data: bytes, frame_count: int, time_info, status):
        # PortAudio's thread: convert and hand over, nothing slow here.
        block = np.frombuffer(data, dtype=np.int16).reshape(-1, self.channels).astype(np.float32) / _INT16_SCALE
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        self._arrived += frame_count
        self._queue.put(block)
        return None, self._pyaudio_module.paContinue

    def arrived_s(self) -> float:
        return self._arrived / self.rate

    def blocks(self) -> Iterator[np.ndarray]:
        if not self._stopped.is_set() and self._stream.is_stopped():
            try:
                self._stream.start_stream()
            except OSError as exc:
                raise DeviceError(f"cannot start capturing from {self.device.name!r} ({exc}): "
                                  "try another --device") from None
        while not self._stopped.is_set():
            try:
                block = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if block is None:
                break
            yield block

    def drain(self) -> list[np.ndarray]:
        blocks = []
        while not self._queue.empty():
            block = self._queue.get_nowait()
            if block is not None:
                blocks.append(block)
        return blocks

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._stream.stop_stream()
            self._stream.close()
        self._pa.terminate()
        self._queue.put(None)


class FileSource:
    """A recording fed block by block at `speed` × real time, through the same path as a device."""

    def __init__(self, path: str | Path, speed: float = 1.0):
        if not speed > 0:
            raise CoachError(f"--speed {speed} is not a speed: give a number above 0 (1 = real time)")
        audio = load_audio(path)
        self._samples = np.stack(audio.channels, axis=1)
        self.channels = self._samples.shape[1]
        self.speed = speed
        self._began: float | None = None
        self._stopped = threading.Event()

    def arrived_s(self) -> float:
        if self._began is None:
            return 0.0
        return min((time.monotonic() - self._began) * self.speed, len(self._samples) / SAMPLE_RATE)

    def blocks(self) -> Iterator[np.ndarray]:
        step = int(SAMPLE_RATE * BLOCK_S)
        self._began = time.monotonic()
        for first in range(0, len(self._samples), step):
            if self._stopped.is_set():
                return
            due = self._began + (first + step) / SAMPLE_RATE / self.speed
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield self._samples[first:first + step]

    def stop(self) -> None:
        self._stopped.set()

    def drain(self) -> list[np.ndarray]:
        return []  # the file is still there: nothing waits in between


class Recorder:
    """Writes the captured audio to a 16-bit WAV as it arrives, so a crash loses at most a second.

    The header is rewritten on every flush; a file cut off by a kill is still read by
    `coach analyze` (which reads a header a writer never finished as "to the end of the data").
    """

    FLUSH_EVERY_S = 1.0

    def __init__(self, path: str | Path, channels: int):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise AudioError(f"cannot save the recording in {self.path.parent}: the folder does not exist")
        try:
            self._file = sf.SoundFile(self.path, "w", samplerate=SAMPLE_RATE, channels=channels,
                                      subtype="PCM_16", format="WAV")
        except (sf.LibsndfileError, OSError) as exc:
            raise AudioError(f"cannot write the recording to {self.path} ({exc}): choose another --wav") from None
        self._unflushed = 0

    def write(self, block: np.ndarray) -> None:
        self._file.write(np.clip(block, -1.0, 1.0))
        self._unflushed += len(block)
        if self._unflushed >= self.FLUSH_EVERY_S * SAMPLE_RATE:
            self._file.flush()
            self._unflushed = 0

    def close(self) -> None:
        self._file.close()

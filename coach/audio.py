"""Load stage: any common audio file → float32 channels at 16 kHz, clean enough to trust.

PyAV (FFmpeg's decoders, already a dependency of faster-whisper) reads WAV in
every PCM/float/G.711 flavour, FLAC, MP3, M4A and OGG with one code path, so
there is no per-format branching here.

What comes out is what every later stage may assume: finite samples (a float file's
NaN/Inf samples are replaced by silence and counted), no DC offset (a high-pass,
because silero VAD loses speech riding on an offset: 5 % of full scale made it
vanish), and a length that the file could really hold and the settings allow.
Anything that is not a regular file (a named pipe, a device) is refused before it
is opened, since reading one can block for ever.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import signal

from coach.config import AudioOptions
from coach.errors import AudioError
from coach.results import Layout

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MIN_DURATION_S = 0.1
# A file whose decoded length falls this far short of what its header promises
# was cut off (an interrupted copy or upload).
_TRUNCATION_TOLERANCE_S = 0.5
# No speech recording is sampled slower than this (telephone audio is 8000 Hz); a header that
# says 1 Hz is corrupt, and believing it turned a 2 KB file into 1000 s of audio.
MIN_SAMPLE_RATE = 4000
# No codec stores audio in fewer bits per second than this; digital silence in FLAC, the
# cheapest there is, measured 185 bit/s at 8 kHz.  A file "holding" more audio is corrupt.
MIN_BITS_PER_S = 64
# A file with more invalid (NaN/Inf) samples than this share is refused, not repaired.
MAX_INVALID_SHARE = 0.5
# The high-pass that removes DC offset and rumble: 2nd order at 30 Hz, run forwards and
# backwards (zero phase, so no speech onset moves); a male voice's 75 Hz keeps 97.5 % of its power.
HIGHPASS_HZ = 30.0
_HIGHPASS = signal.butter(2, HIGHPASS_HZ, "highpass", fs=SAMPLE_RATE, output="sos")
_FILTER_BLOCK = 1 << 20  # samples filtered at a time
_EDGE_PAD = SAMPLE_RATE // 10
_FLOAT_FORMATS = frozenset({"flt", "fltp", "dbl", "dblp"})


@dataclass(frozen=True)
class Audio:
    """Decoded audio: one float32 array per channel, all at `SAMPLE_RATE`."""

    source: str
    channels: tuple[np.ndarray, ...]
    original_rate: int
    codec: str
    truncated: bool = False
    invalid_samples: int = 0  # NaN/Inf samples of a float file, replaced by silence

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE

    @property
    def layout(self) -> Layout:
        return Layout.STEREO if len(self.channels) == 2 else Layout.MONO


def load_audio(path: str | Path, options: AudioOptions = AudioOptions()) -> Audio:
    """Decode `path`; raise AudioError with a one-line reason when it cannot be used."""
    path = Path(path)
    size = _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise AudioError(
            f"{path} is not a readable audio file ({_reason(exc)}): "
            "give a WAV, FLAC, MP3, M4A or OGG recording"
        ) from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path} has no audio stream: give an audio recording, not {_kind(container)}")
        stream = container.streams.audio[0]
        n_channels = stream.codec_context.channels or 1
        if n_channels > 2:
            raise AudioError(
                f"{path} has {n_channels} channels: coach expects mono (agent) or stereo "
                "(one party per channel); extract the two call channels first"
            )
        original_rate = stream.codec_context.sample_rate or SAMPLE_RATE
        if original_rate < MIN_SAMPLE_RATE:
            raise AudioError(f"{path} claims a sample rate of {original_rate} Hz: its header is corrupt "
                             f"(speech is recorded at {MIN_SAMPLE_RATE} Hz or more); re-export the recording")
        declared_s = present_s = _declared_duration(container, stream)
        limit = _Limit(path, size, options)
        if present_s is not None and present_s > options.max_duration_s:
            limit.refuse(present_s)  # before decoding: hours of samples would be decoded for nothing
        if container.format.name == "wav":
            # FFmpeg clamps a WAV's duration to the bytes present, hiding a cut-off
            # file; the RIFF header still says how much audio there should be.
            declared_s = _wav_header_duration(path) or declared_s
        samples, decode_error, invalid = _decode(container, stream, n_channels, limit)
        codec = stream.codec_context.name

    if samples.shape[1] == 0:
        why = f" ({decode_error})" if decode_error else ""
        raise AudioError(f"{path} holds no decodable audio{why}: the file is empty or corrupt; re-export it")
    duration = samples.shape[1] / SAMPLE_RATE
    if duration < MIN_DURATION_S:
        raise AudioError(
            f"{path} is only {duration * 1000:.0f} ms long: coach needs at least "
            f"{MIN_DURATION_S * 1000:.0f} ms of audio"
        )
    if invalid:
        log.warning("%s has %d invalid samples (NaN or infinite) of %d: replaced with silence",
                    path, invalid, samples.size)
    truncated = decode_error is not None or (
        declared_s is not None and duration < declared_s - _TRUNCATION_TOLERANCE_S
    )
    if truncated:
        log.warning(
            "%s looks truncated (decoded %.1f s%s%s): analysing what is there",
            path, duration,
            f" of {declared_s:.1f} s its header promises" if declared_s else "",
            f"; decoder stopped with: {decode_error}" if decode_error else "",
        )
    channels = tuple(remove_dc(samples[i]) for i in range(samples.shape[0]))
    return Audio(str(path), channels, int(original_rate), codec, truncated, invalid)


def remove_dc(x: np.ndarray) -> np.ndarray:
    """``x`` high-passed at `HIGHPASS_HZ` with zero phase: no DC offset, no rumble, speech untouched."""
    if len(x) < 2:
        return x - x.mean() if len(x) else x
    # Like scipy's filtfilt, the ends are padded with a reflection so that a recording that starts or
    # stops mid-word does not ring; a mirror image rather than filtfilt's odd extension, whose offset
    # (twice the end sample) the high-pass would take for DC and smear over the last 50 ms.
    pad = min(_EDGE_PAD, len(x) - 1)
    padded = np.concatenate([x[pad:0:-1], x, x[-2:-pad - 2:-1]]).astype(np.float32)
    _filter_blocks(padded)
    _filter_blocks(padded[::-1])  # backwards over the forward result: the phase shifts cancel
    return padded[pad:pad + len(x)].copy()


def _filter_blocks(x: np.ndarray) -> None:
    """`_HIGHPASS` over ``x`` in place, a block at a time (a long call needs no float64 copy of itself)."""
    state = signal.sosfilt_zi(_HIGHPASS) * x[0]  # as if the first sample had always been there
    for start in range(0, len(x), _FILTER_BLOCK):
        x[start:start + _FILTER_BLOCK], state = signal.sosfilt(_HIGHPASS, x[start:start + _FILTER_BLOCK], zi=state)


@dataclass(frozen=True)
class _Limit:
    """How much decoded audio a file may give: the duration setting, and what its size can hold."""

    path: Path
    size: int
    options: AudioOptions

    @property
    def samples(self) -> int:
        return int(min(self.options.max_duration_s, self.size * 8 / MIN_BITS_PER_S) * SAMPLE_RATE)

    def refuse(self, seconds: float) -> None:
        if seconds > self.options.max_duration_s:
            raise AudioError(
                f"{self.path} is {_hours(seconds)} long, over the limit of {_hours(self.options.max_duration_s)}: "
                "split the recording, or raise audio.max_duration_s in a --config file")
        raise AudioError(
            f"{self.path} decodes to {seconds:.0f} s of audio from {self.size} bytes, more than any codec "
            "stores in that space: its header is corrupt; re-export the recording")


def _check_file(path: Path) -> int:
    """The size of ``path``, once it is known to be a readable regular file with something in it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError(f"{path} does not exist: check the path") from None
    except OSError as exc:
        raise AudioError(f"{path} cannot be opened ({exc.strerror}): check the file") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{path} is a folder: give the audio files in it (e.g. {path}/*.wav)")
    if not stat.S_ISREG(info.st_mode):
        # Opening a named pipe waits for a writer, and a device never ends: both hung here.
        raise AudioError(f"{path} is {_file_type(info.st_mode)}, not a file: give a saved recording")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        raise AudioError(f"{path} is not readable (permission denied): fix its permissions") from None
    except OSError as exc:
        raise AudioError(f"{path} cannot be opened ({exc.strerror}): check the file") from None
    if info.st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes): the recording was not saved; re-export it")
    return info.st_size


def _file_type(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def _decode(container, stream, n_channels: int, limit: _Limit) -> tuple[np.ndarray, str | None, int]:
    """All frames resampled to 16 kHz float, the decoder's error if it stopped early, and how
    many invalid samples were replaced; stops at the first corrupt packet."""
    layout = "stereo" if n_channels == 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    decoded = invalid = total = 0
    error = None
    try:
        for frame in container.decode(stream):
            frame.pts = None  # the resampler re-times frames; bad pts in broken files upset it
            if frame.format.name in _FLOAT_FORMATS:
                frame, bad = _replace_invalid(frame)
                invalid += bad
                total += frame.samples * n_channels
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
                decoded += out.samples
            if decoded > limit.samples:
                limit.refuse(decoded / SAMPLE_RATE)
    except (av.error.FFmpegError, ValueError) as exc:
        error = _reason(exc)
    try:
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    except (av.error.FFmpegError, ValueError) as exc:
        error = error or _reason(exc)
    if total and invalid > MAX_INVALID_SHARE * total:
        raise AudioError(f"{limit.path} has {invalid} of {total} samples ({invalid / total:.0%}) that are not numbers "
                         "(NaN or infinite): the recording is corrupt; re-export it")
    if not chunks:
        return np.zeros((n_channels, 0), np.float32), error, invalid
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), error, invalid


def _replace_invalid(frame: av.AudioFrame) -> tuple[av.AudioFrame, int]:
    """The frame with NaN/Inf samples set to 0 (before resampling, which would smear them), and their count."""
    samples = frame.to_ndarray()
    finite = np.isfinite(samples)
    if finite.all():
        return frame, 0
    clean = av.AudioFrame.from_ndarray(np.where(finite, samples, 0).astype(samples.dtype),
                                       format=frame.format.name, layout=frame.layout.name)
    clean.sample_rate = frame.sample_rate
    return clean, int(finite.size - finite.sum())


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _wav_header_duration(path: Path) -> float | None:
    """Seconds of audio the RIFF `data` chunk declares, or None when unknown."""
    try:
        with path.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate = None
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if chunk == b"fmt " and pos + 20 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16:pos + 20], "little")
        elif chunk == b"data":
            # 0 and 0xFFFFFFFF mark a header that a streaming writer never filled in
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _kind(container) -> str:
    return "a video" if container.streams.video else f"a '{container.format.name}' file"

"""Load stage: any common audio file → float32 channels at 16 kHz.

PyAV (FFmpeg's decoders, already a dependency of faster-whisper) reads WAV in
every PCM/float/G.711 flavour, FLAC, MP3, M4A and OGG with one code path, so
there is no per-format branching here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from coach.errors import AudioError
from coach.results import Layout

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MIN_DURATION_S = 0.1
# A file whose decoded length falls this far short of what its header promises
# was cut off (an interrupted copy or upload).
_TRUNCATION_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class Audio:
    """Decoded audio: one float32 array per channel, all at `SAMPLE_RATE`."""

    source: str
    channels: tuple[np.ndarray, ...]
    original_rate: int
    codec: str
    truncated: bool = False

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE

    @property
    def layout(self) -> Layout:
        return Layout.STEREO if len(self.channels) == 2 else Layout.MONO


def load_audio(path: str | Path) -> Audio:
    """Decode `path`; raise AudioError with a one-line reason when it cannot be used."""
    path = Path(path)
    _check_file(path)
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
        declared_s = _declared_duration(container, stream)
        if container.format.name == "wav":
            # FFmpeg clamps a WAV's duration to the bytes present, hiding a cut-off
            # file; the RIFF header still says how much audio there should be.
            declared_s = _wav_header_duration(path) or declared_s
        samples, decode_error = _decode(container, stream, n_channels)
        codec = stream.codec_context.name
        original_rate = stream.codec_context.sample_rate or SAMPLE_RATE

    if samples.shape[1] == 0:
        why = f" ({decode_error})" if decode_error else ""
        raise AudioError(f"{path} holds no decodable audio{why}: the file is empty or corrupt; re-export it")
    duration = samples.shape[1] / SAMPLE_RATE
    if duration < MIN_DURATION_S:
        raise AudioError(
            f"{path} is only {duration * 1000:.0f} ms long: coach needs at least "
            f"{MIN_DURATION_S * 1000:.0f} ms of audio"
        )
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
    channels = tuple(np.ascontiguousarray(samples[i]) for i in range(samples.shape[0]))
    return Audio(str(path), channels, int(original_rate), codec, truncated)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path} does not exist: check the path")
    if path.is_dir():
        raise AudioError(f"{path} is a folder: give the audio files in it (e.g. {path}/*.wav)")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except PermissionError:
        raise AudioError(f"{path} is not readable (permission denied): fix its permissions") from None
    except OSError as exc:
        raise AudioError(f"{path} cannot be opened ({exc.strerror}): check the file") from None
    if size == 0:
        raise AudioError(f"{path} is empty (0 bytes): the recording was not saved; re-export it")


def _decode(container, stream, n_channels: int) -> tuple[np.ndarray, str | None]:
    """All frames resampled to 16 kHz float; stops at the first corrupt packet."""
    layout = "stereo" if n_channels == 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    error = None
    try:
        for frame in container.decode(stream):
            frame.pts = None  # the resampler re-times frames; bad pts in broken files upset it
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
    except (av.error.FFmpegError, ValueError) as exc:
        error = _reason(exc)
    try:
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    except (av.error.FFmpegError, ValueError) as exc:
        error = error or _reason(exc)
    if not chunks:
        return np.zeros((n_channels, 0), np.float32), error
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), error


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


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _kind(container) -> str:
    return "a video" if container.streams.video else f"a '{container.format.name}' file"

"""The recording, re-encoded small enough to embed in a self-contained HTML report.

Every input is re-encoded to Ogg Opus (PyAV's bundled libopus; 16 kHz, 16 kbit/s per
channel) rather than embedded as it is: call-centre WAVs are often G.711 μ-law/A-law,
which browsers do not play, and a 10-minute 16-bit stereo WAV would be 38 MB (51 MB as
base64) against ~2.4 MB here.  Opus at these rates is made for speech, every browser
plays it, and the Ogg pre-skip keeps times on the file clock, so seeking to a time in
the report lands on the same moment as in the original.
"""

from __future__ import annotations

import base64
import io
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)

RATE = 16_000
BITS_PER_CHANNEL = 16_000


@dataclass(frozen=True)
class EmbeddedAudio:
    mime: str
    data: bytes

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def browser_audio(path: str | Path) -> EmbeddedAudio | None:
    """``path`` as Ogg Opus, or None (with a warning) when it cannot be read any more."""
    buffer = io.BytesIO()
    try:
        with av.open(str(path)) as source:
            stream = source.streams.audio[0]
            layout = "stereo" if stream.channels >= 2 else "mono"
            resampler = av.AudioResampler(format="flt", layout=layout, rate=RATE)
            with av.open(buffer, "w", format="ogg") as out:
                encoder = out.add_stream("libopus", rate=RATE, layout=layout)
                encoder.bit_rate = BITS_PER_CHANNEL * (2 if layout == "stereo" else 1)
                for frame in itertools.chain(source.decode(stream), [None]):  # None flushes the resampler
                    for resampled in resampler.resample(frame):
                        out.mux(encoder.encode(resampled))
                out.mux(encoder.encode(None))
    except (av.FFmpegError, OSError, IndexError) as exc:
        log.warning("%s: the recording cannot be embedded in the HTML report (%s); "
                    "the report is written without a player", path, exc)
        return None
    return EmbeddedAudio("audio/ogg", buffer.getvalue())

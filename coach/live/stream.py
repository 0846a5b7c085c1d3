"""The stream buffer: each party's recent audio, and who speaks when, judged as the audio arrives.

Silero scores each new 32 ms frame once (with half a second of audio before it for context);
on every `judge` the crosstalk-aware mask of `coach analyze` (`coach.vad.own_speech`) is
recomputed over a trailing window of those scores, so the tail of the call is judged as in a
recording, just with less future to look at.  Nothing here waits for the recogniser: silences
and interruptions come from this alone, which is what keeps their alerts on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from coach.audio import SAMPLE_RATE
from coach.config import VadOptions
from coach.results import Span, Speaker
from coach.vad import FRAME, FRAME_S, frame_levels_db, mask_to_spans, own_speech


@dataclass(frozen=True)
class Activity:
    """Who spoke when, as the VAD judges it at `until` (stream seconds): each party's speech
    spans in the trailing window, or their last span from before it when they have none there."""

    spans: Mapping[Speaker, tuple[Span, ...]]
    until: float

    def of(self, who: Speaker) -> tuple[Span, ...]:
        return self.spans.get(who, ())

    def speaking(self, who: Speaker, within_s: float = 0.1) -> bool:
        """`who` is speaking at `until` (or stopped less than `within_s` before it)."""
        spans = self.of(who)
        return bool(spans) and spans[-1].end >= self.until - within_s

    def quiet_s(self) -> float:
        """How long nobody has spoken (0 while someone speaks, and before anyone has)."""
        ends = [spans[-1].end for spans in self.spans.values() if spans]
        return max(0.0, self.until - max(ends)) if ends else 0.0


class _Channel:
    """One party's recent audio and per-frame silero scores and levels, on the stream clock."""

    def __init__(self, keep_s: float, keep_frames: int):
        self.audio = np.zeros(0, np.float32)
        self.audio_origin = 0  # sample index of audio[0]
        self.probs: list[float] = []
        self.levels: list[float] = []
        self.frame_origin = 0  # frame index of probs[0]
        self._keep_samples = int(keep_s * SAMPLE_RATE)
        self._keep_frames = keep_frames

    @property
    def samples_seen(self) -> int:
        return self.audio_origin + len(self.audio)

    @property
    def frames_scored(self) -> int:
        return self.frame_origin + len(self.probs)

    def append(self, samples: np.ndarray) -> None:
        self.audio = np.concatenate([self.audio, samples])
        if len(self.audio) > 2 * self._keep_samples:  # trim in halves: amortised O(1), memory flat
            cut = (len(self.audio) - self._keep_samples) // FRAME * FRAME  # frames stay aligned
            self.audio, self.audio_origin = self.audio[cut:], self.audio_origin + cut
        if len(self.probs) > 2 * self._keep_frames:
            cut = len(self.probs) - self._keep_frames
            del self.probs[:cut], self.levels[:cut]
            self.frame_origin += cut

    def score_new_frames(self, probabilities: Callable[[np.ndarray], np.ndarray], context_frames: int) -> None:
        new = self.samples_seen // FRAME - self.frames_scored
        if new <= 0:
            return
        context = max(0, min(context_frames, self.frames_scored - self.audio_origin // FRAME))
        first = (self.frames_scored - context) * FRAME
        chunk = self.audio[first - self.audio_origin:(self.frames_scored + new) * FRAME - self.audio_origin]
        self.probs.extend(probabilities(chunk)[-new:].tolist())
        self.levels.extend(frame_levels_db(chunk)[-new:].tolist())

    def between(self, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        first = max(self.audio_origin, int(start_s * SAMPLE_RATE))
        last = min(self.samples_seen, int(np.ceil(end_s * SAMPLE_RATE)))
        return self.audio[first - self.audio_origin:max(first, last) - self.audio_origin], first / SAMPLE_RATE


class StreamBuffer:
    """Blocks in (`append`), who speaks when out (`judge`), and the audio of any recent stretch (`audio`).

    `probabilities` is silero's per-frame score (`coach.vad.SpeechDetector.probabilities`).
    Audio is kept `keep_s` back, frame scores `coupling_window_s` back (the crosstalk estimate
    looks that far); memory stays flat however long the call.
    """

    def __init__(self, speakers: Sequence[Speaker], probabilities: Callable[[np.ndarray], np.ndarray],
                 vad: VadOptions, window_s: float = 30.0, keep_s: float = 60.0,
                 coupling_window_s: float = 120.0, context_frames: int = 16):
        self.speakers = tuple(speakers)
        self._probabilities = probabilities
        self._vad = vad
        self._window_frames = int(window_s / FRAME_S)
        self._context_frames = context_frames
        self._channels = {who: _Channel(keep_s, int(coupling_window_s / FRAME_S)) for who in self.speakers}
        self._last_span: dict[Speaker, Span] = {}

    @property
    def received_s(self) -> float:
        """Stream seconds of audio appended so far."""
        return self._channels[self.speakers[0]].samples_seen / SAMPLE_RATE

    @property
    def unscored_s(self) -> float:
        """Audio appended but not yet judged."""
        first = self._channels[self.speakers[0]]
        return (first.samples_seen // FRAME - first.frames_scored) * FRAME_S

    def append(self, block: np.ndarray) -> None:
        """A (frames, channels) float32 block at 16 kHz, in order, no gaps; channels in `speakers` order."""
        for index, who in enumerate(self.speakers):
            self._channels[who].append(np.ascontiguousarray(block[:, index], dtype=np.float32))

    def judge(self) -> Activity:
        """Score the frames that arrived since the last call and judge the trailing window."""
        for channel in self._channels.values():
            channel.score_new_frames(self._probabilities, self._context_frames)
        first = self._channels[self.speakers[0]]
        n = min(self._window_frames, len(first.probs))
        until = first.frames_scored * FRAME_S
        if n == 0:
            return Activity({who: () for who in self.speakers}, until)
        masks = own_speech([np.asarray(c.probs[-n:]) for c in self._channels.values()],
                           [np.asarray(c.levels[-n:]) for c in self._channels.values()], self._vad)
        window_start = until - n * FRAME_S
        spans = {}
        for who, mask in zip(self._channels, masks):
            found = tuple(Span(round(s.start + window_start, 3), round(s.end + window_start, 3))
                          for s in mask_to_spans(mask, n * FRAME_S))
            self._remember(who, found, window_start)
            spans[who] = found or ((self._last_span[who],) if who in self._last_span else ())
        return Activity(spans, until)

    def _remember(self, who: Speaker, found: tuple[Span, ...], window_start: float) -> None:
        """Keep `who`'s last span once it has left the window, so a silence longer than the window
        still knows who spoke last and when — but not one that was judged away inside it."""
        last = self._last_span.get(who)
        if found:
            newest = found[-1]
            if last is not None and newest.start <= window_start + FRAME_S and last.start < newest.start <= last.end:
                newest = Span(last.start, newest.end)  # cut by the window's start: the same span, begun earlier
            self._last_span[who] = newest
        elif last is not None and last.start >= window_start:
            del self._last_span[who]  # all of it inside the window, and no speech after all

    def audio(self, who: Speaker, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        """`who`'s audio from `start_s` to `end_s` (as much of it as is still kept), and where it starts."""
        return self._channels[who].between(start_s, end_s)

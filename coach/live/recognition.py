"""The recogniser worker: text for live speech, with bounded work and a stated way of falling behind.

Every recogniser call costs a whole model window whatever it holds (Whisper base on 2 cores:
~1.5 s for a 3 s piece, ~2.3 s with another program busy on one core, bench/README.md), and a
call cannot be interrupted once started.  So the worker decides what to spend calls on:

1. defer the customer's transcript: the agent's pieces come first (their words are what alerts
   are about); the customer's speech is recognised only while no agent piece waits and the
   agent is quiet (an agent piece is then at least ~2 s away: 1.5 s of speech and a 0.8 s
   pause), in batches of one call;
2. the agent's newest pieces first: when they pile up, what was just said is recognised
   before what waited longer, so an alert about it is still fresh; the older ones follow;
3. shorten the context: an agent call holds at most `agent_joint_s` of speech (the newest), so
   its words come back after one short decode rather than after a whole window's worth;
4. never unbounded: speech still waiting `agent_keep_s` / `customer_keep_s` after the newest
   piece of that party ended is dropped — an alert from it could only be about a moment long
   past; the live transcript skips it, the report at the end has it (`coach analyze` of the
   whole recording).

`lag` says how far behind it is: the age of the oldest agent speech still waiting for text.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from coach import metrics
from coach.asr import Decoding, Recognizer
from coach.audio import SAMPLE_RATE
from coach.results import Span, Speaker, Utterance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """A stretch of one party's speech for the recogniser: its turns (an utterance each), the
    speech spans inside them, the audio's syllables per turn, and the audio from `origin` on."""

    speaker: Speaker
    turns: tuple[Span, ...]
    spans: tuple[Span, ...]
    syllables: tuple[int, ...]
    samples: np.ndarray
    origin: float

    @property
    def start(self) -> float:
        return self.turns[0].start

    @property
    def end(self) -> float:
        return self.turns[-1].end

    @property
    def speech_s(self) -> float:
        return sum(s.duration for s in self.spans)

    def utterances(self, words: Sequence[Sequence] | None = None) -> list[Utterance]:
        """One utterance per turn: with the words recognised in each span (`words`, in span
        order), or untranscribed (the audio's syllables only) while none have come back."""
        per_turn: list[list] = [[] for _ in self.turns]
        for span, span_words in zip(self.spans, words or [[] for _ in self.spans]):
            owner = next((i for i, t in enumerate(self.turns) if t.start <= span.start < t.end), len(self.turns) - 1)
            per_turn[owner].extend(span_words)
        return metrics.build_utterances(self.speaker, self.turns, per_turn, self.syllables)


@dataclass(frozen=True)
class Recognised:
    piece: Piece
    utterances: tuple[Utterance, ...]


class Cutter:
    """Cuts one party's speech into pieces for the recogniser, each stretch sent once.

    The agent's speech ends a piece at a pause of `pause_s` — unless the piece holds less than
    `min_speech_s` and the pause is shorter than a turn's `turn_pause_s` (it waits for more) —
    or once it is `max_s` long.  The customer's goes in batches of `batch_s` (nothing the
    customer says raises an alert, and every call costs a whole window).
    """

    def __init__(self, speaker: Speaker, pause_s: float, min_speech_s: float, max_s: float,
                 turn_pause_s: float, batch_s: float):
        self.speaker = speaker
        self.pause_s, self.min_speech_s, self.max_s = pause_s, min_speech_s, max_s
        self.turn_pause_s, self.batch_s = turn_pause_s, batch_s
        self.sent_until = 0.0

    def cut(self, spans: Sequence[Span], until: float, final: bool = False) -> list[tuple[Span, ...]]:
        """The pieces that are settled now (`until`: the audio judged so far), each clipped to
        what was not sent before."""
        fresh = [Span(max(s.start, self.sent_until), s.end) for s in spans if s.end > self.sent_until]
        fresh = [s for s in fresh if s.duration > 0]
        if not fresh:
            return []
        pieces = self._customer(fresh, until, final) if self.speaker is Speaker.CUSTOMER else \
            self._agent(fresh, until, final)
        pieces = [p for p in pieces if p[-1].end - p[0].start >= 0.1]
        if pieces:
            self.sent_until = pieces[-1][-1].end
        return pieces

    def _customer(self, spans: list[Span], until: float, final: bool) -> list[tuple[Span, ...]]:
        settled = [s for s in spans if final or until - s.end >= self.pause_s]
        if settled and (final or settled[-1].end - settled[0].start >= self.batch_s):
            return [tuple(settled)]
        return []

    def _agent(self, spans: list[Span], until: float, final: bool) -> list[tuple[Span, ...]]:
        pieces: list[tuple[Span, ...]] = []
        piece: list[Span] = []
        for span in spans:
            if piece and self._ends(piece, span.start - piece[-1].end):
                pieces.append(tuple(piece))
                piece = []
            piece.append(span)
        settled = final or self._ends(piece, until - piece[-1].end)
        if settled:
            pieces.append(tuple(piece))
        elif piece[-1].end - piece[0].start >= self.max_s:
            pieces.append(tuple(piece[:-1] or piece))
        return pieces

    def _ends(self, piece: list[Span], pause: float) -> bool:
        speech = sum(s.duration for s in piece)
        return pause >= self.pause_s and (speech >= self.min_speech_s or pause >= self.turn_pause_s)


class RecognitionWorker:
    """A thread that turns pieces into utterances, in the order of the module's docstring.

    `submit` from the stream's thread; `results` there too (nothing is called back on the
    worker thread, so the watchers run on one thread).  CTranslate2 releases the GIL while it
    decodes, so the stream's thread keeps time meanwhile.
    """

    def __init__(self, recognizer: Recognizer, agent_joint_s: float = 8.0, customer_joint_s: float = 20.0,
                 agent_keep_s: float = 30.0, customer_keep_s: float = 60.0):
        self._recognizer = recognizer
        self._joint = {Speaker.AGENT: agent_joint_s, Speaker.CUSTOMER: customer_joint_s}
        self._keep = {Speaker.AGENT: agent_keep_s, Speaker.CUSTOMER: customer_keep_s}
        self._waiting: dict[Speaker, list[Piece]] = {Speaker.AGENT: [], Speaker.CUSTOMER: []}
        self._in_flight: list[Piece] = []
        self._done: list[Recognised] = []
        self.dropped_s = {Speaker.AGENT: 0.0, Speaker.CUSTOMER: 0.0}
        self._agent_quiet = True
        self._closing = False
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="coach-live-asr", daemon=True)
        self._thread.start()

    def submit(self, piece: Piece) -> None:
        with self._lock:
            waiting = self._waiting[piece.speaker]
            waiting.append(piece)
            while waiting[0].end < piece.end - self._keep[piece.speaker]:
                dropped = waiting.pop(0)
                self.dropped_s[piece.speaker] += dropped.speech_s
                log.info("live: %s speech %.1f–%.1f s left to the report (recognition behind)",
                         piece.speaker.value, dropped.start, dropped.end)
            self._lock.notify()

    def agent_quiet(self, quiet: bool) -> None:
        """Whether the agent is quiet now: only then is the customer's speech recognised."""
        with self._lock:
            if quiet != self._agent_quiet:
                self._agent_quiet = quiet
                self._lock.notify()

    def lag(self, now: float) -> float:
        """Stream seconds since the end of the oldest agent speech still waiting for text (0: none)."""
        with self._lock:
            pending = [p.end for p in self._waiting[Speaker.AGENT] + self._in_flight if p.speaker is Speaker.AGENT]
        return max(0.0, now - min(pending)) if pending else 0.0

    def results(self) -> list[Recognised]:
        with self._lock:
            done, self._done = self._done, []
        return done

    def close(self) -> list[Recognised]:
        """Recognise the agent's waiting pieces (the customer's are left to the report), stop, and
        return what has not been collected."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join()
        return self.results()

    # -- the worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._closing or self._ready() is not None)
                who = self._ready()
                if who is None:
                    return
                group = self._take(who)
                self._in_flight = group
            try:
                recognised = self._recognise(group)
            except Exception:  # one bad piece must not end the session; the report redoes it all
                log.exception("live recognition failed for %.1f–%.1f s", group[0].start, group[-1].end)
                recognised = [Recognised(p, tuple(p.utterances())) for p in group]
            with self._lock:
                self._done.extend(recognised)
                self._in_flight = []

    def _ready(self) -> Speaker | None:
        """Whose speech to recognise next (under the lock)."""
        if self._waiting[Speaker.AGENT]:
            return Speaker.AGENT
        if self._waiting[Speaker.CUSTOMER] and self._agent_quiet and not self._closing:
            return Speaker.CUSTOMER
        return None

    def _take(self, who: Speaker) -> list[Piece]:
        """One call's worth: the agent's newest pieces (newest first), the customer's oldest."""
        waiting = self._waiting[who]
        order = range(len(waiting) - 1, -1, -1) if who is Speaker.AGENT else range(len(waiting))
        chosen, speech = [], 0.0
        for i in order:
            if chosen and speech + waiting[i].speech_s > self._joint[who]:
                break
            chosen.append(i)
            speech += waiting[i].speech_s
        group = [waiting[i] for i in sorted(chosen)]
        self._waiting[who] = [p for i, p in enumerate(waiting) if i not in chosen]
        return group

    def _recognise(self, group: list[Piece]) -> list[Recognised]:
        """The group's spans in one recogniser call, on one array covering all of them."""
        origin = min(p.origin for p in group)
        end = max(p.origin + len(p.samples) / SAMPLE_RATE for p in group)
        samples = np.zeros(int(np.ceil((end - origin) * SAMPLE_RATE)), np.float32)
        for p in group:
            first = int(round((p.origin - origin) * SAMPLE_RATE))
            samples[first:first + len(p.samples)] = p.samples[:len(samples) - first]
        spans = [Span(s.start - origin, s.end - origin) for p in group for s in p.spans]
        words = iter(self._recognizer.transcribe(samples, spans, Decoding.LIVE))
        recognised = []
        for p in group:
            mine = [[replace(w, start=w.start + origin, end=w.end + origin) for w in next(words)] for _ in p.spans]
            recognised.append(Recognised(p, tuple(p.utterances(mine))))
        return recognised

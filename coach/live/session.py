"""Live stage: coaching while the call goes on, from blocks of captured audio.

`LiveSession` wires three parts, each in its own module:

* the stream buffer (`coach.live.stream`): audio in, who speaks when out, every 128 ms;
* the recogniser worker (`coach.live.recognition`): the agent's speech in pieces that end at a
  short pause, the customer's in batches, on a thread of its own, with bounded work;
* the watchers (`coach.live.watchers`): silence and holds, interruptions, rate, pitch, greeting,
  forbidden phrases — `coach.metrics` and friends on the tail of the call.

The stream's thread (the caller of `feed`) runs the VAD and every watcher; the recogniser's words
come back to it (`_collect`).  Silence, interruption, rate and pitch need only the audio, so they
keep time whatever the recogniser does; what needs words comes as soon as the worker has them,
and `LiveState.recognition_lag_s` says how far behind that is.  The full report at the end is
`coach analyze` of the saved recording (`coach.cli`), so it is exactly what analyze says.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import signal
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from coach import metrics, syllables
from coach.audio import SAMPLE_RATE
from coach.live.capture import Recorder, Source
from coach.live.events import LiveEvent
from coach.live.recognition import Cutter, Piece, Recognised, RecognitionWorker
from coach.live.stream import Activity, StreamBuffer
from coach.live.voice import AgentVoice
from coach.live.watchers import (
    GreetingWatcher, InterruptionWatcher, PhraseWatcher, PitchWatcher, RateWatcher, SilenceWatcher,
)
from coach.models import Models
from coach.roles import greets
from coach.pitch import track_f0, warm_up
from coach.results import Span, Speaker, Utterance

log = logging.getLogger(__name__)
_OTHER = {Speaker.AGENT: Speaker.CUSTOMER, Speaker.CUSTOMER: Speaker.AGENT}


@dataclass(frozen=True)
class LiveOptions:
    tick_s: float = 0.128  # how often who-speaks-when is judged (4 silero frames)
    window_s: float = 30.0  # trailing audio the mask is recomputed over
    coupling_window_s: float = 120.0  # frames kept for the crosstalk estimate
    # A pause this long ends a piece of agent speech sent to the recogniser …
    piece_pause_s: float = 0.8
    min_piece_s: float = 1.5  # … unless it holds less speech than this and the turn goes on
    max_piece_s: float = 12.0  # … and speech longer than this is sent without waiting for one
    customer_batch_s: float = 20.0  # the customer's speech is recognised this much at a time
    agent_joint_s: float = 8.0  # waiting agent speech recognised together in one call, at most
    customer_joint_s: float = 20.0  # … and customer speech (within one model window)
    agent_keep_s: float = 30.0  # agent speech still waiting this long after the newest piece is left to the report
    customer_keep_s: float = 60.0  # … and customer speech
    rate_window_s: float = 30.0  # the rolling speaking rate looks this far back
    rate_min_speech_s: float = 10.0  # … and says nothing on less speech than this
    pitch_window_s: float = 20.0  # agent speech the flat-voice check looks at
    repeat_after_s: float = 60.0  # a rate or pitch alert is not raised again sooner
    hold_check_s: float = 15.0  # on a hold, remind the agent to check back this often
    context_frames: int = 16  # audio before new frames given to silero (0.5 s)
    transcript_lines: int = 6  # the transcript's last lines in the state


@dataclass(frozen=True)
class LiveState:
    """What the live view shows, at stream time `t`."""

    t: float
    speaking: tuple[bool, bool]  # agent, customer
    silence_s: float  # how long neither party has spoken (0 while someone speaks)
    on_hold: bool
    rate_cpm: float | None
    rate_verdict: str
    pitch_st: float | None
    monotone: bool | None
    transcript: tuple[Utterance, ...]  # the last lines, in time order
    behind_s: float  # audio arrived but not yet judged by the VAD
    recognition_lag_s: float = 0.0  # age of the oldest agent speech still waiting for text


class LiveSession:
    """Feed blocks in (`feed`), get events out (`on_event`) and a state for the view (`state`)."""

    def __init__(self, models: Models, channels: int, agent_index: int = 0,
                 options: LiveOptions = LiveOptions(), on_event: Callable[[LiveEvent], None] | None = None,
                 clock: Callable[[], float] | None = None, mixed: bool = False):
        """`mixed`: the one channel carries both parties; each piece of speech is the agent's or the
        customer's by its voice (`coach.live.voice`), and only the agent's raise alerts."""
        o, a = options, models.options
        self.options = options
        self.speakers = (Speaker.AGENT,) if channels == 1 else \
            ((Speaker.AGENT, Speaker.CUSTOMER) if agent_index == 0 else (Speaker.CUSTOMER, Speaker.AGENT))
        self._on_event = on_event or (lambda event: None)
        self._clock = clock
        self._pad_s = a.asr.pad_s
        self._turns = a.turns
        self._pitch_options = a.pitch
        warm_up()  # numba loads yin now, not in the middle of the call (~1.6 s)
        self.stream = StreamBuffer(self.speakers, models.detector.probabilities, a.vad, o.window_s,
                                   keep_s=o.window_s + 2 * o.max_piece_s, coupling_window_s=o.coupling_window_s,
                                   context_frames=o.context_frames)
        self.worker = RecognitionWorker(models.recognizer, o.agent_joint_s, o.customer_joint_s, o.agent_keep_s,
                                        o.customer_keep_s)
        self._cutters = {who: Cutter(who, o.piece_pause_s, o.min_piece_s, o.max_piece_s, a.turns.max_pause_s,
                                     o.customer_batch_s) for who in self.speakers}
        lexicon = models.matcher.lexicon
        self.silence = SilenceWatcher(a.silence, lexicon, o.hold_check_s)
        self.interruption = InterruptionWatcher(a.turns, a.interruption, self._agent_syllables)
        self.rate = RateWatcher(a.rate, a.turns, a.interruption, o.rate_window_s, o.rate_min_speech_s, o.repeat_after_s)
        self.pitch = PitchWatcher(a.pitch, o.pitch_window_s, o.repeat_after_s)
        self.greeting = GreetingWatcher(lexicon)
        self.phrases = PhraseWatcher(models.matcher)
        self._activity = Activity({who: () for who in self.speakers}, 0.0)
        self._transcript: list[Utterance] = []
        self._voice = AgentVoice(models.separator, a.separation) if mixed and channels == 1 else None
        self._sent_until = 0.0  # where the speech sent to the recogniser so far ends
        self._swapped_before = None  # speech before this was sent under the voices' old roles

    # -- the stream clock -------------------------------------------------------------------

    @property
    def received_s(self) -> float:
        return self.stream.received_s

    def now(self) -> float:
        """Stream time of the audio that has arrived (the source's clock when it has one)."""
        return max(self._clock(), self.received_s) if self._clock else self.received_s

    # -- input ------------------------------------------------------------------------------

    def feed(self, block: np.ndarray) -> None:
        """A (frames, channels) float32 block at 16 kHz, in order, no gaps."""
        self.stream.append(block)
        if self.stream.unscored_s >= self.options.tick_s:
            self._tick()
        self._collect()

    def finish(self) -> None:
        """The stream ended: recognise the agent's pending speech and take what comes back."""
        self._tick(final=True)
        for recognised in self.worker.close():
            self._recognised(recognised)

    # -- every tick: the VAD and what needs only the VAD --------------------------------------

    def _tick(self, final: bool = False) -> None:
        activity = self._activity = self.stream.judge()
        now = self.now()
        self._emit(self.silence.update(activity, now))
        if Speaker.CUSTOMER in self.speakers:
            self._emit(self.interruption.update(activity, now))
        self.worker.agent_quiet(not activity.speaking(Speaker.AGENT, self.options.piece_pause_s))
        for who, cutter in self._cutters.items():
            if final and who is Speaker.CUSTOMER:
                continue  # nobody will read it live any more; the report has it
            for spans in cutter.cut(activity.of(who), activity.until, final):
                self._send(who, spans, activity, now)

    def _send(self, who: Speaker, spans: tuple[Span, ...], activity: Activity, now: float) -> None:
        """A settled piece to the recogniser; the agent's also to the watchers that need only its audio."""
        samples, origin = self.stream.audio(who, spans[0].start - self._pad_s, spans[-1].end + self._pad_s)
        samples = samples.copy()
        self._sent_until = max(self._sent_until, spans[-1].end)
        if self._voice is not None and \
                self._voice.speaker(samples, [Span(s.start - origin, s.end - origin) for s in spans]) is Speaker.CUSTOMER:
            # the customer, on the agent's line: their words go to the transcript only
            self.worker.submit(Piece(Speaker.CUSTOMER, (Span(spans[0].start, spans[-1].end),), spans, (0,), samples,
                                     origin))
            return
        if who is Speaker.CUSTOMER:  # only ever shown in the transcript: its turns, no syllables
            turns = tuple(metrics.group_turns(spans, activity.of(Speaker.AGENT), self._turns))
            self.worker.submit(Piece(who, turns, spans, (0,) * len(turns), samples, origin))
            return
        local = [Span(s.start - origin, s.end - origin) for s in spans]
        turn = Span(spans[0].start, spans[-1].end)
        count = syllables.count_in(syllables.nuclei(samples, SAMPLE_RATE, local) + origin, turn)
        piece = Piece(who, (turn,), spans, (count,), samples, origin)
        self.worker.submit(piece)
        track = track_f0(samples, SAMPLE_RATE, local, self._pitch_options)
        self._emit(self.pitch.heard(piece.end, track.f0_hz[np.isfinite(track.f0_hz)], now))
        for utterance in piece.utterances():  # untranscribed for now: its syllables count
            self._emit(self.rate.heard(utterance, activity, now))

    def _agent_syllables(self, turn: Span) -> int:
        samples, origin = self.stream.audio(Speaker.AGENT, turn.start, turn.end)
        return len(syllables.nuclei(samples, SAMPLE_RATE, [Span(turn.start - origin, turn.end - origin)]))

    # -- what the recogniser heard --------------------------------------------------------------

    def _collect(self) -> None:
        for recognised in self.worker.results():
            self._recognised(recognised)

    def _recognised(self, recognised: Recognised) -> None:
        now = self.now()
        for utterance in recognised.utterances:
            if not utterance.transcribed:
                continue
            if self._voice is not None:
                utterance = self._by_voice_roles_now(utterance)
            bisect.insort(self._transcript, utterance, key=lambda u: u.start)
            del self._transcript[:-200]
            if utterance.speaker is Speaker.AGENT:
                self.silence.heard(utterance)
                self._emit(self.rate.heard(utterance, self._activity, now))
                self._emit(self.phrases.heard(utterance, now))
                self._emit(self.greeting.heard(utterance, now))

    def _by_voice_roles_now(self, utterance: Utterance) -> Utterance:
        """On a mixed line, the utterance's party as the voices' roles stand now: when the voice
        taken for the customer's greets with the staff number, the line opened on the customer
        and the roles swap (`AgentVoice.swap`) — for the transcript so far and for the pieces
        already sent under the old roles, whose words come back from the recogniser later."""
        if self._swapped_before is not None and utterance.start < self._swapped_before:
            utterance = replace(utterance, speaker=_OTHER[utterance.speaker])
        elif utterance.speaker is Speaker.CUSTOMER and greets([utterance], self.greeting.lexicon) and \
                self._voice.swap():
            self._swapped_before = self._sent_until
            self._transcript = [replace(u, speaker=_OTHER[u.speaker]) for u in self._transcript]
            utterance = replace(utterance, speaker=Speaker.AGENT)
        return utterance

    # -- out --------------------------------------------------------------------------------

    def _emit(self, events: list[LiveEvent]) -> None:
        for event in events:
            self._on_event(event)

    def state(self) -> LiveState:
        a, now = self._activity, self.now()
        speaking = (a.speaking(Speaker.AGENT), a.speaking(Speaker.CUSTOMER))
        rate, pitch = self.rate.current, self.pitch.current
        return LiveState(t=now, speaking=speaking, silence_s=round(0.0 if any(speaking) else a.quiet_s(), 1),
                         on_hold=self.silence.on_hold(a),
                         rate_cpm=rate.chars_per_min if rate else None,
                         rate_verdict=rate.verdict.value if rate else "no_speech",
                         pitch_st=pitch.semitone_std if pitch else None, monotone=pitch.monotone if pitch else None,
                         transcript=tuple(self._transcript[-self.options.transcript_lines:]),
                         behind_s=round(max(0.0, now - a.until), 2),
                         recognition_lag_s=round(self.worker.lag(now), 1))


def run(source: Source, session: LiveSession, recorder: Recorder, duration_s: float | None = None,
        on_state: Callable[[LiveState], None] | None = None, state_every_s: float = 0.25) -> None:
    """Blocks from `source` to the recording (first: nothing captured is lost) and the session,
    until the source ends, `duration_s` of stream time, or Ctrl-C / SIGTERM; then the session's
    pending speech is recognised and the recording closed."""
    shown = 0.0
    try:
        with _sigterm_as_interrupt():
            for block in source.blocks():
                recorder.write(block)
                session.feed(block)
                if duration_s is not None and session.received_s >= duration_s:
                    break
                if on_state and session.received_s - shown >= state_every_s:
                    shown = session.received_s
                    on_state(session.state())
    except KeyboardInterrupt:
        log.info("stopped at %.1f s", session.received_s)
    finally:
        source.stop()
        for block in source.drain():  # arrived before the stop: still part of the call
            recorder.write(block)
            session.feed(block)
        recorder.close()
    session.finish()
    if on_state:
        on_state(session.state())


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """`kill` (SIGTERM) ends a session like Ctrl-C: saved recording, full report."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals to whoever owns them
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

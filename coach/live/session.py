"""Live stage: coaching while the call goes on, from blocks of captured audio.

The same stages as `coach analyze`, run on what has arrived so far:

* VAD — silero scores each new 32 ms frame once; every tick the crosstalk-aware mask
  (`coach.vad.own_speech`) is recomputed over a trailing window, so the tail of the call
  is judged as in a recording, just with less future to look at;
* silence and interruption — straight from the mask on the stream clock, no ASR needed,
  which is what keeps their alerts within a tick or two of the 5.0 s / 1.0 s marks;
* ASR — each stretch of speech is sent to Whisper once it is followed by a short pause
  (agent first, on a worker thread: CTranslate2 releases the GIL, so the VAD keeps time);
  its words feed the phrase matcher (forbidden phrases), the rolling speaking rate, the
  pitch of the agent's recent speech, and the greeting check at the start.

Events are facts with a stream time (`t`, when raised) and the moment they are about
(`at`); which of them interrupt the agent as alerts, and how often, is the view's business
(`AlertBoard`).  The full report at the end is `Analyzer.analyze` of the saved recording,
so it is exactly what `coach analyze` says about the same call.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import queue
import signal
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from coach import metrics
from coach.asr import Decoding
from coach.audio import SAMPLE_RATE
from coach.live.capture import Recorder, Source
from coach.lexicon import Where
from coach.phrases import asks_to_hold, check_script
from coach.pipeline import Analyzer
from coach.pitch import F0Track, pitch_stats, track_f0
from coach.results import PhraseHit, Span, Speaker, Utterance, Verdict
from coach.vad import FRAME, FRAME_S, frame_levels_db, mask_to_spans, own_speech

log = logging.getLogger(__name__)


class EventType(str, enum.Enum):
    SILENCE = "silence"
    INTERRUPTION = "interruption"
    RATE = "rate"
    PITCH = "pitch"
    PHRASE = "phrase"
    SCRIPT = "script"


@dataclass(frozen=True)
class LiveEvent:
    t: float  # stream time when raised
    type: EventType
    at: float  # stream time of what it is about (silence start, agent onset, utterance start …)
    message: str  # the coaching line shown to the agent
    data: dict = field(default_factory=dict)  # type-specific figures (JSON-ready)

    def to_dict(self) -> dict:
        return {"t": round(self.t, 2), "type": self.type.value, "at": round(self.at, 2),
                "message": self.message, **self.data}


@dataclass(frozen=True)
class LiveOptions:
    tick_s: float = 0.128  # how often the mask is recomputed (4 silero frames)
    window_s: float = 30.0  # trailing audio the mask is recomputed over
    coupling_window_s: float = 120.0  # frames kept for the crosstalk estimate
    # A pause this long ends a piece of agent speech sent to the recogniser …
    piece_pause_s: float = 0.8
    min_piece_s: float = 1.5  # … unless it holds less speech than this and the turn goes on
    max_piece_s: float = 12.0  # … and speech longer than this is sent without waiting for one
    customer_batch_s: float = 40.0  # the customer's speech is recognised this much at a time
    max_joint_s: float = 25.0  # pieces waiting together are recognised in one call up to this long
    rate_window_s: float = 30.0  # the rolling speaking rate looks this far back
    rate_min_speech_s: float = 10.0  # … and says nothing on less speech than this
    pitch_window_s: float = 20.0  # agent speech the flat-voice check looks at
    repeat_after_s: float = 60.0  # a rate or pitch alert is not raised again sooner
    hold_check_s: float = 15.0  # on a hold, remind the agent to check back this often
    context_frames: int = 16  # audio before new frames given to silero (0.5 s)


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
    transcript: tuple[Utterance, ...]
    behind_s: float  # audio arrived but not yet analysed


@dataclass(frozen=True)
class _Job:
    speaker: Speaker
    start: float
    end: float
    spans: tuple[Span, ...]
    samples: np.ndarray  # the channel from `origin` on
    origin: float


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

    def between(self, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
        first = max(self.audio_origin, int(start_s * SAMPLE_RATE))
        last = min(self.samples_seen, int(np.ceil(end_s * SAMPLE_RATE)))
        return self.audio[first - self.audio_origin:max(first, last) - self.audio_origin], first / SAMPLE_RATE


class LiveSession:
    """Feed blocks in (`feed`), get events out (`on_event`) and a state for the view (`state`)."""

    def __init__(self, analyzer: Analyzer, channels: int, agent_index: int = 0,
                 options: LiveOptions = LiveOptions(), on_event: Callable[[LiveEvent], None] | None = None,
                 clock: Callable[[], float] | None = None):
        self.analyzer = analyzer
        self.options = options
        self.speakers = (Speaker.AGENT,) if channels == 1 else \
            ((Speaker.AGENT, Speaker.CUSTOMER) if agent_index == 0 else (Speaker.CUSTOMER, Speaker.AGENT))
        keep_frames = int(options.coupling_window_s / FRAME_S)
        self._channels = {who: _Channel(options.window_s + 2 * options.max_piece_s, keep_frames)
                          for who in self.speakers}
        self._on_event = on_event or (lambda event: None)
        self._clock = clock
        self._lock = threading.Lock()  # guards what the worker and the view read
        self._spans: dict[Speaker, list[Span]] = {who: [] for who in self.speakers}
        self._sent_until = {who: 0.0 for who in self.speakers}
        self._utterances: deque[Utterance] = deque(maxlen=200)
        self._agent_recent: deque[Utterance] = deque()  # agent utterances for the rolling rate
        self._pitch_recent: deque[tuple[float, np.ndarray]] = deque()  # (end, voiced F0) per agent piece
        self._agent_count = 0
        self._last_agent: tuple[Utterance, bool] | None = None  # and whether it asked to hold
        self._greeting_checked = False
        self._last_speech_end: float | None = None
        self._silence_reported: float | None = None
        self._hold_reminders = 0
        self._interrupted: list[float] = []
        self._last_raised: dict[EventType, float] = {}
        self._rate: tuple[float | None, str] = (None, "no_speech")
        self._pitch: tuple[float | None, bool | None] = (None, None)
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._done: queue.Queue = queue.Queue()
        self._order = itertools.count()
        self._worker = threading.Thread(target=self._recognise, name="coach-live-asr", daemon=True)
        self._worker.start()

    # -- the stream clock -------------------------------------------------------------------

    @property
    def analysed_s(self) -> float:
        return self._channels[Speaker.AGENT].samples_seen / SAMPLE_RATE

    def now(self) -> float:
        """Stream time of the audio that has arrived (the source's clock when it has one)."""
        return max(self._clock(), self.analysed_s) if self._clock else self.analysed_s

    # -- input ------------------------------------------------------------------------------

    def feed(self, block: np.ndarray) -> None:
        """A (frames, channels) float32 block at 16 kHz, in order, no gaps."""
        for index, who in enumerate(self.speakers):
            self._channels[who].append(np.ascontiguousarray(block[:, index], dtype=np.float32))
        agent = self._channels[Speaker.AGENT]
        due = int(self.options.tick_s / FRAME_S)
        if (agent.samples_seen // FRAME) - agent.frames_scored >= due:
            self._tick()
        self._collect()

    def finish(self) -> None:
        """The stream ended: recognise what is still pending and wait for it."""
        self._tick(final=True)
        self._jobs.put((9, next(self._order), None))
        self._worker.join()
        self._collect()

    # -- VAD, silence, interruption ---------------------------------------------------------

    def _tick(self, final: bool = False) -> None:
        for channel in self._channels.values():
            self._score_new_frames(channel)
        agent = self._channels[Speaker.AGENT]
        n = min(int(self.options.window_s / FRAME_S), len(agent.probs))
        if n == 0:
            return
        masks = own_speech([np.asarray(c.probs[-n:]) for c in self._channels.values()],
                           [np.asarray(c.levels[-n:]) for c in self._channels.values()], self.analyzer.options.vad)
        window_start = (agent.frames_scored - n) * FRAME_S
        data_end = agent.frames_scored * FRAME_S
        with self._lock:
            for who, mask in zip(self._channels, masks):
                spans = [Span(round(s.start + window_start, 3), round(s.end + window_start, 3))
                         for s in mask_to_spans(mask, n * FRAME_S)]
                self._spans[who] = spans
        speaking = [bool(m[-1]) for m in masks]
        # The window's latest speech, re-judged each tick; older than the window, the one kept.
        ends = [s.end for spans in self._spans.values() for s in spans]
        if ends:
            self._last_speech_end = max(ends)
        self._check_silence(data_end, any(speaking))
        if Speaker.CUSTOMER in self._spans:
            self._check_interruptions()
        for who in self.speakers:
            self._send_pieces(who, data_end, final)

    def _score_new_frames(self, channel: _Channel) -> None:
        new = channel.samples_seen // FRAME - channel.frames_scored
        if new <= 0:
            return
        context = min(self.options.context_frames, channel.frames_scored - channel.audio_origin // FRAME)
        first = (channel.frames_scored - max(context, 0)) * FRAME
        chunk = channel.audio[first - channel.audio_origin:(channel.frames_scored + new) * FRAME - channel.audio_origin]
        probs = self.analyzer.detector.probabilities(chunk)[-new:]
        levels = frame_levels_db(chunk)[-new:]
        channel.probs.extend(probs.tolist())
        channel.levels.extend(levels.tolist())

    def _check_silence(self, data_end: float, someone_speaking: bool) -> None:
        last = self._last_speech_end
        if someone_speaking or last is None:
            return
        quiet = data_end - last
        limit = self.analyzer.options.silence.min_s
        if quiet >= limit and not self._reported(last):
            self._silence_reported, self._hold_reminders = last, 0
            hold = self._announced_hold()
            who = self._last_speaker()
            message = ("保持中：客户在等待，请按时回到线路说明进度" if hold else
                       f"冷场已超过 {limit:.0f} 秒：请主动开口，说明您正在处理的事情")
            self._raise(EventType.SILENCE, last, message,
                        {"duration_s": round(quiet, 2), "last_speaker": who.value if who else None, "hold": hold})
        if self._reported(last) and self._announced_hold():
            due = (self._hold_reminders + 1) * self.options.hold_check_s
            if quiet >= due:
                self._hold_reminders += 1
                self._raise(EventType.SCRIPT, last, f"保持已 {quiet:.0f} 秒：请回到线路向客户致意（每 15 秒一次）",
                            {"item": "hold_check_in", "duration_s": round(quiet, 2)})

    def _reported(self, last_speech_end: float) -> bool:
        # The end of speech moves by a frame or two as the mask is re-judged: same gap.
        return self._silence_reported is not None and abs(last_speech_end - self._silence_reported) < 0.5

    def _last_speaker(self) -> Speaker | None:
        ends = [(s.end, who) for who, spans in self._spans.items() for s in spans]
        return max(ends, key=lambda e: e[0])[1] if ends else None

    def _announced_hold(self) -> bool:
        """The agent's last words asked the customer to wait (请稍等 …)."""
        last = self._last_agent
        return (last is not None and last[1] and self._last_speech_end is not None
                and last[0].end >= self._last_speech_end - 3.0)

    def _check_interruptions(self) -> None:
        options = self.analyzer.options
        agent, customer = self._spans[Speaker.AGENT], self._spans[Speaker.CUSTOMER]
        for turn in metrics.group_turns(agent, customer, options.turns):
            if not any(c.start < turn.start < c.end for c in customer):
                continue
            if any(abs(turn.start - done) < options.turns.max_pause_s for done in self._interrupted):
                continue
            mine = [s for s in agent if turn.start <= s.start < turn.end]
            overlap = sum(max(0.0, min(s.end, c.end) - max(s.start, c.start)) for s in mine for c in customer)
            if overlap >= options.interruption.min_overlap_s:
                self._interrupted = [t for t in self._interrupted if t > turn.start - 60] + [turn.start]
                self._raise(EventType.INTERRUPTION, turn.start, "您打断了客户：请先让客户说完，再回应",
                            {"overlap_s": round(overlap, 2)})

    # -- recognition ------------------------------------------------------------------------

    def _send_pieces(self, who: Speaker, data_end: float, final: bool) -> None:
        """The agent's speech goes to the recogniser once, in pieces ending at a pause of
        `piece_pause_s` (a piece under `min_piece_s` waits for more speech unless the turn ended)
        or at `max_piece_s`; the customer's in batches of `customer_batch_s`.  Every Whisper call
        costs a whole 30 s window however short the piece (~1.4 s, 2 CPU-s on 2 cores), and
        nothing the customer says raises an alert."""
        spans = [s for s in self._spans[who] if s.end > self._sent_until[who]]
        if not spans:
            return
        if who is Speaker.CUSTOMER:
            settled = [s for s in spans if final or data_end - s.end >= self.options.piece_pause_s]
            if settled and (final or settled[-1].end - settled[0].start >= self.options.customer_batch_s):
                self._submit(who, settled)
            return
        piece: list[Span] = []
        for span in spans:
            if piece and self._piece_ends(piece, span.start - piece[-1].end):
                self._submit(who, piece)
                piece = []
            piece.append(span)
        settled = final or self._piece_ends(piece, data_end - piece[-1].end)
        if settled or piece[-1].end - piece[0].start >= self.options.max_piece_s:
            self._submit(who, piece if settled else piece[:-1] or piece)

    def _piece_ends(self, piece: list[Span], pause: float) -> bool:
        speech = sum(s.duration for s in piece)
        return pause >= self.options.piece_pause_s and (
            speech >= self.options.min_piece_s or pause >= self.analyzer.options.turns.max_pause_s)

    def _submit(self, who: Speaker, spans: list[Span]) -> None:
        start, end = max(spans[0].start, self._sent_until[who]), spans[-1].end
        if end - start < 0.1:
            return
        self._sent_until[who] = end
        pad = self.analyzer.options.asr.pad_s
        samples, origin = self._channels[who].between(start - pad, end + pad)
        clipped = tuple(Span(max(s.start, start), s.end) for s in spans if s.end > start)
        priority = 0 if who is Speaker.AGENT else 1  # the agent's words are what alerts are about
        self._jobs.put((priority, next(self._order), _Job(who, start, end, clipped, samples.copy(), origin)))

    def _recognise(self) -> None:
        """The worker thread: jobs waiting together are recognised together, one speaker per call,
        so a busy machine makes fewer, longer calls instead of falling behind."""
        stopping = False
        while not stopping:
            batch = [self._jobs.get()[2]]
            while True:
                try:
                    batch.append(self._jobs.get_nowait()[2])
                except queue.Empty:
                    break
            stopping = None in batch
            for who in self.speakers:
                jobs = [j for j in batch if j is not None and j.speaker is who]
                for group in _groups(jobs, self.options.max_joint_s):
                    try:
                        self._done.put(self._recognise_jobs(group))
                    except Exception:  # one bad piece must not end the session; the report redoes it all
                        log.exception("live recognition failed for %.1f–%.1f s", group[0].start, group[-1].end)

    def _recognise_jobs(self, jobs: list[_Job]) -> tuple[list[Utterance], np.ndarray | None]:
        who, origin = jobs[0].speaker, min(j.origin for j in jobs)
        end = max(j.origin + len(j.samples) / SAMPLE_RATE for j in jobs)
        samples = np.zeros(int(np.ceil((end - origin) * SAMPLE_RATE)), np.float32)
        for j in jobs:
            first = int(round((j.origin - origin) * SAMPLE_RATE))
            samples[first:first + len(j.samples)] = j.samples[:len(samples) - first]
        spans = [Span(s.start - origin, s.end - origin) for j in jobs for s in j.spans]
        per_span = iter(self.analyzer.recognizer.transcribe(samples, spans, Decoding.LIVE))
        words = [[replace(w, start=w.start + origin, end=w.end + origin)
                  for _ in j.spans for w in next(per_span)] for j in jobs]
        utterances = [u for u in metrics.build_utterances(who, [Span(j.start, j.end) for j in jobs], words)
                      if u.transcribed]
        f0 = None
        if who is Speaker.AGENT and utterances:
            track = track_f0(samples, SAMPLE_RATE, spans, self.analyzer.pitch_options)
            f0 = track.f0_hz[np.isfinite(track.f0_hz)]
        return utterances, f0

    def _collect(self) -> None:
        while True:
            try:
                utterances, f0 = self._done.get_nowait()
            except queue.Empty:
                return
            for utterance in utterances:
                self._took(utterance)
            if f0 is not None:
                self._update_pitch(utterances[-1].end, f0)

    def _took(self, utterance: Utterance) -> None:
        with self._lock:
            self._utterances.append(utterance)
        if utterance.speaker is not Speaker.AGENT:
            return
        self._agent_count += 1
        self._last_agent = (utterance, asks_to_hold(utterance, self.analyzer.matcher.lexicon))
        for hit in self.analyzer.matcher.match([utterance]):
            if hit.category == "forbidden" and hit.speaker is Speaker.AGENT:
                self._raise_phrase(hit)
        self._update_rate(utterance)
        self._check_greeting()

    def _raise_phrase(self, hit: PhraseHit) -> None:
        instead = f"，可以说「{hit.suggestion}」" if hit.suggestion else ""
        self._raise(EventType.PHRASE, hit.start, f"服务禁语「{hit.heard or hit.phrase}」{instead}",
                    {"category": hit.category, "phrase": hit.phrase, "heard": hit.heard or hit.phrase,
                     "severity": hit.severity, "suggestion": hit.suggestion, "confidence": hit.confidence})

    def _update_rate(self, utterance: Utterance) -> None:
        o = self.options
        customer = self._spans.get(Speaker.CUSTOMER, [])
        if not metrics.is_backchannel(utterance, customer, self.analyzer.options.interruption):
            self._agent_recent.append(utterance)
        while self._agent_recent and self._agent_recent[0].end < utterance.end - o.rate_window_s:
            self._agent_recent.popleft()
        # Pieces of one utterance (split at shorter pauses than a turn) are joined back, so the
        # pauses inside an utterance count as speaking time exactly as in the report.
        merged = metrics.group_turns([Span(u.start, u.end) for u in self._agent_recent], customer,
                                     self.analyzer.options.turns)
        speaking = sum(s.duration for s in merged)
        chars = sum(u.chars for u in self._agent_recent)
        if speaking < o.rate_min_speech_s:
            self._rate = (None, "no_speech")
            return
        cpm = round(chars / speaking * 60, 1)
        verdict = metrics.verdict(cpm, self.analyzer.options.rate)
        self._rate = (cpm, verdict.value)
        if verdict is not Verdict.OK and self._may_repeat(EventType.RATE):
            r = self.analyzer.options.rate
            advice = "放慢一点，句间稍作停顿" if cpm > r.target_max else "稍微加快，语句更连贯"
            self._raise(EventType.RATE, self._agent_recent[0].start,
                        f"最近语速 {cpm:.0f} 字/分（标准 {r.target_min:.0f}–{r.target_max:.0f}）：{advice}",
                        {"chars_per_min": cpm, "verdict": verdict.value})

    def _update_pitch(self, end: float, f0: np.ndarray) -> None:
        self._pitch_recent.append((end, f0))
        while self._pitch_recent and self._pitch_recent[0][0] < end - self.options.pitch_window_s:
            self._pitch_recent.popleft()
        voiced = np.concatenate([f for _, f in self._pitch_recent])
        hop = self.analyzer.pitch_options.hop_s
        stats = pitch_stats(F0Track(np.arange(voiced.size) * hop, voiced, hop), self.analyzer.pitch_options)
        self._pitch = (stats.semitone_std, stats.monotone)
        if stats.monotone and self._may_repeat(EventType.PITCH):
            self._raise(EventType.PITCH, self._pitch_recent[0][0],
                        f"语调平淡（最近音高变化 {stats.semitone_std:.1f} 半音）：重点词加重、句尾上扬，抑扬顿挫",
                        {"semitone_std": stats.semitone_std})

    def _check_greeting(self) -> None:
        lexicon = self.analyzer.matcher.lexicon
        opening = [i for i in lexicon.script if i.where is Where.FIRST]
        if self._greeting_checked or not opening or self._agent_count < max(i.count for i in opening):
            return
        self._greeting_checked = True
        with self._lock:
            heard = list(self._utterances)
        labels = {i.label for i in opening}
        for check in check_script(heard, lexicon):
            if check.item in labels and not check.ok:
                first = next((u.start for u in heard if u.speaker is Speaker.AGENT), 0.0)
                self._raise(EventType.SCRIPT, first, f"开场缺少：{check.item}" + (f"（{check.detail}）" if check.detail else ""),
                            {"item": check.item})

    # -- events -----------------------------------------------------------------------------

    def _may_repeat(self, kind: EventType) -> bool:
        last = self._last_raised.get(kind)
        return last is None or self.now() - last >= self.options.repeat_after_s

    def _raise(self, kind: EventType, at: float, message: str, data: dict) -> None:
        t = self.now()
        self._last_raised[kind] = t
        self._on_event(LiveEvent(t, kind, at, message, data))

    def state(self) -> LiveState:
        with self._lock:
            speaking = tuple(bool(spans) and spans[-1].end >= self.analysed_s - 0.1
                             for spans in (self._spans.get(Speaker.AGENT, []), self._spans.get(Speaker.CUSTOMER, [])))
            transcript = tuple(self._utterances)[-6:]
        last = self._last_speech_end
        quiet = 0.0 if any(speaking) or last is None else max(0.0, self.analysed_s - last)
        return LiveState(t=self.now(), speaking=speaking, silence_s=round(quiet, 1),
                         on_hold=quiet > 0 and self._reported(last) and self._announced_hold(),
                         rate_cpm=self._rate[0], rate_verdict=self._rate[1],
                         pitch_st=self._pitch[0], monotone=self._pitch[1], transcript=transcript,
                         behind_s=round(max(0.0, self.now() - self.analysed_s), 2))


def _groups(jobs: list[_Job], max_s: float) -> list[list[_Job]]:
    """Consecutive jobs packed into groups spanning at most `max_s` (one Whisper window)."""
    groups: list[list[_Job]] = []
    for job in sorted(jobs, key=lambda j: j.start):
        if groups and job.end - groups[-1][0].start <= max_s:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


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
                if duration_s is not None and session.analysed_s >= duration_s:
                    break
                if on_state and session.analysed_s - shown >= state_every_s:
                    shown = session.analysed_s
                    on_state(session.state())
    except KeyboardInterrupt:
        log.info("stopped at %.1f s", session.analysed_s)
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


class AlertBoard:
    """Which events are shown as alerts, and for how long: calm, never a stream of noise.

    An alert stays `show_s` and then clears itself; another of the same kind within
    `quiet_s` of one shown is recorded (events file, report) but not shown again.
    """

    QUIET_S = {EventType.SILENCE: 0.0, EventType.INTERRUPTION: 15.0, EventType.PHRASE: 5.0,
               EventType.RATE: 60.0, EventType.PITCH: 60.0, EventType.SCRIPT: 10.0}

    def __init__(self, show_s: float = 8.0):
        self.show_s = show_s
        self._shown: list[LiveEvent] = []
        self._last: dict[EventType, float] = {}

    def offer(self, event: LiveEvent) -> bool:
        last = self._last.get(event.type)
        if last is not None and event.t - last < self.QUIET_S[event.type]:
            return False
        self._last[event.type] = event.t
        self._shown.append(event)
        return True

    def active(self, now: float) -> list[LiveEvent]:
        self._shown = [e for e in self._shown if now - e.t < self.show_s]
        return list(self._shown)

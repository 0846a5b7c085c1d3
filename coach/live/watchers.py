"""Watchers: the live rules, one small class each, turning what the stream shows into events.

Two kinds of input: who spoke when (`Activity`, from the VAD, every tick) and the agent's
utterances (`heard`: from the VAD as soon as a piece of speech ends, with the audio's syllables;
again with text once the recogniser has it).  The rules themselves are `coach.metrics`,
`coach.phrases` and `coach.pitch`, called on the tail of the call as `coach analyze` calls them on
the whole of it; a watcher only adds what live needs: when to speak up, and not twice.

Silence, holds and interruptions need no text, so their alerts are on time whatever the
recogniser does; the rate counts the audio's syllables until the text is in.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Sequence

import numpy as np

from coach import metrics
from coach.config import InterruptionOptions, RateOptions, SilenceOptions, TurnOptions
from coach.lexicon import Lexicon, Where
from coach.live.events import EventType, LiveEvent
from coach.live.stream import Activity
from coach.phrases import PhraseMatcher, asks_to_hold, check_script
from coach.config import PitchOptions
from coach.pitch import F0Track, pitch_stats
from coach.results import PitchStats, RateStats, Span, Speaker, Utterance, Verdict


class _Repeats:
    """A kind of alert that is not raised again within `after_s` of the last."""

    def __init__(self, after_s: float):
        self.after_s = after_s
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.after_s:
            return False
        self._last = now
        return True


class SilenceWatcher:
    """冷场: nobody has spoken for `min_s` (`metrics.ongoing_silence`).  After the agent asked the
    customer to wait (请稍等 …, the script's before-hold step) it is a hold: said so, and a reminder
    every `hold_check_s` to go back to the line."""

    def __init__(self, options: SilenceOptions, lexicon: Lexicon, hold_check_s: float = 15.0,
                 hold_words_s: float = 3.0):
        self.options = options
        self.lexicon = lexicon
        self.hold_check_s = hold_check_s
        self.hold_words_s = hold_words_s  # the request ended at most this long before the silence
        self._last_agent: tuple[Utterance, bool] | None = None  # and whether it asked to hold
        self._reported: float | None = None
        self._reminders = 0

    def heard(self, utterance: Utterance) -> None:
        if utterance.speaker is not Speaker.AGENT or not utterance.transcribed:
            return
        if self._last_agent is None or utterance.start >= self._last_agent[0].start:
            self._last_agent = (utterance, asks_to_hold(utterance, self.lexicon))

    def update(self, activity: Activity, now: float) -> list[LiveEvent]:
        silence = metrics.ongoing_silence(dict(activity.spans), activity.until, self.options)
        if silence is None:
            return []
        events = []
        if not self._reported_at(silence.start):
            self._reported, self._reminders = silence.start, 0
            hold = self._holding(silence.start)
            who = silence.last_speaker
            message = ("保持中：客户在等待，请按时回到线路说明进度" if hold else
                       f"冷场已超过 {self.options.min_s:.0f} 秒：请主动开口，说明您正在处理的事情")
            events.append(LiveEvent(now, EventType.SILENCE, silence.start, message,
                                    {"duration_s": round(silence.duration, 2),
                                     "last_speaker": who.value if who else None, "hold": hold}))
        if self._holding(silence.start) and silence.duration >= (self._reminders + 1) * self.hold_check_s:
            self._reminders += 1
            events.append(LiveEvent(now, EventType.SCRIPT, silence.start,
                                    f"保持已 {silence.duration:.0f} 秒：请回到线路向客户致意（每 {self.hold_check_s:.0f} 秒一次）",
                                    {"item": "hold_check_in", "duration_s": round(silence.duration, 2)}))
        return events

    def on_hold(self, activity: Activity) -> bool:
        """The line is quiet after the agent asked the customer to wait, and it was reported."""
        quiet = activity.quiet_s()
        start = round(activity.until - quiet, 2)
        return quiet > 0 and self._reported_at(start) and self._holding(start)

    def _reported_at(self, start: float) -> bool:
        # The end of speech moves by a frame or two as the mask is re-judged: the same silence.
        return self._reported is not None and abs(start - self._reported) < 0.5

    def _holding(self, silence_start: float) -> bool:
        last = self._last_agent
        return last is not None and last[1] and last[0].end >= silence_start - self.hold_words_s


class InterruptionWatcher:
    """抢话: `metrics.interruptions` on the agent's recent turns (`metrics.group_turns`), raised
    as soon as the overlap reaches `min_overlap_s`, while both may still be talking.

    `syllables(turn)` counts the audio's syllables in an agent turn (the rule's "fewer than 4
    characters" before any text exists); it is only asked for a turn that passes the time rules.
    """

    def __init__(self, turns: TurnOptions, options: InterruptionOptions, syllables: Callable[[Span], int]):
        self.turns = turns
        self.options = options
        self._syllables = syllables
        self._raised: deque[float] = deque(maxlen=50)

    def update(self, activity: Activity, now: float) -> list[LiveEvent]:
        customer = activity.of(Speaker.CUSTOMER)
        if not customer:
            return []
        events = []
        for turn in metrics.group_turns(activity.of(Speaker.AGENT), customer, self.turns):
            # Onsets move by a frame or two as the mask is re-judged: the same interruption.
            if any(abs(turn.start - done) < self.turns.max_pause_s for done in self._raised):
                continue
            # The time rules first, the turn taken as long enough; its syllables only if it passes them.
            if not self._found(turn, customer, self.options.backchannel_max_chars):
                continue
            found = self._found(turn, customer, self._syllables(turn))
            if found:
                self._raised.append(turn.start)
                events.append(LiveEvent(now, EventType.INTERRUPTION, turn.start, "您打断了客户：请先让客户说完，再回应",
                                        {"overlap_s": found[0].overlap_s}))
        return events

    def _found(self, turn: Span, customer: Sequence[Span], syllables: int) -> list:
        utterance = Utterance(Speaker.AGENT, turn.start, turn.end, "", syllables=syllables)
        return metrics.interruptions([utterance], customer, (), self.options)


class RateWatcher:
    """The agent's rolling speaking rate: `metrics.speaking_rate` over their last `window_s` of talk
    (backchannels out, pieces joined back into turns as `coach analyze` has them), alerted when off
    the band at most once per `repeat_after_s`.  Until an utterance's text is in, its syllables
    count (`metrics.counted_chars`), so the figure does not wait for the recogniser."""

    def __init__(self, rate: RateOptions, turns: TurnOptions, interruption: InterruptionOptions,
                 window_s: float = 30.0, min_speech_s: float = 10.0, repeat_after_s: float = 60.0):
        self.rate, self.turns, self.interruption = rate, turns, interruption
        self.window_s, self.min_speech_s = window_s, min_speech_s
        self._repeats = _Repeats(repeat_after_s)
        self._recent: dict[float, tuple[Utterance, bool]] = {}  # by start: the utterance, whether talk
        self.current: RateStats | None = None  # None: too little speech to say

    def heard(self, utterance: Utterance, activity: Activity, now: float) -> list[LiveEvent]:
        """An agent utterance (again, with text, when the recogniser has it)."""
        if utterance.speaker is not Speaker.AGENT:
            return []
        customer = activity.of(Speaker.CUSTOMER)
        # Backchannels are listening, not speaking: they would skew the rate (嗯 in 0.3 s).
        self._recent[utterance.start] = (utterance, not metrics.is_backchannel(utterance, customer, self.interruption))
        newest = max(u.end for u, _ in self._recent.values())
        self._recent = {start: kept for start, kept in self._recent.items() if kept[0].end >= newest - self.window_s}
        talking = sorted((u for u, talk in self._recent.values() if talk), key=lambda u: u.start)
        stats = metrics.speaking_rate(_joined(talking, customer, self.turns), self.rate)
        self.current = stats if stats.speaking_s >= self.min_speech_s and stats.chars_per_min else None
        if self.current is None or stats.verdict is Verdict.OK or not self._repeats.allow(now):
            return []
        cpm = stats.chars_per_min
        advice = "放慢一点，句间稍作停顿" if cpm > self.rate.target_max else "稍微加快，语句更连贯"
        return [LiveEvent(now, EventType.RATE, talking[0].start,
                          f"最近语速 {cpm:.0f} 字/分（标准 {self.rate.target_min:.0f}–{self.rate.target_max:.0f}）：{advice}",
                          {"chars_per_min": cpm, "verdict": stats.verdict.value})]


def _joined(pieces: Sequence[Utterance], other: Sequence[Span], options: TurnOptions) -> list[Utterance]:
    """Pieces of the agent's speech (cut at shorter pauses than a turn's, for the recogniser) joined
    back into turns, so the pauses inside a turn count as speaking time exactly as in the report."""
    turns = metrics.group_turns([Span(u.start, u.end) for u in pieces], other, options)
    words: list[list] = [[] for _ in turns]
    syllables = [0] * len(turns)
    for piece in pieces:
        owner = next(i for i, t in enumerate(turns) if t.start <= piece.start < t.end or i == len(turns) - 1)
        words[owner].extend(piece.words)
        syllables[owner] += piece.syllables
    return metrics.build_utterances(Speaker.AGENT, turns, words, syllables)


class PitchWatcher:
    """语调平淡: `pitch.pitch_stats` over the voiced F0 of the agent's speech of the last `window_s`,
    alerted when monotone at most once per `repeat_after_s`."""

    def __init__(self, options: PitchOptions, window_s: float = 20.0, repeat_after_s: float = 60.0):
        self.options = options
        self.window_s = window_s
        self._repeats = _Repeats(repeat_after_s)
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (end, voiced F0) per piece
        self.current: PitchStats | None = None

    def heard(self, end: float, voiced_f0: np.ndarray, now: float) -> list[LiveEvent]:
        """The voiced F0 (Hz) of a piece of agent speech that ended at `end`."""
        self._recent.append((end, voiced_f0))
        while self._recent[0][0] < end - self.window_s:
            self._recent.popleft()
        voiced = np.concatenate([f for _, f in self._recent])
        hop = self.options.hop_s
        stats = pitch_stats(F0Track(np.arange(voiced.size) * hop, voiced, hop), self.options)
        self.current = stats if stats.semitone_std is not None else self.current
        if not stats.monotone or not self._repeats.allow(now):
            return []
        return [LiveEvent(now, EventType.PITCH, self._recent[0][0],
                          f"语调平淡（最近音高变化 {stats.semitone_std:.1f} 半音）：重点词加重、句尾上扬，抑扬顿挫",
                          {"semitone_std": stats.semitone_std})]


class GreetingWatcher:
    """开场问候: once the agent has said as many utterances as the script's opening steps look at,
    `phrases.check_script` on them; a missing step is raised once, pointing at the agent's first words."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self._opening = [i for i in lexicon.script if i.where is Where.FIRST]
        self._needed = max((i.count for i in self._opening), default=0)
        self._heard: list[Utterance] = []
        self._done = not self._opening

    def heard(self, utterance: Utterance, now: float) -> list[LiveEvent]:
        """An agent utterance with its text."""
        if self._done or utterance.speaker is not Speaker.AGENT or not utterance.transcribed:
            return []
        self._heard = sorted([*self._heard, utterance], key=lambda u: u.start)
        if len(self._heard) < self._needed:
            return []
        self._done = True
        labels = {i.label for i in self._opening}
        first = self._heard[0].start
        return [LiveEvent(now, EventType.SCRIPT, first, f"开场缺少：{c.item}" + (f"（{c.detail}）" if c.detail else ""),
                          {"item": c.item})
                for c in check_script(self._heard, self.lexicon) if c.item in labels and not c.ok]


class PhraseWatcher:
    """服务禁语: the phrase matcher on each agent utterance as its text comes in, with what to say
    instead.  `utterance_end` says when the words were over, so a view can tell a late alert."""

    def __init__(self, matcher: PhraseMatcher):
        self.matcher = matcher

    def heard(self, utterance: Utterance, now: float) -> list[LiveEvent]:
        if utterance.speaker is not Speaker.AGENT or not utterance.transcribed:
            return []
        events = []
        for hit in self.matcher.match([utterance]):
            if hit.category != "forbidden" or hit.speaker is not Speaker.AGENT:
                continue
            instead = f"，可以说「{hit.suggestion}」" if hit.suggestion else ""
            events.append(LiveEvent(now, EventType.PHRASE, hit.start, f"服务禁语「{hit.heard or hit.phrase}」{instead}",
                                    {"category": hit.category, "phrase": hit.phrase, "heard": hit.heard or hit.phrase,
                                     "severity": hit.severity, "suggestion": hit.suggestion,
                                     "confidence": hit.confidence, "utterance_end": round(utterance.end, 2)}))
        return events

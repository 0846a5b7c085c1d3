"""The live rules on synthetic spans and utterances with known answers (no model): the watchers,
the stream buffer, the pieces cut for the recogniser, and the recogniser worker's order of work
and its bounds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from coach import metrics
from coach.config import InterruptionOptions, RateOptions, SilenceOptions, TurnOptions, VadOptions
from coach.lexicon import load_lexicon
from coach.live.events import EventType
from coach.live.recognition import Cutter, Piece, RecognitionWorker
from coach.live.stream import Activity, StreamBuffer
from coach.live.watchers import (
    GreetingWatcher, InterruptionWatcher, PhraseWatcher, PitchWatcher, RateWatcher, SilenceWatcher,
)
from coach.phrases import PhraseMatcher
from coach.config import PitchOptions
from coach.results import Silence, Span, Speaker, Utterance, Word
from coach.vad import FRAME

A, C = Speaker.AGENT, Speaker.CUSTOMER


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def said(speaker: Speaker, start: float, end: float, text: str, syllables: int | None = None) -> Utterance:
    """An utterance with one word per character spread over its span, as the recogniser gives them."""
    step = (end - start) / max(1, len(text))
    words = [[Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), ch) for i, ch in enumerate(text)]]
    count = syllables if syllables is not None else len(text)
    return metrics.build_utterances(speaker, [Span(start, end)], words, [count])[0]


SENTENCE = "您好请问有什么可以帮您的吗我们这边马上为您查询一下本月的账单情况"


def heard_only(start: float, end: float, syllables: int) -> Utterance:
    """A piece of agent speech before the recogniser has its words: the audio's syllables only."""
    return metrics.build_utterances(A, [Span(start, end)], [[]], [syllables])[0]


def activity(until: float, agent=(), customer=()) -> Activity:
    return Activity({A: tuple(Span(*s) for s in agent), C: tuple(Span(*s) for s in customer)}, until)


# --- silence and holds ------------------------------------------------------------------------------

def test_an_ongoing_silence_is_found_once_it_passes_the_limit():
    spans = {A: [Span(0, 3)], C: [Span(4, 6)]}
    assert metrics.ongoing_silence(spans, 10.9, SilenceOptions()) is None  # 4.9 s
    assert metrics.ongoing_silence(spans, 11.2, SilenceOptions()) == Silence(6.0, 11.2, C)
    assert metrics.ongoing_silence({A: [], C: []}, 30.0, SilenceOptions()) is None  # nobody has spoken yet
    # a closed gap earlier in the window is not the one going on now
    assert metrics.ongoing_silence({A: [Span(0, 1), Span(8, 12)], C: []}, 13.0, SilenceOptions()) is None


def test_a_silence_is_raised_once_when_it_reaches_five_seconds(lexicon):
    watcher = SilenceWatcher(SilenceOptions(), lexicon)
    assert watcher.update(activity(10.9, [(0, 3)], [(4, 6)]), now=10.9) == []
    (event,) = watcher.update(activity(11.1, [(0, 3)], [(4, 6)]), now=11.2)
    assert (event.t, event.type, event.at) == (11.2, EventType.SILENCE, 6.0)
    assert event.data == {"duration_s": 5.1, "last_speaker": "customer", "hold": False}
    assert "冷场已超过 5 秒" in event.message
    # the same silence, its start re-judged a frame later: not again
    assert watcher.update(activity(12.0, [(0, 3)], [(4, 6.03)]), now=12.0) == []
    # speech, then a new silence: raised again
    assert watcher.update(activity(14.0, [(0, 3), (12.5, 14.0)], [(4, 6)]), now=14.0) == []
    (again,) = watcher.update(activity(19.2, [(0, 3), (12.5, 14.0)], [(4, 6)]), now=19.2)
    assert again.at == 14.0 and again.data["last_speaker"] == "agent"


def test_a_hold_is_said_as_a_hold_with_reminders_at_the_configured_interval(lexicon):
    watcher = SilenceWatcher(SilenceOptions(), lexicon, hold_check_s=10.0)
    watcher.heard(said(A, 2.0, 6.0, "好的请您稍等我帮您查一下"))
    spans = ([(2, 6)], [(0, 1.5)])
    (silence,) = watcher.update(activity(11.2, *spans), now=11.2)
    assert silence.data["hold"] and silence.message.startswith("保持中")
    assert watcher.on_hold(activity(11.2, *spans))
    assert watcher.update(activity(15.9, *spans), now=15.9) == []
    (first,) = watcher.update(activity(16.1, *spans), now=16.1)  # 10.1 s into the hold
    assert first.type is EventType.SCRIPT and first.data["item"] == "hold_check_in"
    assert "每 10 秒一次" in first.message and "15" not in first.message
    assert watcher.update(activity(20.0, *spans), now=20.0) == []
    (second,) = watcher.update(activity(26.1, *spans), now=26.1)
    assert second.data["duration_s"] == pytest.approx(20.1)


def test_a_silence_after_other_words_is_no_hold(lexicon):
    watcher = SilenceWatcher(SilenceOptions(), lexicon)
    watcher.heard(said(A, 2.0, 6.0, "您的话费已经退回了"))
    (silence,) = watcher.update(activity(11.2, [(2, 6)]), now=11.2)
    assert not silence.data["hold"]
    assert watcher.update(activity(40.0, [(2, 6)]), now=40.0) == []  # no reminders either


# --- interruptions ---------------------------------------------------------------------------------

class Syllables:
    """The audio's syllables of an agent turn, counted: which turns were asked about."""

    def __init__(self, per_second: float):
        self.per_second = per_second
        self.asked: list[Span] = []

    def __call__(self, turn: Span) -> int:
        self.asked.append(turn)
        return int(turn.duration * self.per_second)


def test_cutting_in_is_raised_when_the_overlap_reaches_a_second_while_both_talk():
    count = Syllables(per_second=5)
    watcher = InterruptionWatcher(TurnOptions(), InterruptionOptions(), count)
    customer = [(0.0, 3.9)]
    assert watcher.update(activity(3.9, [(3.0, 3.9)], customer), now=3.9) == []  # 0.9 s of overlap
    (event,) = watcher.update(activity(4.1, [(3.0, 4.1)], [(0.0, 4.1)]), now=4.2)
    assert (event.t, event.type, event.at) == (4.2, EventType.INTERRUPTION, 3.0)
    assert event.data["overlap_s"] == pytest.approx(1.1)
    # still talking over them: the same interruption, raised once
    assert watcher.update(activity(5.0, [(3.03, 5.0)], [(0.0, 5.0)]), now=5.0) == []


def test_listening_noises_and_answers_are_no_interruption():
    count = Syllables(per_second=2)  # 嗯…对…好 over 1.5 s: three syllables
    watcher = InterruptionWatcher(TurnOptions(), InterruptionOptions(), count)
    assert watcher.update(activity(5.0, [(3.0, 4.5)], [(0.0, 5.0)]), now=5.0) == []
    assert count.asked == [Span(3.0, 4.5)]  # passed the time rules, then too short to take the turn
    count.asked.clear()
    # the agent starts after the customer stopped: never asked about syllables at all
    assert watcher.update(activity(9.0, [(6.0, 9.0)], [(0.0, 5.0)]), now=9.0) == []
    assert count.asked == []


def test_a_headset_alone_has_no_interruptions():
    watcher = InterruptionWatcher(TurnOptions(), InterruptionOptions(), Syllables(5))
    assert watcher.update(Activity({A: (Span(0, 9),)}, 9.0), now=9.0) == []


# --- speaking rate ---------------------------------------------------------------------------------

def rate_watcher(**options) -> RateWatcher:
    return RateWatcher(RateOptions(), TurnOptions(), InterruptionOptions(), **options)


def test_the_rate_counts_syllables_until_the_words_are_in_and_then_the_words():
    watcher = rate_watcher()
    quiet = activity(12.0)
    assert watcher.heard(heard_only(0.0, 6.0, 18), quiet, now=7.0) == []
    assert watcher.current is None  # 6 s of speech: too little to say
    (alert,) = watcher.heard(heard_only(6.8, 12.0, 20), quiet, now=13.0)
    # one turn (the 0.8 s pause is inside it): 38 syllables over 12 s = 190 字/分
    assert watcher.current.chars_per_min == pytest.approx(190.0)
    assert alert.type is EventType.RATE and alert.data == {"chars_per_min": 190.0, "verdict": "too_fast"}
    assert "放慢" in alert.message and alert.at == 0.0
    # the recogniser's words replace the syllables (within the counter's spread): 34 characters
    assert watcher.heard(said(A, 6.8, 12.0, SENTENCE[:18], syllables=20), quiet, now=14.0) == []
    assert watcher.heard(said(A, 0.0, 6.0, SENTENCE[16:], syllables=18), quiet, now=14.5) == []
    assert watcher.current.chars_per_min == pytest.approx(170.0)


def test_the_rate_looks_at_the_last_thirty_seconds_of_talk_without_backchannels():
    watcher = rate_watcher(repeat_after_s=1000)
    for start in (0.0, 12.0, 24.0):
        watcher.heard(heard_only(start, start + 10.0, 30), activity(start + 11), now=start + 11)
    assert watcher.current.chars_per_min == pytest.approx(180.0)
    # a slow stretch now: the first has left the window
    watcher.heard(heard_only(36.0, 46.0, 15), activity(47.0), now=47.0)
    assert watcher.current.chars_per_min == pytest.approx(150.0)
    # 嗯 while the customer talks is listening, not speaking
    watcher.heard(heard_only(48.0, 48.4, 1), activity(50.0, customer=[(47.0, 50.0)]), now=50.0)
    assert watcher.current.chars_per_min == pytest.approx(150.0)


def test_a_rate_alert_is_not_repeated_within_a_minute():
    watcher = rate_watcher()
    quiet = activity(100.0)
    assert len(watcher.heard(heard_only(0.0, 12.0, 40), quiet, now=13.0)) == 1
    assert watcher.heard(heard_only(13.0, 25.0, 40), quiet, now=26.0) == []
    assert len(watcher.heard(heard_only(60.0, 72.0, 40), quiet, now=73.5)) == 1


# --- pitch -----------------------------------------------------------------------------------------

def test_a_flat_voice_is_flagged_and_a_lively_one_is_not():
    rng = np.random.default_rng(0)
    flat = PitchWatcher(PitchOptions())
    (alert,) = flat.heard(5.0, 200.0 * 2 ** (rng.normal(0, 0.5, 300) / 12), now=5.8)
    assert alert.type is EventType.PITCH and alert.data["semitone_std"] < 1.0 and "平淡" in alert.message
    lively = PitchWatcher(PitchOptions())
    assert lively.heard(5.0, 200.0 * 2 ** (rng.normal(0, 4.0, 300) / 12), now=5.8) == []
    assert lively.current.semitone_std > 3.0 and not lively.current.monotone


def test_pitch_looks_at_the_last_twenty_seconds_only():
    rng = np.random.default_rng(1)
    watcher = PitchWatcher(PitchOptions(), repeat_after_s=1000)
    watcher.heard(5.0, 200.0 * 2 ** (rng.normal(0, 0.3, 300) / 12), now=6.0)
    assert watcher.current.monotone
    watcher.heard(30.0, 200.0 * 2 ** (rng.normal(0, 4.0, 300) / 12), now=31.0)
    assert not watcher.current.monotone  # the flat stretch has left the window


# --- greeting and phrases --------------------------------------------------------------------------

def test_a_missing_greeting_is_raised_once_the_opening_utterances_are_in(lexicon):
    watcher = GreetingWatcher(lexicon)
    assert watcher.heard(said(A, 1.0, 2.0, "喂"), now=3.0) == []
    (missing,) = watcher.heard(said(A, 4.0, 7.0, "你说吧什么事"), now=8.0)
    assert missing.type is EventType.SCRIPT and missing.data["item"] == "开场问候并报工号"
    assert missing.at == 1.0 and missing.message.startswith("开场缺少")
    assert watcher.heard(said(A, 9.0, 10.0, "嗯"), now=11.0) == []  # checked once


def test_a_proper_greeting_raises_nothing(lexicon):
    watcher = GreetingWatcher(lexicon)
    assert watcher.heard(said(A, 0.5, 4.0, "您好工号一零二三很高兴为您服务"), now=5.0) == []
    assert watcher.heard(said(A, 6.0, 8.0, "请问有什么可以帮您"), now=9.0) == []


def test_a_forbidden_phrase_is_raised_with_what_to_say_instead(lexicon):
    watcher = PhraseWatcher(PhraseMatcher(lexicon))
    (event,) = watcher.heard(said(A, 10.0, 13.0, "这个我也不清楚"), now=15.0)
    assert event.type is EventType.PHRASE and event.data["phrase"] == "不清楚"
    assert event.data["suggestion"] and "可以说" in event.message
    assert 11.0 <= event.at < 13.0 and event.data["utterance_end"] == 13.0
    assert watcher.heard(said(C, 20.0, 22.0, "我不清楚"), now=23.0) == []  # the customer may say it


# --- the stream buffer -------------------------------------------------------------------------------

def loud_frames(samples: np.ndarray) -> np.ndarray:
    """A stand-in for silero: speech wherever a 32 ms frame is loud."""
    frames = np.pad(samples, (0, -len(samples) % FRAME)).reshape(-1, FRAME)
    return (np.sqrt((frames ** 2).mean(axis=1)) > 0.05).astype(np.float32)


def test_the_stream_buffer_keeps_who_spoke_last_after_it_leaves_the_window():
    rng = np.random.default_rng(0)
    audio = (0.002 * rng.standard_normal(16000 * 8)).astype(np.float32)  # line noise
    audio[16000:32000] += 0.3 * rng.standard_normal(16000).astype(np.float32)  # speech from 1 to 2 s
    buffer = StreamBuffer((A,), loud_frames, VadOptions(), window_s=3.0)
    for block in np.split(audio, 80):  # 100 ms blocks, judged as they come
        buffer.append(block[:, None])
        now = buffer.judge()
    assert buffer.received_s == pytest.approx(8.0) and now.until == pytest.approx(8.0, abs=0.04)
    (last,) = now.of(A)  # the window holds 5–8 s; the span from before it is still known
    assert last.start == pytest.approx(1.0, abs=0.07) and last.end == pytest.approx(2.0, abs=0.07)
    assert now.quiet_s() == pytest.approx(6.0, abs=0.1) and not now.speaking(A)
    samples, origin = buffer.audio(A, 1.0, 2.0)
    assert origin == 1.0 and np.array_equal(samples, audio[16000:32000])


# --- pieces for the recogniser -----------------------------------------------------------------------

def agent_cutter() -> Cutter:
    return Cutter(A, pause_s=0.8, min_speech_s=1.5, max_s=12.0, turn_pause_s=1.0, batch_s=20.0)


def test_agent_speech_is_sent_at_a_pause_once():
    cutter = agent_cutter()
    spans = [Span(0.0, 2.0), Span(2.3, 4.0)]
    assert cutter.cut(spans, until=4.5) == []  # a 0.5 s pause so far
    assert cutter.cut(spans, until=4.85) == [(Span(0.0, 2.0), Span(2.3, 4.0))]
    assert cutter.cut(spans, until=5.5) == []  # sent already
    assert cutter.cut(spans + [Span(6.0, 8.0)], until=9.0) == [(Span(6.0, 8.0),)]


def test_a_short_piece_waits_for_more_unless_the_turn_ended():
    cutter = agent_cutter()
    assert cutter.cut([Span(0.0, 0.6)], until=1.5) == []  # 0.9 s pause, 0.6 s of speech: the turn goes on
    assert cutter.cut([Span(0.0, 0.6), Span(1.5, 3.0)], until=3.9) == [(Span(0.0, 0.6), Span(1.5, 3.0))]
    assert cutter.cut([Span(5.0, 5.6)], until=6.7) == [(Span(5.0, 5.6),)]  # 1.1 s: the turn ended


def test_long_speech_is_sent_without_waiting_for_a_pause():
    cutter = agent_cutter()
    spans = [Span(0.0, 5.0), Span(5.3, 10.0), Span(10.3, 12.5)]
    assert cutter.cut(spans, until=12.5) == [(Span(0.0, 5.0), Span(5.3, 10.0))]
    assert cutter.cut(spans, until=13.4) == [(Span(10.3, 12.5),)]


def test_the_customer_goes_in_batches():
    cutter = Cutter(C, pause_s=0.8, min_speech_s=1.5, max_s=12.0, turn_pause_s=1.0, batch_s=20.0)
    spans = [Span(0.0, 8.0), Span(10.0, 18.0)]
    assert cutter.cut(spans, until=19.0) == []  # 18 s: not a batch yet
    spans.append(Span(19.5, 22.0))
    assert cutter.cut(spans, until=23.0) == [tuple(spans)]
    assert cutter.cut([Span(30.0, 32.0)], until=33.0, final=True) == [(Span(30.0, 32.0),)]


# --- the recogniser worker -----------------------------------------------------------------------------

class Recogniser:
    """Returns one word per span, and can be held so that work piles up behind a call."""

    def __init__(self):
        self.calls: list[list[Span]] = []
        self.go = threading.Event()
        self.go.set()
        self.started = threading.Semaphore(0)

    def transcribe(self, samples, spans, decoding):
        self.started.release()
        self.go.wait(5)
        self.calls.append(list(spans))
        return [[Word(s.start, s.end, "好")] for s in spans]


def piece(who: Speaker, start: float, end: float) -> Piece:
    return Piece(who, (Span(start, end),), (Span(start, end),), (int(end - start) * 4,),
                 np.zeros(int((end - start) * 16000) + 1600, np.float32), start)


def test_agent_pieces_come_first_newest_first_and_the_customer_waits_for_a_quiet_agent():
    fake = Recogniser()
    worker = RecognitionWorker(fake, agent_joint_s=5.0)
    fake.go.clear()
    worker.submit(piece(A, 0.0, 3.0))  # in flight, held
    assert fake.started.acquire(timeout=5)
    worker.agent_quiet(False)
    worker.submit(piece(C, 3.5, 8.0))
    for start in (10.0, 14.0, 18.0):
        worker.submit(piece(A, start, start + 3.0))
    assert worker.lag(now=22.0) == pytest.approx(19.0)  # the oldest agent speech waiting ended at 3.0
    fake.go.set()
    for _ in range(2):
        assert fake.started.acquire(timeout=5)
    worker.agent_quiet(True)  # the customer could go now, but agent pieces come first
    results = worker.close()
    # one call each (5 s of speech a call), the customer's left at close: the report has it
    assert [r.piece.start for r in results] == [0.0, 18.0, 14.0, 10.0] and len(fake.calls) == 4
    assert all(r.utterances[0].text == "好" for r in results)
    assert worker.lag(now=30.0) == 0.0


def test_the_customer_is_recognised_while_the_agent_is_quiet():
    fake = Recogniser()
    worker = RecognitionWorker(fake)
    worker.agent_quiet(False)
    worker.submit(piece(C, 0.0, 8.0))
    assert not fake.started.acquire(timeout=0.3)
    worker.agent_quiet(True)
    assert fake.started.acquire(timeout=5)
    worker.close()
    assert len(fake.calls) == 1


def test_waiting_work_is_bounded():
    fake = Recogniser()
    fake.go.clear()
    worker = RecognitionWorker(fake, agent_keep_s=10.0, customer_keep_s=10.0)
    worker.submit(piece(A, 0.0, 3.0))
    assert fake.started.acquire(timeout=5)
    for start in range(10, 40, 4):  # eight pieces of 3 s while the recogniser is busy
        worker.submit(piece(A, float(start), start + 3.0))
    assert worker.dropped_s[A] == pytest.approx(15.0)  # what ended 10 s before the newest piece is dropped
    fake.go.set()
    results = worker.close()
    assert sorted(r.piece.start for r in results) == [0.0, 30.0, 34.0, 38.0]

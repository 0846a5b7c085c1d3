"""The analysis pipeline, wired as docs/design.md reads:

load → who speaks on which channel → voice activity (crosstalk-aware) → syllables → turns →
recognition (every turn; the short ones again) → utterances and metrics → pitch → phrases and
script → scorecard.  Writers live in `coach.writers`.

Timing comes from the voice activity, text from the recogniser.  `analyze` is called per
recording with the `Models` built once per process; batch and live reuse the same stages.
"""

from __future__ import annotations

import enum
import functools
import logging
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from coach import metrics, scoring, syllables
from coach.asr import transcribe_turns
from coach.audio import SAMPLE_RATE, Audio, load_audio
from coach.models import Models
from coach.phrases import check_script, mark_holds
from coach.pitch import contour, pitch_stats, track_f0
from coach.results import Layout, Party, Report, Source, Span, Speaker, UtterancePitch
from coach.vad import mask_to_spans

log = logging.getLogger(__name__)


class Channel(str, enum.Enum):
    LEFT = "left"
    RIGHT = "right"


class Stage(str, enum.Enum):
    LOAD = "load"
    VAD = "vad"
    ASR_AGENT = "asr_agent"
    ASR_CUSTOMER = "asr_customer"
    METRICS = "metrics"
    PITCH = "pitch"
    PHRASES = "phrases"


Progress = Callable[[Stage], None]
# Two channels this alike are one signal saved twice (a mono call exported as stereo).
_DUAL_MONO_CORRELATION = 0.98


def analyze(models: Models, path: str | Path, agent_channel: Channel = Channel.LEFT,
            progress: Progress | None = None) -> Report:
    """Everything coach measures in the recording at `path` (a `CoachError` when it cannot be read)."""
    o = models.options
    timings: dict[str, float] = {}
    notes: list[str] = []

    @contextmanager
    def stage(name: Stage) -> Iterator[None]:
        if progress:
            progress(name)
        began = time.perf_counter()
        yield
        timings[name.value] = timings.get(name.value, 0.0) + time.perf_counter() - began

    with stage(Stage.LOAD):
        audio = load_audio(path, o.audio)
        voices, parties = channel_roles(audio, agent_channel, notes)
    if audio.truncated:
        notes.append("文件不完整（被截断）：只分析了可解码的部分。")
    if audio.invalid_samples:
        notes.append(f"录音里有 {audio.invalid_samples} 个无效采样点（NaN/无穷大），已按静音处理。")

    with stage(Stage.VAD):
        masks = models.detector.activity(tuple(voices.values()))
        activity = {who: mask_to_spans(mask, audio.duration_s) for who, mask in zip(voices, masks)}
        nuclei = {who: syllables.nuclei(voices[who], SAMPLE_RATE, activity[who], o.syllables) for who in voices}
        syllables_in = {who: functools.partial(syllables.count_in, nuclei[who], scale=o.syllables.scale)
                        for who in voices}
        turns = {who: metrics.group_turns(activity[who], activity.get(other(who), []), o.turns) for who in voices}

    words = {}
    for who, samples in voices.items():
        with stage(Stage.ASR_AGENT if who is Speaker.AGENT else Stage.ASR_CUSTOMER):
            words[who] = transcribe_turns(models.recognizer, samples, turns[who], activity[who], syllables_in[who],
                                          o.asr)

    with stage(Stage.METRICS):
        utterances = {who: metrics.build_utterances(who, turns[who], words[who], [syllables_in[who](t) for t in turns[who]])
                      for who in voices}
        agent, customer = utterances[Speaker.AGENT], utterances.get(Speaker.CUSTOMER, [])
        everyone = sorted(agent + customer, key=lambda u: u.start)
        agent_activity, customer_activity = activity[Speaker.AGENT], activity.get(Speaker.CUSTOMER, [])
        # Backchannels are listening, not speaking: they would skew the rate (嗯 in 0.3 s).
        agent_talk = metrics.without_backchannels(agent, customer_activity, o.interruption)
        customer_talk = (metrics.without_backchannels(customer, agent_activity, o.interruption)
                         if Speaker.CUSTOMER in voices else None)
        rate = metrics.speaking_rate(agent_talk, o.rate)
        customer_rate = metrics.speaking_rate(customer_talk, o.rate) if customer_talk is not None else None
        silences = metrics.silences(activity, o.silence)
        interruptions = (metrics.interruptions(agent, customer_activity, customer, o.interruption)
                         if Speaker.CUSTOMER in voices else [])
        untranscribed = [u for u in everyone if not u.transcribed]
        if untranscribed:
            notes.append("有语音未能识别成文字（已计入说话时间）：" + "、".join(
                f"{'坐席' if u.speaker is Speaker.AGENT else '客户'} {_clock(u.start)}–{_clock(u.end)}"
                for u in untranscribed))

    with stage(Stage.PITCH):
        track = track_f0(voices[Speaker.AGENT], SAMPLE_RATE, agent_activity, o.pitch)
        pitch = pitch_stats(track, o.pitch)
        per_utterance = tuple(UtterancePitch(u.start, u.end, pitch_stats(track, o.pitch, within=Span(u.start, u.end)))
                              for u in agent)

    with stage(Stage.PHRASES):
        phrases = models.matcher.match(everyone)
        silences = mark_holds(silences, everyone, models.matcher.lexicon)
        script = check_script(everyone, models.matcher.lexicon, silences=silences) if agent else []

    if not agent:
        notes.append("未检测到坐席语音：录音是静音或只有噪声。")
    measurable = metrics.measurability(parties, agent, rate, pitch)
    notes += [m.reason for m in measurable if not m.measurable and m.reason not in notes]
    report = Report(
        source=str(path), duration_s=round(audio.duration_s, 2), layout=_layout(parties), speakers=parties,
        utterances=tuple(everyone), rate=rate, utterance_rates=tuple(metrics.utterance_rates(agent, o.rate)),
        silences=tuple(silences), interruptions=tuple(interruptions), pitch=pitch, utterance_pitch=per_utterance,
        phrases=tuple(phrases), script=tuple(script), notes=tuple(notes),
        timings=tuple((k, round(v, 3)) for k, v in timings.items()), pitch_contour=contour(track),
        measurable=measurable, customer_rate=customer_rate,
        qa=metrics.qa_figures(agent_talk, customer_talk, silences, rate, customer_rate),
    )
    return replace(report, score=scoring.score(report, models.scorecard))


def other(who: Speaker) -> Speaker:
    return Speaker.CUSTOMER if who is Speaker.AGENT else Speaker.AGENT


def channel_roles(audio: Audio, agent_channel: Channel,
                  notes: list[str]) -> tuple[dict[Speaker, np.ndarray], tuple[Party, ...]]:
    """Which channel is whose: stereo is one party per channel, mono is the agent alone."""
    if audio.layout is Layout.MONO:
        return {Speaker.AGENT: audio.channels[0]}, (Party(Speaker.AGENT, Source.MONO),)
    left, right = audio.channels
    if _same_signal(left, right):
        log.warning("%s: both channels carry the same signal; analysing it as mono (agent only)", audio.source)
        notes.append("两个声道内容相同：按单声道（只有坐席）分析。")
        return {Speaker.AGENT: left}, (Party(Speaker.AGENT, Source.MONO),)
    agent, customer = (left, right) if agent_channel is Channel.LEFT else (right, left)
    sources = (Source.LEFT, Source.RIGHT) if agent_channel is Channel.LEFT else (Source.RIGHT, Source.LEFT)
    return ({Speaker.AGENT: agent, Speaker.CUSTOMER: customer},
            (Party(Speaker.AGENT, sources[0]), Party(Speaker.CUSTOMER, sources[1])))


def _layout(parties: tuple[Party, ...]) -> Layout:
    if any(p.source is Source.SEPARATED for p in parties):
        return Layout.MIXED
    return Layout.STEREO if len(parties) == 2 else Layout.MONO


def _same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    if not (a.any() and b.any()):
        return False
    return float(np.corrcoef(a, b)[0, 1]) > _DUAL_MONO_CORRELATION


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"

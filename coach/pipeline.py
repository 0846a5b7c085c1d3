"""The analysis pipeline, wired as docs/design.md reads:

load → who speaks on which channel → voice activity (crosstalk-aware) → on one channel, one
voice or two (`coach.diarize`) → syllables → turns → recognition (every turn; the short ones
again) → on a mixed call, which voice is the agent (`coach.roles`) → utterances and metrics →
pitch → phrases and script → scorecard.  Writers live in `coach.writers`.

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

from coach import metrics, roles, scoring, syllables
from coach.asr import transcribe_turns
from coach.audio import SAMPLE_RATE, Audio, load_audio
from coach.diarize import Voices
from coach.errors import AudioError
from coach.models import Models
from coach.phrases import check_script, mark_holds
from coach.pitch import contour, pitch_stats, track_f0
from coach.results import (
    Layout, Measurability, Metric, Party, Report, Separation, Source, Span, Speaker, UtterancePitch,
)
from coach.vad import mask_to_spans

log = logging.getLogger(__name__)


class Channel(str, enum.Enum):
    LEFT = "left"
    RIGHT = "right"


class LayoutChoice(str, enum.Enum):
    """What the user says a recording is (`--layout`); AUTO lets coach decide."""

    AUTO = "auto"  # stereo: one party per channel; mono: one voice (the agent) or two (mixed), by voice
    STEREO = "stereo"  # one party per channel, even when both channels carry the same signal
    MIXED = "mixed"  # both parties on one channel (a stereo file is mixed down first)
    AGENT_ONLY = "agent-only"  # the agent alone (a stereo file: the agent's channel)


class Stage(str, enum.Enum):
    LOAD = "load"
    VAD = "vad"
    SEPARATE = "separate"
    ASR_AGENT = "asr_agent"
    ASR_CUSTOMER = "asr_customer"
    METRICS = "metrics"
    PITCH = "pitch"
    PHRASES = "phrases"


Progress = Callable[[Stage], None]
# Two channels this alike are one signal saved twice (a mono call exported as stereo).
_DUAL_MONO_CORRELATION = 0.98


def analyze(models: Models, path: str | Path, agent_channel: Channel = Channel.LEFT,
            progress: Progress | None = None, layout: LayoutChoice = LayoutChoice.AUTO,
            known_voice: np.ndarray | None = None, enrol: bool = False) -> Report:
    """Everything coach measures in the recording at `path` (a `CoachError` when it cannot be read).

    `known_voice`: the agent's enrolled voice print, a cue for picking the agent on a mixed call;
    `enrol`: also take the agent's voice print where the agent's voice is known for sure (a
    stereo call, a confident mixed one) into `Report.agent_voiceprint`.
    """
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
        voices, parties = channel_roles(audio, agent_channel, notes, layout)
    if audio.truncated:
        notes.append("文件不完整（被截断）：只分析了可解码的部分。")
    if audio.invalid_samples:
        notes.append(f"录音里有 {audio.invalid_samples} 个无效采样点（NaN/无穷大），已按静音处理。")

    with stage(Stage.VAD):
        masks = models.detector.activity(tuple(voices.values()))
        activity = {who: mask_to_spans(mask, audio.duration_s) for who, mask in zip(voices, masks)}

    found: Voices | None = None
    if parties == (Party(Speaker.AGENT, Source.MONO),) and layout is not LayoutChoice.AGENT_ONLY:
        with stage(Stage.SEPARATE):
            found = models.separator.separate(voices[Speaker.AGENT], activity[Speaker.AGENT], o.separation,
                                              voices=2 if layout is LayoutChoice.MIXED else None)
        if found.count == 2:
            samples = voices[Speaker.AGENT]
            voices = {Speaker.AGENT: samples, Speaker.CUSTOMER: samples}
            activity = {Speaker.AGENT: list(found.spans[0]), Speaker.CUSTOMER: list(found.spans[1])}
            parties = (Party(Speaker.AGENT, Source.SEPARATED), Party(Speaker.CUSTOMER, Source.SEPARATED))

    with stage(Stage.VAD):
        nuclei = {who: syllables.nuclei(voices[who], SAMPLE_RATE, activity[who], o.syllables) for who in voices}
        syllables_in = {who: functools.partial(syllables.count_in, nuclei[who], scale=o.syllables.scale)
                        for who in voices}
        turns = {who: metrics.group_turns(activity[who], activity.get(other(who), []), o.turns) for who in voices}

    words = {}
    for who, samples in voices.items():
        with stage(Stage.ASR_AGENT if who is Speaker.AGENT else Stage.ASR_CUSTOMER):
            words[who] = transcribe_turns(models.recognizer, samples, turns[who], activity[who], syllables_in[who],
                                          o.asr)

    separation, voiceprint = None, None
    if found is not None:
        with stage(Stage.SEPARATE):
            choice = None
            if found.count == 2:
                heard = [metrics.build_utterances(Speaker.AGENT, turns[who], words[who]) for who in voices]
                choice = roles.choose_agent(heard, models.matcher.lexicon, models.matcher, found.prints, known_voice)
                if choice.agent == 1:  # the voice that spoke second is the agent's
                    activity, syllables_in, turns, words = (_swapped(d) for d in (activity, syllables_in, turns, words))
            separation = _separation(found, choice, o.separation.min_confidence, layout)
        notes += _separation_notes(separation)
        if enrol and not separation.uncertain and len(found.prints):
            voiceprint = found.prints[choice.agent if choice else 0]
    elif enrol and len(parties) == 2:
        with stage(Stage.SEPARATE):
            voiceprint = models.separator.voiceprint(voices[Speaker.AGENT], activity[Speaker.AGENT], o.separation)
    mixed = found is not None and found.count == 2

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
        # On one channel, each moment goes to one voice: talking over each other cannot be seen.
        interruptions = (metrics.interruptions(agent, customer_activity, customer, o.interruption)
                         if Speaker.CUSTOMER in voices and not mixed else [])
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
    if mixed:
        measurable = tuple(Measurability(Metric.INTERRUPTION, False, MIXED_INTERRUPTIONS)
                           if m.metric is Metric.INTERRUPTION else m for m in measurable)
    notes += [m.reason for m in measurable if not m.measurable and m.reason not in notes]
    report = Report(
        source=str(path), duration_s=round(audio.duration_s, 2), layout=_layout(parties), speakers=parties,
        utterances=tuple(everyone), rate=rate, utterance_rates=tuple(metrics.utterance_rates(agent, o.rate)),
        silences=tuple(silences), interruptions=tuple(interruptions), pitch=pitch, utterance_pitch=per_utterance,
        phrases=tuple(phrases), script=tuple(script), notes=tuple(notes),
        timings=tuple((k, round(v, 3)) for k, v in timings.items()), pitch_contour=contour(track),
        measurable=measurable, customer_rate=customer_rate,
        qa=metrics.qa_figures(agent_talk, customer_talk, silences, rate, customer_rate),
        separation=separation,
        agent_voiceprint=None if voiceprint is None else tuple(round(float(v), 6) for v in voiceprint),
    )
    return replace(report, score=scoring.score(report, models.scorecard))


MIXED_INTERRUPTIONS = "混合单声道录音：双方同时说话时无法按声音分开，未评估抢话。"


def _swapped(by_speaker: dict) -> dict:
    return {Speaker.AGENT: by_speaker[Speaker.CUSTOMER], Speaker.CUSTOMER: by_speaker[Speaker.AGENT]}


def _separation(found: Voices, choice: roles.RoleChoice | None, min_confidence: float,
                layout: LayoutChoice) -> Separation:
    """What the report says about telling the voices apart, and why it may be wrong."""
    uncertain = ""
    decided_by_user = layout is LayoutChoice.MIXED
    if found.count == 1 and found.confidence < min_confidence:
        uncertain = (f"录音里可能有两个人的声音（声纹区分度 {found.contrast:.2f}，接近判定线 {found.threshold:.2f}）："
                     "已按坐席一人分析；如是双方混录，请用 --layout mixed 重新分析")
    elif found.count == 2 and found.confidence < min_confidence and not decided_by_user:
        uncertain = f"两个人的声音区分不够清楚（置信度 {found.confidence:.2f}）：部分话语可能归错人"
    elif found.count == 2 and found.confidence < min_confidence:
        uncertain = f"按 --layout mixed 分成两人，但声音区分不清楚（置信度 {found.confidence:.2f}）"
    elif choice is not None and not choice.sure:
        uncertain = choice.reason
    return Separation(voices=found.count, similarity=found.similarity, threshold=found.threshold,
                      confidence=found.confidence, contrast=found.contrast,
                      agent_cues=tuple(c.value for c in choice.cues) if choice else (),
                      agent_reason=choice.reason if choice else "", uncertain=uncertain)


def _separation_notes(separation: Separation) -> list[str]:
    notes = []
    if separation.voices == 2:
        notes.append(f"混合单声道录音：已按声音分开坐席与客户（置信度 {separation.confidence:.2f}）；"
                     f"{separation.agent_reason}。")
    if separation.uncertain:
        notes.append(f"请人工复核：{separation.uncertain}。")
    return notes


def other(who: Speaker) -> Speaker:
    return Speaker.CUSTOMER if who is Speaker.AGENT else Speaker.AGENT


def channel_roles(audio: Audio, agent_channel: Channel, notes: list[str],
                  layout: LayoutChoice = LayoutChoice.AUTO) -> tuple[dict[Speaker, np.ndarray], tuple[Party, ...]]:
    """Which channel is whose: stereo is one party per channel; one channel (or two carrying the
    same signal) is the agent's as far as channels tell — the separation stage then decides
    whether a second voice shares it."""
    if audio.layout is Layout.MONO:
        if layout is LayoutChoice.STEREO:
            raise AudioError(f"{audio.source} has one channel: --layout stereo needs one party per channel; "
                             "use --layout auto, mixed or agent-only")
        return {Speaker.AGENT: audio.channels[0]}, (Party(Speaker.AGENT, Source.MONO),)
    left, right = audio.channels
    agent, customer = (left, right) if agent_channel is Channel.LEFT else (right, left)
    sources = (Source.LEFT, Source.RIGHT) if agent_channel is Channel.LEFT else (Source.RIGHT, Source.LEFT)
    if layout is LayoutChoice.MIXED:
        notes.append("按 --layout mixed：两个声道合成一路，按声音分开坐席与客户。")
        return {Speaker.AGENT: (left + right) / 2}, (Party(Speaker.AGENT, Source.MONO),)
    if layout is LayoutChoice.AGENT_ONLY:
        return {Speaker.AGENT: agent}, (Party(Speaker.AGENT, sources[0]),)
    if layout is LayoutChoice.AUTO and _same_signal(left, right):
        log.warning("%s: both channels carry the same signal; analysing it as one channel", audio.source)
        notes.append("两个声道内容相同：按单声道分析。")
        return {Speaker.AGENT: left}, (Party(Speaker.AGENT, Source.MONO),)
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

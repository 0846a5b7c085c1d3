"""The analysis pipeline, wired as DESIGN.md reads:

load → channel roles → VAD (crosstalk-aware) → ASR → text normalisation →
metrics → pitch → phrase matching → scorecard.  Writers live in `coach.writers`.

`Analyzer` holds the models (built once per process); `analyze` is called per
recording.  Batch and live reuse the same stages.
"""

from __future__ import annotations

import enum
import logging
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from coach import metrics, scoring, syllables
from coach.asr import transcribe_turns
from coach.audio import SAMPLE_RATE, Audio, load_audio
from coach.config import Options
from coach.lexicon import load_lexicon
from coach.phrases import PhraseMatcher, check_script, mark_holds
from coach.pitch import PitchOptions, contour, pitch_stats, track_f0
from coach.results import Layout, Report, Span, Speaker, UtterancePitch
from coach.scorecard import Scorecard, load_scorecard
from coach.vad import SpeechDetector, mask_to_spans
from coach.whisper import WhisperRecognizer

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


class Analyzer:
    def __init__(self, options: Options = Options(), model_dir: str | Path | None = None,
                 lexicon_dirs: Sequence[str | Path] = (), scorecard: Scorecard | None = None):
        self.options = options
        self.scorecard = scorecard or load_scorecard()
        self.detector = SpeechDetector(options.vad)
        self.recognizer = WhisperRecognizer(model_dir, options.asr)
        self.matcher = PhraseMatcher(load_lexicon(lexicon_dirs))
        self.pitch_options = PitchOptions(
            fmin_hz=options.pitch.fmin_hz, fmax_hz=options.pitch.fmax_hz,
            monotone_below_st=options.pitch.monotone_below_st,
        )

    def analyze(self, path: str | Path, agent_channel: Channel = Channel.LEFT,
                progress: Progress | None = None) -> Report:
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
            audio = load_audio(path, self.options.audio)
            roles = channel_roles(audio, agent_channel, notes)
        if audio.truncated:
            notes.append("文件不完整（被截断）：只分析了可解码的部分。")

        with stage(Stage.VAD):
            masks = self.detector.activity(tuple(roles.values()))
            activity = {who: mask_to_spans(m, audio.duration_s) for who, m in zip(roles, masks)}
            nuclei = {who: syllables.nuclei(roles[who], SAMPLE_RATE, activity[who]) for who in roles}
            turns = {who: metrics.group_turns(activity[who], activity.get(other(who), []), self.options.turns)
                     for who in roles}

        words = {}
        for who, samples in roles.items():
            with stage(Stage.ASR_AGENT if who is Speaker.AGENT else Stage.ASR_CUSTOMER):
                words[who] = transcribe_turns(self.recognizer, samples, turns[who], activity[who], nuclei[who],
                                              self.options.asr)

        with stage(Stage.METRICS):
            o = self.options
            utterances = {who: metrics.build_utterances(who, turns[who], words[who],
                                                        [syllables.count_in(nuclei[who], t) for t in turns[who]])
                          for who in roles}
            agent_utts = utterances[Speaker.AGENT]
            customer_utts = utterances.get(Speaker.CUSTOMER, [])
            everyone = sorted(agent_utts + customer_utts, key=lambda u: u.start)
            customer_activity = activity.get(Speaker.CUSTOMER, [])
            # Backchannels are listening, not speaking: they would skew the rate (嗯 in 0.3 s).
            talking = [u for u in agent_utts if not metrics.is_backchannel(u, customer_activity, o.interruption)]
            rate = metrics.speaking_rate(talking, o.rate)
            silences = metrics.silences(activity, o.silence)
            if Speaker.CUSTOMER in roles:
                interruptions = metrics.interruptions(agent_utts, customer_activity, customer_utts, o.interruption)
            else:
                interruptions = []
                notes.append("单声道录音（只有坐席）：无法判断抢话，未作评估。")
            untranscribed = [u for u in everyone if not u.transcribed and u.syllables]
            if untranscribed:
                notes.append("有语音未能识别成文字（已计入说话时间）：" + "、".join(
                    f"{'坐席' if u.speaker is Speaker.AGENT else '客户'} {_clock(u.start)}–{_clock(u.end)}"
                    for u in untranscribed))

        with stage(Stage.PITCH):
            track = track_f0(roles[Speaker.AGENT], SAMPLE_RATE, activity[Speaker.AGENT], self.pitch_options)
            pitch = pitch_stats(track, self.pitch_options)
            per_utterance = tuple(UtterancePitch(u.start, u.end, pitch_stats(track, self.pitch_options, within=Span(u.start, u.end)))
                                  for u in agent_utts)

        with stage(Stage.PHRASES):
            phrases = self.matcher.match(everyone)
            silences = mark_holds(silences, everyone, self.matcher.lexicon)
            script = check_script(everyone, self.matcher.lexicon, silences=silences) if agent_utts else []

        if not agent_utts:
            notes.append("未检测到坐席语音：录音是静音或只有噪声。")
        report = Report(
            source=str(path), duration_s=round(audio.duration_s, 2), layout=audio.layout if len(roles) == 2 else Layout.MONO,
            agent_channel=agent_channel.value if len(roles) == 2 else "mono",
            utterances=tuple(everyone), rate=rate,
            utterance_rates=tuple(metrics.utterance_rates(agent_utts, o.rate)),
            silences=tuple(silences), interruptions=tuple(interruptions),
            pitch=pitch, utterance_pitch=per_utterance, phrases=tuple(phrases), script=tuple(script),
            notes=tuple(notes), timings=tuple((k, round(v, 3)) for k, v in timings.items()),
            pitch_contour=contour(track),
        )
        return replace(report, score=scoring.score(report, self.scorecard))


def other(who: Speaker) -> Speaker:
    return Speaker.CUSTOMER if who is Speaker.AGENT else Speaker.AGENT


def channel_roles(audio: Audio, agent_channel: Channel, notes: list[str]) -> dict[Speaker, np.ndarray]:
    """Which channel is whose: stereo is one party per channel, mono is the agent alone."""
    if audio.layout is Layout.MONO:
        return {Speaker.AGENT: audio.channels[0]}
    left, right = audio.channels
    if _same_signal(left, right):
        log.warning("%s: both channels carry the same signal; analysing it as mono (agent only)", audio.source)
        notes.append("两个声道内容相同：按单声道（只有坐席）分析。")
        return {Speaker.AGENT: left}
    agent, customer = (left, right) if agent_channel is Channel.LEFT else (right, left)
    return {Speaker.AGENT: agent, Speaker.CUSTOMER: customer}


def _same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    if not (a.any() and b.any()):
        return False
    return float(np.corrcoef(a, b)[0, 1]) > _DUAL_MONO_CORRELATION


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


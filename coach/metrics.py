"""Metrics stage: turns, speaking rate, silences and interruptions.

Pure functions following docs/design.md's definitions word for word; the thresholds come from
`coach.config`.  Timing comes from the voice activity (spans from `coach.vad`), never from
where the recogniser happened to return words: the recogniser supplies text, and the audio's
syllable count (`coach.syllables`) checks how much of it came back.
"""

from __future__ import annotations

from typing import Sequence

from coach import textnorm
from coach.config import InterruptionOptions, RateOptions, SilenceOptions, TurnOptions
from coach.results import (
    Interruption, Measurability, Metric, Party, PitchStats, QaFigures, RateStats, Silence, Span, Speaker, Utterance,
    UtteranceRate, Verdict, Word,
)

# Inside one sentence a speaker pauses for breath and between clauses for up to about half a
# second; a listener who starts talking there starts while the other is still talking.
SENTENCE_PAUSE_S = 0.5
# Fewer characters than this between transcript and syllables is within any short utterance's noise.
_GROSS_DIFFERENCE = 3


def stretches(spans: Sequence[Span], max_pause_s: float) -> list[Span]:
    """One party's speech with pauses shorter than `max_pause_s` closed: while they were talking."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start - merged[-1].end < max_pause_s:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def group_turns(own: Sequence[Span], other: Sequence[Span], options: TurnOptions,
                min_turn_s: float = 1.0) -> list[Span]:
    """Join one party's speech spans into utterances (docs/design.md's definition).

    Spans join when the pause between them is shorter than `max_pause_s`, unless the other
    party takes the turn in that pause: starts talking *after this turn began* and talks for
    `min_turn_s` or more across the pause.  Someone who was already talking when the turn
    began does not take it by going on: the agent who cuts in with 好的，/ 对，/ 不是，,
    pauses and goes on while the customer is still talking keeps one utterance, which starts
    with the lead-in.  A short backchannel never takes the turn.
    """
    other_talk = stretches(other, options.max_pause_s)
    turns: list[Span] = []
    for span in own:
        if turns and span.start - turns[-1].end < options.max_pause_s and not any(
            o.duration >= min_turn_s and turns[-1].start < o.start < span.start and o.end > turns[-1].end
            for o in other_talk
        ):
            turns[-1] = Span(turns[-1].start, span.end)
        else:
            turns.append(span)
    return turns


def build_utterances(speaker: Speaker, turns: Sequence[Span], words: Sequence[Sequence[Word]],
                     syllables: Sequence[int] | None = None) -> list[Utterance]:
    """One utterance per turn, with the words recognised in it and its syllable count.

    Every turn is kept: a turn the recogniser returned nothing for is speech that was not
    transcribed, not silence (a cough or noise has no voiced syllable and never becomes a
    turn: `coach.pipeline` drops such spans first).
    """
    syllables = syllables if syllables is not None else [0] * len(turns)
    utterances = []
    for turn, ws, count in zip(turns, words, syllables):
        raw = "".join(w.text for w in ws)
        text = textnorm.normalise(raw)
        utterances.append(Utterance(speaker, turn.start, turn.end, text, raw,
                                    textnorm.spoken_char_count(text), tuple(ws), count))
    return utterances


def counted_chars(utterance: Utterance, options: RateOptions) -> int:
    """The characters the rate counts for one utterance.

    The transcript's count, unless it and the audio's syllables disagree grossly — by more
    than `syllable_margin` of the smaller and by `_GROSS_DIFFERENCE` or more: then the
    recogniser dropped words (a clause, a whole turn) or invented them (a sentence made up in
    line noise), and the syllable count stands in.  Within that the transcript is trusted: the
    syllable counter's own spread is wider than the recogniser's small slips.
    """
    if not utterance.transcribed:
        return utterance.syllables
    low, high = sorted((utterance.chars, utterance.syllables))
    if utterance.syllables and high > low * (1 + options.syllable_margin) and high - low >= _GROSS_DIFFERENCE:
        return utterance.syllables
    return utterance.chars


def verdict(chars_per_min: float | None, options: RateOptions) -> Verdict:
    if chars_per_min is None:
        return Verdict.NO_SPEECH
    if chars_per_min < options.target_min:
        return Verdict.TOO_SLOW
    if chars_per_min > options.target_max:
        return Verdict.TOO_FAST
    return Verdict.OK


def is_backchannel(utterance: Utterance, other_activity: Sequence[Span], options: InterruptionOptions) -> bool:
    """嗯、对、好的 said while the other party talks: listening, not taking the turn."""
    return is_short(utterance, options) and any(c.start < utterance.start < c.end for c in other_activity)


def is_short(utterance: Utterance, options: InterruptionOptions) -> bool:
    """Too short to take the turn: under `backchannel_max_s`, or fewer than
    `backchannel_max_chars` characters (the audio's syllables where the transcript is empty)."""
    chars = utterance.chars if utterance.transcribed else utterance.syllables
    return utterance.duration < options.backchannel_max_s or chars < options.backchannel_max_chars


def speaking_rate(utterances: Sequence[Utterance], options: RateOptions) -> RateStats:
    """Agent characters ÷ agent speaking time × 60 (pass the utterances without backchannels).

    Characters as `counted_chars` reconciles them; the syllable rate beside it is the audio's
    own figure, whatever the recogniser wrote.
    """
    asr_chars = sum(u.chars for u in utterances)
    chars = sum(counted_chars(u, options) for u in utterances)
    syllables = sum(u.syllables for u in utterances)
    speaking = sum(u.duration for u in utterances)
    cpm = round(chars / speaking * 60, 1) if speaking > 0 and chars else None
    spm = round(syllables / speaking * 60, 1) if speaking > 0 and syllables else None
    return RateStats(chars, round(speaking, 2), cpm, verdict(cpm, options), options.target_min, options.target_max,
                     asr_chars=asr_chars, syllables=syllables, syllables_per_min=spm, from_syllables=chars - asr_chars)


def utterance_rates(utterances: Sequence[Utterance], options: RateOptions) -> list[UtteranceRate]:
    """Per-utterance rates, so a report can say where the agent rushed."""
    rates = []
    for u in utterances:
        chars = counted_chars(u, options)
        if chars >= options.min_utterance_chars and u.duration > 0:
            cpm = round(chars / u.duration * 60, 1)
            rates.append(UtteranceRate(u.start, u.end, chars, cpm, verdict(cpm, options), u.text))
    return rates


def silences(activity: dict[Speaker, Sequence[Span]], options: SilenceOptions) -> list[Silence]:
    """Gaps longer than `min_s` where neither party speaks, between the first and last speech.

    Before the first word the call has not started for us (ringing, a recorder
    started early) and after the last it is over, so only gaps inside the call
    count.  The party who spoke last is reported: a customer waiting on the agent
    is the agent's silence.  Which gaps were announced holds is for the phrase stage
    to say (`coach.phrases.mark_holds`): it hears 请稍等 through ASR errors.
    """
    spoken = sorted(((s, who) for who, spans in activity.items() for s in spans), key=lambda x: x[0].start)
    found = []
    last_end, last_who = None, None
    for span, who in spoken:
        if last_end is not None and span.start - last_end > options.min_s:
            found.append(Silence(round(last_end, 2), round(span.start, 2), last_who))
        if last_end is None or span.end >= last_end:
            last_end, last_who = span.end, who
    return found


def interruptions(agent_utterances: Sequence[Utterance], customer_activity: Sequence[Span],
                  customer_utterances: Sequence[Utterance], options: InterruptionOptions) -> list[Interruption]:
    """Agent utterances that start while the customer is talking and overlap them ≥ `min_overlap_s`.

    "While the customer is talking" is inside their speech with pauses under
    `SENTENCE_PAUSE_S` closed (a breath between clauses is still talking).  The overlap is
    measured on the agent's whole utterance, lead-in and pauses included, against the
    customer's talk that the agent cut into: both talking, from the agent's onset to
    whichever of the two stops first.  Backchannels (`is_short`: 嗯、对、好的) never count.
    """
    talk = stretches(customer_activity, SENTENCE_PAUSE_S)
    found = []
    for utterance in agent_utterances:
        talking = next((c for c in talk if c.start < utterance.start < c.end), None)
        if talking is None or is_short(utterance, options):
            continue
        end = min(talking.end, utterance.end)
        overlap = end - utterance.start
        if overlap < options.min_overlap_s:
            continue
        heard = " ".join(u.text for u in customer_utterances if u.start < end and utterance.start < u.end)
        found.append(Interruption(round(utterance.start, 2), round(end, 2), round(overlap, 2), utterance.text, heard))
    return found


def without_backchannels(utterances: Sequence[Utterance], other_activity: Sequence[Span],
                         options: InterruptionOptions) -> list[Utterance]:
    """The utterances that are speaking, not listening (嗯、好的 while the other talks)."""
    return [u for u in utterances if not is_backchannel(u, other_activity, options)]


def measurability(parties: Sequence[Party], agent: Sequence[Utterance], rate: RateStats,
                  pitch: PitchStats) -> tuple[Measurability, ...]:
    """Metric by metric, whether this recording lets it be measured, and if not why (for the report)."""
    customer = any(p.speaker is Speaker.CUSTOMER for p in parties)
    transcribed = any(u.transcribed for u in agent)
    no_agent = "未检测到坐席语音"
    return (
        Measurability(Metric.RATE, rate.chars_per_min is not None, "" if agent else no_agent + "，无法计算语速"),
        Measurability(Metric.SILENCE, bool(agent), "" if agent else no_agent + "，无法判断冷场"),
        Measurability(Metric.INTERRUPTION, customer, "" if customer else "单声道录音（只有坐席）：无法判断抢话，未作评估。"),
        Measurability(Metric.PITCH, pitch.monotone is not None,
                      "" if pitch.monotone is not None else "坐席的有声语音太少，无法判断语调"),
        Measurability(Metric.PHRASES, transcribed, "" if transcribed else "没有识别出坐席的话，无法检查用语"),
        Measurability(Metric.SCRIPT, transcribed, "" if transcribed else "没有识别出坐席的话，无法检查流程"),
    )


def qa_figures(agent_talk: Sequence[Utterance], customer_talk: Sequence[Utterance] | None,
               silences: Sequence[Silence], rate: RateStats, customer_rate: RateStats | None) -> QaFigures:
    """The figures trainers compare across agents, from the utterances that are speaking
    (backchannels left out) and the silences marked as holds."""
    listened = customer_rate.speaking_s if customer_rate else 0.0
    rates = (rate.chars_per_min, customer_rate.chars_per_min if customer_rate else None)
    return QaFigures(
        talk_listen_ratio=round(rate.speaking_s / listened, 2) if listened else None,
        agent_turns=len(agent_talk),
        customer_turns=len(customer_talk) if customer_talk is not None else None,
        first_response_s=round(min(u.start for u in agent_talk), 2) if agent_talk else None,
        hold_s=round(sum(s.duration for s in silences if s.hold), 2),
        rate_gap=round(rates[0] - rates[1], 1) if None not in rates else None,
    )


def ongoing_silence(activity: dict[Speaker, Sequence[Span]], now: float, options: SilenceOptions) -> Silence | None:
    """The silence still going on at `now`, once it is longer than `min_s` (live mode): `silences`
    with the next words taken to start at `now`, since they have not been said yet."""
    until_now = {**activity, Speaker.AGENT: [*activity.get(Speaker.AGENT, ()), Span(now, now)]}
    found = silences(until_now, options)
    return found[-1] if found and found[-1].end == round(now, 2) else None

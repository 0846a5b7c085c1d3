"""Metrics stage: turns, speaking rate, silences and interruptions.

Pure functions over speech spans (from the VAD) and words (from the recogniser),
following DESIGN.md's definitions word for word; the thresholds come from
`coach.config`.
"""

from __future__ import annotations

from typing import Sequence

from coach import textnorm
from coach.config import InterruptionOptions, RateOptions, SilenceOptions, TurnOptions
from coach.results import (
    Interruption, RateStats, Silence, Span, Speaker, Utterance, UtteranceRate, Verdict, Word,
)

# Words whose times fall this close to an utterance still belong to it (ASR word
# edges and VAD edges disagree by a few frames).
_WORD_SNAP_S = 0.6


def group_turns(own: Sequence[Span], other: Sequence[Span], options: TurnOptions,
                min_turn_s: float = 1.0) -> list[Span]:
    """Join one party's speech spans into utterances.

    Spans join when the pause between them is shorter than `max_pause_s` and the
    other party does not take the turn in that pause (speak for ≥ `min_turn_s`
    overlapping it: a short backchannel does not take the turn).
    """
    turns: list[Span] = []
    for span in own:
        if turns and span.start - turns[-1].end < options.max_pause_s and not any(
            o.duration >= min_turn_s and o.start < span.start and o.end > turns[-1].end for o in other
        ):
            turns[-1] = Span(turns[-1].start, span.end)
        else:
            turns.append(span)
    return turns


def build_utterances(speaker: Speaker, turns: Sequence[Span], words: Sequence[Word]) -> list[Utterance]:
    """Give each turn the words that fall in it; turns with no words are dropped.

    A turn without words is a cough, a laugh or noise the VAD let through: it is
    not speech to count characters over.
    """
    buckets: list[list[Word]] = [[] for _ in turns]
    for word in words:
        mid = (word.start + word.end) / 2
        best = min(range(len(turns)), key=lambda i: _distance(mid, turns[i]), default=None)
        if best is not None and _distance(mid, turns[best]) <= _WORD_SNAP_S:
            buckets[best].append(word)
    utterances = []
    for turn, ws in zip(turns, buckets):
        raw = "".join(w.text for w in ws)
        text = textnorm.normalise(raw)
        chars = textnorm.spoken_char_count(text)
        if chars:
            utterances.append(Utterance(speaker, turn.start, turn.end, text, raw, chars, tuple(ws)))
    return utterances


def _distance(t: float, span: Span) -> float:
    return 0.0 if span.start <= t <= span.end else min(abs(t - span.start), abs(t - span.end))


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
    return _short(utterance.duration, utterance.chars, options) and any(
        c.start < utterance.start < c.end for c in other_activity)


def _short(duration: float, chars: int, options: InterruptionOptions) -> bool:
    return duration < options.backchannel_max_s or chars < options.backchannel_max_chars


def speaking_rate(utterances: Sequence[Utterance], options: RateOptions) -> RateStats:
    """Agent characters ÷ agent speaking time × 60 (pass the utterances without backchannels)."""
    chars = sum(u.chars for u in utterances)
    speaking = sum(u.duration for u in utterances)
    cpm = round(chars / speaking * 60, 1) if speaking > 0 and chars else None
    return RateStats(chars, round(speaking, 2), cpm, verdict(cpm, options), options.target_min, options.target_max)


def utterance_rates(utterances: Sequence[Utterance], options: RateOptions) -> list[UtteranceRate]:
    """Per-utterance rates, so a report can say where the agent rushed."""
    rates = []
    for u in utterances:
        if u.chars >= options.min_utterance_chars and u.duration > 0:
            cpm = round(u.chars / u.duration * 60, 1)
            rates.append(UtteranceRate(u.start, u.end, u.chars, cpm, verdict(cpm, options), u.text))
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


def interruptions(agent_turns: Sequence[Span], agent_activity: Sequence[Span],
                  customer_activity: Sequence[Span], agent_utterances: Sequence[Utterance],
                  customer_utterances: Sequence[Utterance], options: InterruptionOptions) -> list[Interruption]:
    """Agent turns that start while the customer speaks and overlap them ≥ `min_overlap_s`.

    Backchannels (an agent utterance shorter than `backchannel_max_s` or with
    fewer than `backchannel_max_chars` characters: 嗯、对、好的) never count.
    """
    found = []
    for turn in agent_turns:
        talking = next((c for c in customer_activity if c.start < turn.start < c.end), None)
        if talking is None:
            continue
        utterance = next((u for u in agent_utterances if u.start == turn.start), None)
        chars = utterance.chars if utterance else 0
        if _short(turn.duration, chars, options):
            continue
        mine = [s for s in agent_activity if turn.start <= s.start < turn.end]
        overlap = sum(_intersection(s, c) for s in mine for c in customer_activity if c.start < turn.end)
        if overlap < options.min_overlap_s:
            continue
        end = max(min(s.end, c.end) for s in mine for c in customer_activity if _intersection(s, c) > 0)
        heard = next((u.text for u in customer_utterances if u.start <= turn.start <= u.end + 0.1), "")
        found.append(Interruption(round(turn.start, 2), round(end, 2), round(overlap, 2),
                                  utterance.text if utterance else "", heard))
    return found


def _intersection(a: Span, b: Span) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))

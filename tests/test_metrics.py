"""Turns, speaking rate, silences and interruptions on spans with known answers."""

import pytest

from coach import metrics
from coach.config import InterruptionOptions, RateOptions, SilenceOptions, TurnOptions
from coach.results import Span, Speaker, Utterance, Verdict, Word

A, C = Speaker.AGENT, Speaker.CUSTOMER


def utt(speaker, start, end, text):
    return Utterance(speaker, start, end, text, text, len(text))


def test_pauses_under_one_second_stay_in_one_turn():
    own = [Span(0, 2), Span(2.9, 4), Span(5.2, 6)]
    assert metrics.group_turns(own, [], TurnOptions()) == [Span(0, 4), Span(5.2, 6)]


def test_customer_taking_the_turn_splits_the_agent_turn():
    own = [Span(0, 2), Span(2.8, 4)]
    assert metrics.group_turns(own, [Span(2.1, 3.5)], TurnOptions()) == [Span(0, 2), Span(2.8, 4)]


def test_customer_backchannel_does_not_split_the_turn():
    own = [Span(0, 2), Span(2.8, 4)]
    assert metrics.group_turns(own, [Span(2.2, 2.6)], TurnOptions()) == [Span(0, 4)]


def test_a_customer_already_talking_does_not_take_the_turn_from_a_lead_in():
    # The customer talks from 0 to 6 s; the agent cuts in at 2.0 with 好的， (0.5 s), pauses
    # 0.6 s and goes on while the customer is still talking: one agent utterance from 2.0.
    own = [Span(2.0, 2.5), Span(3.1, 6.5)]
    assert metrics.group_turns(own, [Span(0, 6)], TurnOptions()) == [Span(2.0, 6.5)]


def test_customer_pauses_under_a_second_are_one_stretch_of_talk():
    customer = [Span(0, 1.6), Span(2.0, 3.5), Span(3.9, 6)]
    assert metrics.stretches(customer, 1.0) == [Span(0, 6)]
    # … so their next sentence, begun before the agent's lead-in, does not split it either
    assert metrics.group_turns([Span(2.1, 2.6), Span(3.2, 6.5)], customer, TurnOptions()) == [Span(2.1, 6.5)]


def test_every_turn_is_an_utterance_even_when_the_recogniser_returned_nothing():
    turns = [Span(0, 2), Span(3, 5), Span(8, 9)]
    words = [[Word(0.1, 0.5, "您好"), Word(0.6, 1.0, "請問")], [Word(3.1, 3.6, "好的"), Word(4.6, 4.9, "吧")], []]
    utts = metrics.build_utterances(A, turns, words, syllables=[4, 3, 5])
    assert [(u.start, u.end, u.text, u.transcribed) for u in utts] == [
        (0, 2, "您好请问", True), (3, 5, "好的吧", True), (8, 9, "", False)]
    assert [(u.chars, u.syllables) for u in utts] == [(4, 4), (3, 3), (0, 5)]


def test_speaking_rate_is_chars_over_speaking_time():
    # 55 characters over 20 s of speech (the 10 s gap between utterances does not count).
    utts = [utt(A, 0, 10, "字" * 25), utt(A, 20, 30, "字" * 30)]
    rate = metrics.speaking_rate(utts, RateOptions())
    assert rate.chars_per_min == pytest.approx(55 / 20 * 60)
    assert rate.verdict is Verdict.TOO_FAST
    assert metrics.speaking_rate([utt(A, 0, 60, "字" * 130)], RateOptions()).verdict is Verdict.OK
    assert metrics.speaking_rate([utt(A, 0, 60, "字" * 100)], RateOptions()).verdict is Verdict.TOO_SLOW
    assert metrics.speaking_rate([], RateOptions()).verdict is Verdict.NO_SPEECH


def test_the_audios_syllables_stand_in_where_the_recogniser_dropped_words():
    options = RateOptions()
    complete = Utterance(A, 0, 10, "字" * 20, chars=20, syllables=22)  # within the counter's spread
    dropped = Utterance(A, 10, 20, "字" * 12, chars=12, syllables=21)  # fillers and a clause missing
    lost = Utterance(A, 20, 25, "", chars=0, syllables=11)  # a turn the recogniser never wrote
    assert [metrics.counted_chars(u, options) for u in (complete, dropped, lost)] == [20, 21, 11]
    rate = metrics.speaking_rate([complete, dropped, lost], options)
    assert (rate.asr_chars, rate.chars, rate.from_syllables, rate.syllables) == (32, 52, 20, 54)
    assert rate.chars_per_min == pytest.approx(52 / 25 * 60)
    assert rate.syllables_per_min == pytest.approx(54 / 25 * 60)


def test_words_the_recogniser_invented_in_noise_give_way_to_the_syllables():
    options = RateOptions()
    invented = Utterance(A, 0, 1.4, "西马装起的小放在你身上", chars=11, syllables=4)  # 5 syllables said
    slip = Utterance(A, 2, 3.4, "西马装去的销", chars=6, syllables=4)  # one or two extra: within the noise
    assert [metrics.counted_chars(u, options) for u in (invented, slip)] == [4, 6]
    assert metrics.speaking_rate([invented], options).from_syllables == -7


def test_utterance_rates_skip_short_utterances():
    utts = [utt(A, 0, 0.5, "好的"), utt(A, 1, 3, "字" * 8)]
    rates = metrics.utterance_rates(utts, RateOptions())
    assert [(r.start, r.chars_per_min) for r in rates] == [(1, 240.0)]


def test_silences_only_longer_than_five_seconds_inside_the_call():
    activity = {A: [Span(3, 5), Span(10.5, 12), Span(30, 31)], C: [Span(12.5, 14), Span(18, 19)]}
    found = metrics.silences(activity, SilenceOptions())
    # 5→10.5 (5.5 s, agent spoke last), 14→18 is 4 s (no), 19→30 (11 s, customer spoke last);
    # the 3 s before the first word does not count.
    assert [(s.start, s.end, s.last_speaker) for s in found] == [(5, 10.5, A), (19, 30, C)]


def test_exactly_five_seconds_is_not_a_silence():
    assert metrics.silences({A: [Span(0, 1), Span(6, 7)]}, SilenceOptions()) == []


def _interruptions(agent_spans, customer_spans, agent_texts):
    turns = metrics.group_turns(agent_spans, customer_spans, TurnOptions())
    utts = [utt(A, t.start, t.end, text) for t, text in zip(turns, agent_texts)]
    return metrics.interruptions(utts, customer_spans, [], InterruptionOptions())


def test_agent_talking_over_customer_for_a_second_is_an_interruption():
    (found,) = _interruptions([Span(5, 8)], [Span(2, 6.5)], ["我跟您说一下这个情况"])
    assert (found.start, found.end, found.overlap_s) == (5, 6.5, 1.5)


def test_a_barge_in_with_a_short_lead_in_is_one_interruption_from_the_lead_in():
    # The customer talks 0–6 s (a 0.3 s breath at 3.5); the agent says 好的， at 4.2, pauses 0.7 s
    # and talks over the rest: 1.8 s of overlap from the lead-in, though its voiced spans
    # overlap the customer for less than a second.
    (found,) = _interruptions([Span(4.2, 4.6), Span(5.3, 9.0)], [Span(0, 3.5), Span(3.8, 6.0)],
                              ["好的，我跟您说这个情况"])
    assert (found.start, found.end, found.overlap_s) == (4.2, 6.0, 1.8)


def test_starting_in_the_customers_pause_between_sentences_is_not_an_interruption():
    # the customer stops at 3.0 and starts again at 3.8; the agent answered at 3.2
    assert _interruptions([Span(3.2, 8.0)], [Span(0, 3.0), Span(3.8, 6.0)], ["我跟您说一下这个情况"]) == []


def test_an_untranscribed_utterance_is_judged_by_its_syllables():
    customer = [Span(0, 6)]
    lost = Utterance(A, 2.0, 5.0, "", chars=0, syllables=12)
    (found,) = metrics.interruptions([lost], customer, [], InterruptionOptions())
    assert found.overlap_s == 3.0
    assert metrics.interruptions([Utterance(A, 2.0, 5.0, "", syllables=2)], customer, [], InterruptionOptions()) == []


def test_short_overlap_is_not_an_interruption():
    assert _interruptions([Span(5, 8)], [Span(2, 5.8)], ["我跟您说一下这个情况"]) == []


def test_backchannels_are_not_interruptions():
    # long overlap but < 4 characters, and a short (< 1 s) utterance
    assert _interruptions([Span(5, 7)], [Span(2, 9)], ["好的"]) == []
    assert _interruptions([Span(5, 5.8)], [Span(2, 9)], ["我知道了"]) == []


def test_customer_interrupting_the_agent_is_not_the_agents_fault():
    assert _interruptions([Span(2, 9)], [Span(5, 7)], ["我跟您说一下这个情况"]) == []


def test_backchannel_is_short_speech_while_the_other_party_talks():
    customer = [Span(10, 16)]
    options = InterruptionOptions()
    assert metrics.is_backchannel(utt(A, 12, 12.4, "嗯嗯"), customer, options)
    assert metrics.is_backchannel(utt(A, 12, 13.5, "好的"), customer, options)  # few characters
    assert not metrics.is_backchannel(utt(A, 17, 17.4, "好的"), customer, options)  # an answer, not over anyone
    assert not metrics.is_backchannel(utt(A, 14, 17, "您的耐心等待"), customer, options)  # an interruption

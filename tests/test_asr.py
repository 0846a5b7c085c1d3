"""The recognition stage (pieces, coverage retries) and Whisper's span bookkeeping, pure;
the real model on real speech."""

import numpy as np
import pytest

from coach.asr import Decoding, pieces, transcribe_turns
from coach.audio import SAMPLE_RATE
from coach.config import AsrOptions
from coach.errors import ModelError
from coach.results import Span, Word
from coach.syllables import count_in
from coach.whisper import (WhisperRecognizer, before_loop, drop_invented, join_spans, pack, without_invented_tail,
                           word_to_original)


def test_join_spans_maps_times_back():
    samples = np.arange(20 * SAMPLE_RATE, dtype=np.float32)
    joined, placed = join_spans(samples, [0, 1], [Span(2, 3), Span(10, 12)], pad_s=0.5, gap_s=0.0)
    assert len(joined) == int(2.0 * SAMPLE_RATE) + int(3.0 * SAMPLE_RATE)
    # joined[0] is original sample at 1.5 s
    assert joined[0] == samples[int(1.5 * SAMPLE_RATE)]
    assert word_to_original(0.0, 0.4, placed) == (0, 1.5, 1.9)
    assert word_to_original(2.5, 2.9, placed) == (1, 10.0, 10.4)  # 0.5 s into the second piece (starts at 9.5 s)
    assert word_to_original(1.6, 2.0, placed) == (0, 3.1, 3.5)  # ends exactly on the joint


def test_pads_never_reach_into_a_neighbouring_span():
    samples = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    _, placed = join_spans(samples, [0, 1], [Span(2, 3), Span(3.2, 5)], pad_s=0.5, gap_s=0.5)
    assert [(p.index, p.original_start, round(p.duration, 2)) for p in placed] == [(0, 1.5, 1.6), (1, 3.1, 2.4)]


def test_a_word_straddling_a_joint_stays_in_the_piece_holding_its_middle():
    samples = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    _, placed = join_spans(samples, [0, 1], [Span(2, 3), Span(10, 12)], pad_s=0.5, gap_s=0.0)  # joint at 2.0 s
    assert word_to_original(1.9, 2.5, placed) == (1, 9.5, 10.0)  # stamped early: still the second piece
    assert word_to_original(1.5, 2.1, placed) == (0, 3.0, 3.5)


def test_a_word_in_the_silence_between_pieces_goes_by_its_sentence():
    samples = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    _, placed = join_spans(samples, [0, 1], [Span(2, 3), Span(10, 12)], pad_s=0.5, gap_s=1.0)  # gap 2.0–3.0 s
    assert word_to_original(2.0, 2.4, placed) == (0, 3.5, 3.5)  # nearer the first piece
    assert word_to_original(2.0, 2.4, placed, lean=1) == (1, 9.5, 9.5)  # opens a sentence: the next turn
    assert word_to_original(2.6, 2.9, placed, lean=-1) == (0, 3.5, 3.5)  # ends one: the turn before
    assert word_to_original(0.1, 0.3, placed, lean=-1) == (0, 1.6, 1.8)  # inside a piece: lean is moot


def test_spans_are_packed_into_windows_whole():
    spans = [Span(0, 10), Span(12, 20), Span(25, 30), Span(40, 75), Span(80, 81)]
    # padded lengths 10.4, 8.4, 5.4, 35.4, 1.4; 0.5 s between spans in a window of at most 28 s
    assert pack(spans, 28.0, 0.2, 0.5) == [[0, 1, 2], [3], [4]]


def test_long_turns_are_cut_at_their_longest_pauses():
    spans = [Span(0, 8), Span(8.4, 15), Span(16.0, 24), Span(24.3, 30)]
    assert pieces(Span(0, 30), spans, 20.0) == [Span(0, 15), Span(16.0, 30)]
    assert pieces(Span(0, 30), spans, 10.0) == [Span(0, 8), Span(8.4, 15), Span(16.0, 24), Span(24.3, 30)]
    assert pieces(Span(0, 8), spans, 20.0) == [Span(0, 8)]


class _Recogniser:
    """Drops the second turn on the fast pass, as Whisper's early end of a window did."""

    identity = "test"

    def __init__(self):
        self.calls = []

    def transcribe(self, samples, spans, decoding=Decoding.FAST):
        self.calls.append((decoding, list(spans)))
        return [[] if decoding is Decoding.FAST and i == 1 else [Word(s.start, s.end, "字" * 8)]
                for i, s in enumerate(spans)]


def test_a_turn_the_recogniser_drops_is_decoded_again():
    turns = [Span(0, 2), Span(3, 5), Span(6, 6.4)]
    nuclei = np.array([0.2, 0.5, 0.8, 1.1, 1.4, 1.7, 3.2, 3.5, 3.8, 4.1, 4.4, 4.7, 6.2])
    recogniser = _Recogniser()
    words = transcribe_turns(recogniser, np.zeros(7 * SAMPLE_RATE), turns, turns,
                             lambda span: count_in(nuclei, span), AsrOptions())
    assert [d for d, _ in recogniser.calls] == [Decoding.FAST, Decoding.CAREFUL]
    assert recogniser.calls[1][1] == [Span(3, 5)]  # only the piece that came back empty
    assert ["".join(w.text for w in ws) for ws in words] == ["字" * 8] * 3


class _Readings:
    """Two characters on the fast pass; `careful` characters when asked again."""

    identity = "test"

    def __init__(self, careful):
        self.careful = careful

    def transcribe(self, samples, spans, decoding=Decoding.FAST):
        n = 2 if decoding is Decoding.FAST else self.careful
        return [[Word(s.start, s.end, "字" * n)] for s in spans]


@pytest.mark.parametrize("careful, kept", [(7, 7), (20, 2), (4, 4)])
def test_the_second_reading_is_kept_only_when_nearer_the_syllables(careful, kept):
    # Six syllables in the turn: a retry that recovers words wins, one that invents a tail does not.
    turns = [Span(0, 2)]
    nuclei = np.array([0.2, 0.5, 0.8, 1.1, 1.4, 1.7])
    words = transcribe_turns(_Readings(careful), np.zeros(3 * SAMPLE_RATE), turns, turns,
                             lambda span: count_in(nuclei, span), AsrOptions())
    assert len("".join(w.text for w in words[0])) == kept


class _Echo:
    def __init__(self, word):
        self.word = word


def test_the_prompt_written_back_is_dropped_but_the_words_around_it_kept():
    words = [_Echo(w) for w in ["请", "用", "简体", "中文。", "您好，", "请", "稍等"]]
    kept = drop_invented(words, "以下是普通话客服电话的录音，请用简体中文。")
    assert [w.word for w in kept] == ["您好，", "请", "稍等"]


def test_song_credits_after_the_last_real_word_are_dropped():
    words = [_Echo(w) for w in ["部分", "地区", "过紧", "作", "词", "作曲", "赵晓"]]
    assert [w.word for w in drop_invented(words, "")] == ["部分", "地区", "过紧"]
    real = [_Echo(w) for w in ["我", "想", "订阅", "这个", "套餐"]]  # 订阅 alone is a real request
    assert drop_invented(real, "") == real


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="run 'make setup' or pass --model"):
        WhisperRecognizer(tmp_path)


@pytest.mark.parametrize("words, kept", [
    (["您好", "０", "０", "０", "０"], 1),  # one word said again and again
    (["祝", "您", "生活", "愉快", "Ｇ", "Ｇ", "Ｇ", "\ufffd"], 4),
    (["请问", "\ufffd"], 1),  # a token cut mid-character
    (["感谢", "您的", "来电。", "这次", "的", "节目"], 3),  # a loop of phrases restarts after a sentence
    (["请", "稍等"], 2),
])
def test_a_segment_cut_in_a_decoding_loop_keeps_the_speech_before_it(words, kept):
    assert before_loop(words) == kept


def test_a_tail_whisper_barely_believed_in_is_dropped():
    said = [Word(8.0, 8.2, "迪", 0.53), Word(8.2, 8.4, "卡", 0.92), Word(9.3, 9.5, "专", 0.24),
            Word(9.8, 10.0, "市", 0.46)]
    tail = [Word(10.0, 10.3, "请", 0.02), Word(10.3, 10.3, "注意", 0.06)]
    assert without_invented_tail(said + tail) == said
    assert without_invented_tail(said) == said  # a real word of 0.24 stays
    assert without_invented_tail(tail) == []


def _words(*texts: str) -> list[Word]:
    return [Word(i * 0.3, i * 0.3 + 0.3, text, 0.8) for i, text in enumerate(texts)]


@pytest.mark.parametrize("words, kept", [
    (("哪个", "这么", "大", "的", "胆子", "?", "《", "神", "》", "《", "神", "》", "《", "神", "》", "《", "神", "》", "《",
      "神", "》"), "哪个这么大的胆子?《神"),  # a loop: the first of the repeats may be speech
    (("哪个", "这么", "大", "的", "胆子", "?", "作", "曲", "作", "曲", "作"), "哪个这么大的胆子"),
    (("两个", "这么", "大", "的", "胆子", "作词"), "两个这么大的胆子"),
    (("迪卡", "龙", "运动", "专业", "超市"), "迪卡龙运动专业超市"),
])
def test_credits_and_a_loop_finishing_a_piece_are_dropped(words, kept):
    assert "".join(w.text for w in without_invented_tail(_words(*words))) == kept


@pytest.mark.parametrize("said", [("对", "对", "对"), ("好的", "好的", "好的"), ("您", "订", "的", "演唱会"),
                                  ("哈哈", "哈哈")])
def test_repeats_people_say_are_kept(said):
    assert without_invented_tail(_words(*said)) == _words(*said)


@pytest.mark.model
def test_the_second_try_reads_a_piece_the_same_way_every_time(tmp_path):
    # A piece whose beam-search reading fails Whisper's own checks: sampled fallbacks read it
    # differently on each run (字幕製作 once, 尊重 the next), and so did the report of the same call.
    from coach.audio import load_audio
    from tests.fixtures.calls import render
    from tests.fixtures.realcalls import REAL_SCENARIOS

    agent = load_audio(render(REAL_SCENARIOS["rv_held_02"], tmp_path)).channels[0]
    recogniser = WhisperRecognizer(options=AsrOptions())
    readings = {tuple(w.text for w in recogniser.transcribe(agent, [Span(20.0, 26.0)], Decoding.CAREFUL)[0])
                for _ in range(3)}
    assert len(readings) == 1 and next(iter(readings)), readings

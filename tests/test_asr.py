"""Span joining and time mapping (pure) and the real model on real speech."""

import numpy as np
import pytest

from coach.asr import Transcriber, before_loop, join_spans, merge_spans, word_to_original
from coach.audio import SAMPLE_RATE
from coach.errors import ModelError
from coach.results import Span


def test_join_spans_maps_times_back():
    samples = np.arange(20 * SAMPLE_RATE, dtype=np.float32)
    joined, pieces = join_spans(samples, [Span(2, 3), Span(10, 12)], pad_s=0.5)
    assert len(joined) == int(2.0 * SAMPLE_RATE) + int(3.0 * SAMPLE_RATE)
    # joined[0] is original sample at 1.5 s
    assert joined[0] == samples[int(1.5 * SAMPLE_RATE)]
    assert word_to_original(0.0, 0.4, pieces) == (1.5, 1.9)
    assert word_to_original(2.5, 2.9, pieces) == (10.0, 10.4)  # 0.5 s into the second piece (starts at 9.5 s)
    assert word_to_original(1.6, 2.0, pieces) == (3.1, 3.5)  # ends exactly on the joint


def test_a_word_straddling_a_joint_stays_in_the_piece_holding_its_middle():
    samples = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    _, pieces = join_spans(samples, [Span(2, 3), Span(10, 12)], pad_s=0.5)  # joint at 2.0 s
    assert word_to_original(1.9, 2.5, pieces) == (9.5, 10.0)  # stamped early: still the second piece
    assert word_to_original(1.5, 2.1, pieces) == (3.0, 3.5)


def test_a_word_in_the_silence_between_pieces_goes_by_its_sentence():
    samples = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    _, pieces = join_spans(samples, [Span(2, 3), Span(10, 12)], pad_s=0.5, gap_s=1.0)  # gap 2.0–3.0 s
    assert word_to_original(2.0, 2.4, pieces) == (3.5, 3.5)  # nearer the first piece
    assert word_to_original(2.0, 2.4, pieces, lean=1) == (9.5, 9.5)  # opens a sentence: the next turn
    assert word_to_original(2.6, 2.9, pieces, lean=-1) == (3.5, 3.5)  # ends one: the turn before
    assert word_to_original(0.1, 0.3, pieces, lean=-1) == (1.6, 1.8)  # inside a piece: lean is moot


def test_overlapping_padded_spans_merge():
    assert merge_spans([Span(3, 5), Span(1, 2), Span(1.5, 3.5)]) == [Span(1, 5)]


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="run 'make setup' or pass --model"):
        Transcriber(tmp_path)


@pytest.mark.parametrize("words, kept", [
    (["您好", "０", "０", "０", "０"], 1),  # one word said again and again
    (["祝", "您", "生活", "愉快", "Ｇ", "Ｇ", "Ｇ", "\ufffd"], 4),
    (["请问", "\ufffd"], 1),  # a token cut mid-character
    (["感谢", "您的", "来电。", "这次", "的", "节目"], 3),  # a loop of phrases restarts after a sentence
    (["请", "稍等"], 2),
])
def test_a_segment_cut_in_a_decoding_loop_keeps_the_speech_before_it(words, kept):
    assert before_loop(words) == kept

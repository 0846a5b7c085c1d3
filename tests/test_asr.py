"""Span joining and time mapping (pure) and the real model on real speech."""

import numpy as np
import pytest

from coach.asr import Transcriber, join_spans, merge_spans, to_original
from coach.audio import SAMPLE_RATE
from coach.errors import ModelError
from coach.results import Span


def test_join_spans_maps_times_back():
    samples = np.arange(20 * SAMPLE_RATE, dtype=np.float32)
    joined, pieces = join_spans(samples, [Span(2, 3), Span(10, 12)], pad_s=0.5)
    assert len(joined) == int(2.0 * SAMPLE_RATE) + int(3.0 * SAMPLE_RATE)
    # joined[0] is original sample at 1.5 s
    assert joined[0] == samples[int(1.5 * SAMPLE_RATE)]
    assert to_original(0.0, pieces) == 1.5
    assert to_original(2.5, pieces) == 10.0  # 0.5 s into the second piece (starts at 9.5 s)
    assert to_original(2.0, pieces, is_end=True) == 3.5
    assert to_original(2.0, pieces) == 9.5


def test_overlapping_padded_spans_merge():
    assert merge_spans([Span(3, 5), Span(1, 2), Span(1.5, 3.5)]) == [Span(1, 5)]


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="run 'make setup' or pass --model"):
        Transcriber(tmp_path)

"""Voice separation: the logic on voice prints with known answers, then CAM++ on real voices."""

from __future__ import annotations

import numpy as np
import pytest

from coach.config import SeparationOptions
from coach.diarize import VoiceSeparator, assign, contrast, frame_lean, split_two, windows
from coach.results import Span

OPTIONS = SeparationOptions()


def prints_around(centre: np.ndarray, count: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    noisy = centre + spread * rng.standard_normal((count, centre.size))
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def two_voices(rng, a_count=20, b_count=20, spread=0.05):
    a, b = np.eye(192)[0], np.eye(192)[1]
    return prints_around(a, a_count, spread, rng), prints_around(b, b_count, spread, rng)


def test_windows_cover_each_span_evenly_and_skip_blips():
    cut = windows([Span(0.0, 0.3), Span(1.0, 2.2), Span(3.0, 7.5)], OPTIONS)
    assert cut[0] == Span(1.0, 2.2)  # shorter than a window: itself; the 0.3 s blip: none
    assert [w.start for w in cut[1:]] == [3.0, 6.0] and all(w.duration == 1.5 for w in cut[1:])
    assert cut[-1].end == 7.5  # the last window ends with the span


def test_contrast_of_two_orthogonal_tight_groups_is_one():
    prints = np.vstack([np.tile(np.eye(192)[0], (3, 1)), np.tile(np.eye(192)[1], (2, 1))])
    assert contrast(prints, np.array([0, 0, 0, 1, 1])) == pytest.approx(1.0)
    assert contrast(prints, np.array([0, 1, 0, 1, 0])) < 0.2  # a split across the voices: no contrast


def test_split_two_finds_the_two_voices_in_any_order():
    rng = np.random.default_rng(1)
    a, b = two_voices(rng)
    order = rng.permutation(40)
    labels = split_two(np.vstack([a, b])[order])
    truth = (order >= 20).astype(int)
    assert np.array_equal(labels, truth) or np.array_equal(labels, 1 - truth)


def test_two_voices_each_get_their_own_speech_and_the_first_to_speak_comes_first():
    rng = np.random.default_rng(2)
    a, b = two_voices(rng, 10, 10)
    # voice b speaks first: 0–15 s, voice a 20–35 s, in 1.5 s windows
    cut = [Span(i * 1.5, i * 1.5 + 1.5) for i in range(10)] + [Span(20 + i * 1.5, 21.5 + i * 1.5) for i in range(10)]
    speech = [Span(0.0, 15.0), Span(20.0, 35.0)]
    found = assign(np.vstack([b, a]), cut, speech, 40.0, OPTIONS)
    # within a voice the noisy prints agree to ≈ 0.67, across voices ≈ 0: a contrast far over the line
    assert found.count == 2 and found.contrast > 0.6 and found.confidence == pytest.approx(1.0)
    assert found.spans[0][0].start == 0.0 and found.spans[0][-1].end == pytest.approx(15.0, abs=0.04)
    assert found.spans[1][0].start == pytest.approx(20.0, abs=0.04) and found.spans[1][-1].end == pytest.approx(35.0, abs=0.04)
    centre_b = b.mean(axis=0) / np.linalg.norm(b.mean(axis=0))
    assert found.prints[0] @ centre_b > 0.99  # voice 0 is the one that spoke first


def test_one_voice_stays_one_even_split_in_two():
    rng = np.random.default_rng(3)
    prints = prints_around(np.eye(192)[0], 30, 0.08, rng)
    cut = [Span(i * 2.0, i * 2.0 + 1.5) for i in range(30)]
    found = assign(prints, cut, cut, 60.0, OPTIONS)
    assert found.count == 1 and found.contrast < OPTIONS.two_voices_contrast
    assert found.spans == (tuple(cut),)
    forced = assign(prints, cut, cut, 60.0, OPTIONS, voices=2)
    assert forced.count == 2  # --layout mixed: two, whatever the contrast


def test_a_second_voice_of_a_few_seconds_is_noise_not_a_customer():
    rng = np.random.default_rng(4)
    a, b = two_voices(rng, 30, 2)  # 3 s of another "voice": a cough, a radio
    cut = [Span(i * 2.0, i * 2.0 + 1.5) for i in range(32)]
    assert assign(np.vstack([a, b]), cut, cut, 70.0, OPTIONS).count == 1


def test_a_voice_near_the_line_is_reported_with_low_confidence():
    rng = np.random.default_rng(5)
    a = prints_around(np.eye(192)[0], 20, 0.02, rng)
    # a second voice whose prints lean only a little away from the first (cosine 0.63 between the
    # centres, ≈ 0.93 within): a contrast just over the line
    near = np.eye(192)[0] * 0.63 + np.eye(192)[1] * np.sqrt(1 - 0.63 ** 2)
    b = prints_around(near, 20, 0.02, rng)
    cut = [Span(i * 2.0, i * 2.0 + 1.5) for i in range(40)]
    found = assign(np.vstack([a, b]), cut, cut, 90.0, OPTIONS)
    assert abs(found.contrast - OPTIONS.two_voices_contrast) < OPTIONS.decision_band
    assert found.confidence < OPTIONS.min_confidence


def test_speech_too_short_for_a_window_takes_the_voice_of_its_neighbour():
    lean = frame_lean(np.array([0.5, -0.5]), [Span(0.0, 1.5), Span(4.0, 5.5)], [Span(0.0, 1.5), Span(2.0, 2.2),
                      Span(4.0, 5.5), Span(5.8, 6.0)], 7.0)
    frame = 0.032
    assert lean[int(2.1 / frame)] == 0.5 and lean[int(5.9 / frame)] == -0.5
    assert np.isnan(lean[int(3.0 / frame)])  # nobody speaks there


@pytest.mark.model
def test_real_voices_are_told_apart_and_one_real_voice_is_kept_alone(tmp_path):
    from coach.audio import load_audio
    from coach.vad import SpeechDetector, mask_to_spans
    from tests.fixtures.mixedcalls import mixed_calls, one_speaker_recordings, render_mono, truth_frames

    separator, detector = VoiceSeparator(), SpeechDetector()

    def heard(scenario):
        audio = load_audio(render_mono(scenario, tmp_path))
        samples = audio.channels[0]
        return separator.separate(samples, mask_to_spans(detector.activity((samples,))[0], audio.duration_s), OPTIONS)

    call = mixed_calls("tune")["mixed_rv_tune_07_ulaw"]  # two real women, through 8 kHz μ-law
    found = heard(call)
    assert found.count == 2 and found.confidence >= OPTIONS.min_confidence
    truth = truth_frames(call)
    voice = np.zeros(len(truth), int)
    for k, spans in enumerate(found.spans):
        for s in spans:
            voice[int(round(s.start / 0.032)):int(round(s.end / 0.032))] = k + 1
    scored = ((truth == 1) | (truth == 2)) & (voice[:len(truth)] > 0)
    assert np.mean(voice[:len(truth)][scored] != truth[scored]) <= 0.05  # the agent spoke first: voice 1
    alone = heard(one_speaker_recordings("tune")["alone_th-A2_noise"])
    assert alone.count == 1

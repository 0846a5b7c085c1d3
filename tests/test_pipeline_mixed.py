"""Mono recordings through the whole pipeline: one voice stays "the agent alone", two voices
(a mixed call) are told apart and the agent picked — real voices (tests/fixtures/mixedcalls.py)."""

from __future__ import annotations

import numpy as np
import pytest

from coach.audio import Audio
from coach.errors import AudioError
from coach.pipeline import Channel, LayoutChoice, analyze, channel_roles
from coach.results import Layout, Metric, Source, Speaker
from coach.schema import report_to_dict
from tests.fixtures import mixedcalls
from tests.fixtures.calls import render


def audio_of(*channels: np.ndarray) -> Audio:
    return Audio(source="call.wav", channels=tuple(channels), original_rate=16000, codec="pcm_s16le")


def test_layout_says_what_the_channels_are():
    left, right = np.full(16000, 0.1), np.full(16000, 0.3)
    with pytest.raises(AudioError, match="--layout stereo needs one party per channel"):
        channel_roles(audio_of(left), Channel.LEFT, [], LayoutChoice.STEREO)
    voices, parties = channel_roles(audio_of(left, right), Channel.RIGHT, [], LayoutChoice.AGENT_ONLY)
    assert list(voices) == [Speaker.AGENT] and voices[Speaker.AGENT] is right and parties[0].source is Source.RIGHT
    notes: list[str] = []
    voices, parties = channel_roles(audio_of(left, right), Channel.LEFT, notes, LayoutChoice.MIXED)
    assert np.allclose(voices[Speaker.AGENT], 0.2) and parties[0].source is Source.MONO and notes


@pytest.fixture(scope="module")
def models():
    from coach.models import Models

    return Models.load()


@pytest.mark.model
def test_a_mixed_call_gets_the_agent_right_though_the_customer_spoke_first(models, tmp_path):
    call = mixedcalls.greeting_calls("tune")["greet_a1-S0770_customer_first"]
    report = analyze(models, mixedcalls.render_mono(call, tmp_path), enrol=True)
    assert report.layout is Layout.MIXED and report.separation.voices == 2
    assert report.separation.agent_cues[0] == "greeting" and not report.separation.uncertain
    truth = mixedcalls.truth_frames(call)
    for who, bit in ((Speaker.AGENT, 1), (Speaker.CUSTOMER, 2)):
        frames = np.concatenate([truth[int(u.start / mixedcalls.FRAME_S):int(u.end / mixedcalls.FRAME_S)]
                                 for u in report.utterances if u.speaker is who])
        assert np.mean(frames == bit) > 0.9, who  # each party's utterances are that party's speech
    assert not next(m for m in report.measurable if m.metric is Metric.INTERRUPTION).measurable
    assert report.score.total is not None and report.agent_voiceprint is not None  # sure roles: scored, enrolled
    data = report_to_dict(report)
    assert data["layout"] == "mixed" and data["separation"]["review"] is False and "agent_voiceprint" not in data
    # the same file, said to be the agent alone: no separation, the customer's words are the agent's
    alone = analyze(models, mixedcalls.render_mono(call, tmp_path), layout=LayoutChoice.AGENT_ONLY)
    assert alone.layout is Layout.MONO and alone.separation is None
    assert {u.speaker for u in alone.utterances} == {Speaker.AGENT}


@pytest.mark.model
def test_one_real_speaker_stays_the_agent_alone(models, tmp_path):
    recording = mixedcalls.one_speaker_recordings("tune")["alone_a1-S0765_ulaw"]
    report = analyze(models, mixedcalls.render_mono(recording, tmp_path))
    assert report.layout is Layout.MONO and report.separation.voices == 1 and not report.separation.uncertain
    assert {u.speaker for u in report.utterances} == {Speaker.AGENT}


@pytest.mark.model
def test_an_enrolled_voice_picks_the_agent_where_the_words_cannot(models, tmp_path):
    """A real-voice call: nobody greets, so without the agent's voice the roles are uncertain
    (not scored); the agent's voice print from the stereo recording of a call makes them sure."""
    call = mixedcalls.mixed_calls("tune")["mixed_rv_tune_07_clean"]
    stereo = analyze(models, render(call, tmp_path / "stereo"), enrol=True)
    assert stereo.layout is Layout.STEREO and stereo.agent_voiceprint is not None
    unknown = analyze(models, mixedcalls.render_mono(call, tmp_path))
    assert unknown.separation.voices == 2 and unknown.separation.uncertain and unknown.score.total is None
    known = analyze(models, mixedcalls.render_mono(call, tmp_path), known_voice=np.array(stereo.agent_voiceprint))
    assert "known_voice" in known.separation.agent_cues and not known.separation.uncertain
    truth = mixedcalls.truth_frames(call)
    agent = np.concatenate([truth[int(u.start / mixedcalls.FRAME_S):int(u.end / mixedcalls.FRAME_S)]
                            for u in known.utterances if u.speaker is Speaker.AGENT])
    assert np.mean(agent == 1) > 0.9

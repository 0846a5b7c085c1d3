"""Whose voice a piece of speech is on a live line carrying both parties (coach/live/voice.py).

The logic on given voice prints: the separator is a stand-in returning them (CAM++ itself is
tested on real voices in tests/test_campplus.py and tests/test_diarize.py)."""

from __future__ import annotations

import numpy as np
import pytest

from coach.config import SeparationOptions
from coach.live.voice import AgentVoice
from coach.results import Span, Speaker


class GivenPrints:
    """Stands in for `VoiceSeparator`: each call to `voiceprint` returns the next print."""

    def __init__(self, prints):
        self.prints = list(prints)

    def voiceprint(self, samples, speech, options):
        return self.prints.pop(0)


def unit(*weights: float) -> np.ndarray:
    v = np.zeros(192)
    v[:len(weights)] = weights
    return v / np.linalg.norm(v)


SPEECH = [Span(0.0, 2.0)]


def test_the_first_voice_heard_is_the_agent_and_another_voice_the_customer():
    agent, customer = unit(1, 0.1), unit(0.1, 1)
    voice = AgentVoice(GivenPrints([agent, customer, unit(1, 0.2), None]), SeparationOptions())
    heard = [voice.speaker(np.zeros(32000), SPEECH) for _ in range(4)]
    assert heard == [Speaker.AGENT, Speaker.CUSTOMER, Speaker.AGENT, Speaker.AGENT]  # too short: the agent's


def test_an_enrolled_voice_decides_from_the_first_piece():
    voice = AgentVoice(GivenPrints([unit(0.1, 1), unit(1, 0)]), SeparationOptions(), known=unit(1, 0))
    assert voice.speaker(np.zeros(32000), SPEECH) is Speaker.CUSTOMER  # the customer spoke first
    assert voice.speaker(np.zeros(32000), SPEECH) is Speaker.AGENT
    assert not voice.swap()  # an enrolled voice is never traded for another


def test_the_voice_that_greets_second_takes_the_agents_place_once():
    caller, agent = unit(1, 0.1), unit(0.1, 1)
    voice = AgentVoice(GivenPrints([caller, agent, agent, caller]), SeparationOptions())
    assert [voice.speaker(np.zeros(32000), SPEECH) for _ in range(2)] == [Speaker.AGENT, Speaker.CUSTOMER]
    assert voice.swap() and not voice.swap()
    assert [voice.speaker(np.zeros(32000), SPEECH) for _ in range(2)] == [Speaker.AGENT, Speaker.CUSTOMER]


@pytest.mark.model
def test_a_live_mixed_line_gives_the_customers_words_to_the_customer(tmp_path):
    """A real mixed call (the customer speaks first) streamed through a session on one line."""
    from coach.live.capture import FileSource, Recorder
    from coach.live.session import LiveOptions, LiveSession, run
    from coach.models import Models
    from tests.fixtures import mixedcalls

    call = mixedcalls.greeting_calls("tune")["greet_a1-S0770_customer_first"]
    source = FileSource(mixedcalls.render_mono(call, tmp_path), speed=50)
    session = LiveSession(Models.load(), source.channels, options=LiveOptions(transcript_lines=100), mixed=True)
    run(source, session, Recorder(tmp_path / "rec.wav", source.channels))
    truth = mixedcalls.truth_frames(call)
    lines = session.state().transcript
    assert {u.speaker for u in lines} == {Speaker.AGENT, Speaker.CUSTOMER}
    right = [float(np.mean(truth[int(u.start / mixedcalls.FRAME_S):int(u.end / mixedcalls.FRAME_S)]
                           == (1 if u.speaker is Speaker.AGENT else 2))) > 0.5 for u in lines]
    # the customer's first words opened the line and were taken for the agent's, until the agent's
    # greeting swapped the roles: the transcript then gives every line to its party
    assert all(right), [(u.speaker.value, u.text, ok) for u, ok in zip(lines, right)]

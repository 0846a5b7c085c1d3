"""Which voice of a mixed call is the agent (coach/roles.py): known answers on transcripts."""

from __future__ import annotations

import numpy as np
import pytest

from coach.lexicon import load_lexicon
from coach.phrases import PhraseMatcher
from coach.results import Cue, Speaker, Utterance
from coach.roles import choose_agent


@pytest.fixture(scope="module")
def matcher() -> PhraseMatcher:
    return PhraseMatcher(load_lexicon())


def said(*lines: tuple[float, str]) -> list[Utterance]:
    """One voice's utterances (as the pipeline passes them: every voice heard as if it were the agent)."""
    return [Utterance(Speaker.AGENT, start, start + 3.0, text, text, len(text)) for start, text in lines]


AGENT = said((2.0, "您好，工号1023，很高兴为您服务，请问有什么可以帮您？"), (12.0, "好的，请您稍等，我帮您查询一下。"),
             (40.0, "请问还有其他可以帮您的吗？"), (46.0, "感谢您的来电，祝您生活愉快，再见。"))
CUSTOMER = said((0.5, "喂？"), (6.0, "我的话费扣错了，帮我查一下。"), (20.0, "上个月多扣了三十块钱。"), (44.0, "没有了。"))


def test_the_voice_that_greets_with_its_staff_number_is_the_agent_even_if_it_spoke_second(matcher):
    lexicon = matcher.lexicon
    choice = choose_agent([CUSTOMER, AGENT], lexicon, matcher)  # the customer's 喂 came first
    assert choice.agent == 1 and choice.sure
    assert choice.cues[0] is Cue.GREETING and Cue.CLOSING in choice.cues
    assert "开场问候并报工号" in choice.reason and "先开口说话" in choice.reason  # the other voice's cue, said too


def test_with_no_cue_but_who_spoke_first_the_choice_is_not_sure(matcher):
    lexicon = matcher.lexicon
    choice = choose_agent([said((0.5, "上个月多扣了三十块钱。")), said((5.0, "我也不知道怎么回事。"))], lexicon, matcher)
    assert choice.agent == 0 and choice.cues == (Cue.FIRST,) and not choice.sure
    assert "请人工复核" in choice.reason


def test_an_enrolled_voice_close_to_one_voice_picks_it(matcher):
    lexicon = matcher.lexicon
    prints = np.eye(192)[:2]
    known = np.eye(192)[1] * 0.8 + np.eye(192)[0] * 0.2
    known /= np.linalg.norm(known)
    plain = [said((0.5, "上个月多扣了三十块钱。")), said((5.0, "我也不知道怎么回事。"))]
    choice = choose_agent(plain, lexicon, matcher, prints, known)
    assert choice.agent == 1 and choice.cues == (Cue.KNOWN_VOICE,) and choice.sure
    # … but not when it is about as close to both (someone else's voice)
    between = (np.eye(192)[0] + np.eye(192)[1]) / np.sqrt(2)
    assert Cue.KNOWN_VOICE not in choose_agent(plain, lexicon, matcher, prints, between).cues

"""The scorecard applied to calls with known findings: points, evidence, critical failures."""

from dataclasses import replace

import pytest

from coach.results import (
    Interruption, Measurability, Metric, Party, PhraseHit, PitchStats, RateStats, Score, ScriptCheck, Silence, Source,
    Speaker, UtterancePitch, Verdict,
)
from coach.scorecard import load_scorecard, parse_scorecard
from coach.scoring import score
from tests.fixtures.reports import as_report, make_walkthrough_report

GOOD_RATE = RateStats(260, 120.0, 130.0, Verdict.OK, 120, 140)
LIVELY = PitchStats(220.0, 4.0, False, 60.0)
DEFAULT = load_scorecard()
COURTEOUS = tuple(PhraseHit("courtesy", p, Speaker.AGENT, t, t + 0.5)
                  for p, t in (("您好", 0.5), ("请稍等", 10.0), ("谢谢您", 20.0)))


@pytest.fixture(scope="module")
def clean():
    """A call with nothing wrong: good rate, lively pitch, every courtesy phrase and script step."""
    report = as_report(make_walkthrough_report("call.wav"))
    return replace(report, rate=GOOD_RATE, pitch=LIVELY, silences=(), interruptions=(), phrases=COURTEOUS,
                   script=(ScriptCheck("开场问候并报工号", True, "", 0.5),), utterance_rates=(), score=Score(0.0))


def items(result):
    return {i.name: i for i in result.items}


def test_a_clean_call_scores_full_marks(clean):
    result = score(clean, DEFAULT)
    assert result.total == 100 and result.earned == 100 and not result.failed
    assert all(i.points == i.max_points for i in result.items)
    assert result.scorecard == "默认评分表"


def test_each_problem_costs_points_with_times_and_quotes(clean):
    report = replace(
        clean,
        silences=(Silence(26.0, 38.0, Speaker.AGENT), Silence(40, 48, Speaker.AGENT, hold=True)),
        interruptions=(Interruption(41.0, 42.5, 1.5, "我跟您说", "可是"),),
        pitch=PitchStats(200.0, 1.2, True, 30.0),
        phrases=COURTEOUS + (PhraseHit("forbidden", "不知道", Speaker.AGENT, 50.0, 50.8, severity="major",
                                       suggestion="我帮您确认一下", context="这个问题我不知道"),
                             PhraseHit("forbidden", "不知道", Speaker.CUSTOMER, 60.0, 60.8, severity="major")),
    )
    by = items(score(report, DEFAULT))
    silence = by["冷场"]
    assert silence.points == 7.5 and silence.hits == 1  # the announced hold costs nothing
    assert (silence.evidence[0].start, silence.evidence[0].end) == (26.0, 38.0)
    assert silence.evidence[0].quote == "好的先生，请您稍等，我帮您查询一下。"  # what the silence followed
    assert "静默 12.0 秒" in silence.evidence[0].detail
    assert by["抢话"].points == 7.5 and "可是" in by["抢话"].evidence[0].quote
    assert by["语调"].points == 0
    forbidden = by["服务禁语"]
    assert forbidden.points == 5 and forbidden.hits == 1  # the customer's words never count against the agent
    assert forbidden.evidence[0].quote == "这个问题我不知道" and "我帮您确认一下" in forbidden.evidence[0].detail
    assert score(report, DEFAULT).total == pytest.approx(100 - 7.5 - 7.5 - 10 - 10)


def test_rate_points_fall_off_outside_the_band(clean):
    fast = RateStats(300, 100, 175.0, Verdict.TOO_FAST, 120, 140)  # 25 % over → 0
    slightly = RateStats(300, 100, 147.0, Verdict.TOO_FAST, 120, 140)  # 5 % over → 80 %
    assert items(score(replace(clean, rate=fast), DEFAULT))["语速"].points == 0
    assert items(score(replace(clean, rate=slightly), DEFAULT))["语速"].points == pytest.approx(12.0)


def test_a_critical_phrase_fails_the_call(clean):
    hit = PhraseHit("forbidden", "你怎么连这个也不懂", Speaker.AGENT, 5, 7, severity="critical")
    result = score(replace(clean, phrases=COURTEOUS + (hit,)), DEFAULT)
    assert result.failed and result.total == 0
    assert result.earned == 85  # the forbidden item lost its 15; the rest was fine
    assert items(result)["严重禁语（一票否决）"].hits == 1


def test_missing_courtesy_and_script_steps(clean):
    report = replace(clean, phrases=COURTEOUS[:1], script=(ScriptCheck("开场问候并报工号", True),
                                                          ScriptCheck("标准结束语", False, "说再见", 60.0)))
    by = items(score(report, DEFAULT))
    assert by["礼貌用语"].points == 2  # 请 and 谢谢/感谢 missing: 10 − 2 × 4
    assert [e.detail for e in by["礼貌用语"].evidence] == ["未使用：请", "未使用：谢谢/感谢"]
    assert by["规范流程"].points == 7.5 and by["规范流程"].evidence[0].start == 60.0


def test_a_custom_scorecard_changes_thresholds_and_makes_dead_air_critical(clean):
    card = parse_scorecard("""
name = "严格"
[[item]]
measure = "silence"
label = "长冷场"
points = 40
deduct = 40
min_s = 10
critical = true
[[item]]
measure = "filler"
label = "口头禅"
points = 60
deduct = 20
""")
    short = replace(clean, silences=(Silence(10, 17, Speaker.AGENT),))
    long = replace(clean, silences=(Silence(10, 17, Speaker.AGENT), Silence(20, 31, Speaker.CUSTOMER)))
    assert score(short, card).total == 100
    result = score(long, card)
    assert result.failed and result.total == 0 and result.earned == 60
    fillers = tuple(PhraseHit("filler", "嘛", Speaker.AGENT, t, t + 0.2) for t in (1, 2))
    assert score(replace(clean, phrases=fillers), card).total == 60


def test_what_a_mono_call_cannot_show_is_not_applicable_and_leaves_the_denominator(clean):
    mono = replace(clean, speakers=(Party(Speaker.AGENT, Source.MONO),), measurable=(
        Measurability(Metric.INTERRUPTION, False, "单声道录音（只有坐席）：无法判断抢话，未作评估。"),))
    result = score(mono, DEFAULT)
    by = items(result)
    assert not by["抢话"].applicable and by["抢话"].points == 0 and "单声道" in by["抢话"].detail
    assert result.possible == 100 - by["抢话"].max_points
    assert result.total == 100  # everything that could be judged was right: 85 of 85 is 100
    # a forbidden phrase costs its points out of what applies: 85 − 15 … scaled back to 100
    rude = replace(mono, phrases=mono.phrases + (PhraseHit("forbidden", "不知道", Speaker.AGENT, 50.0, 50.5,
                                                            severity="major"),))
    rude_result = score(rude, DEFAULT)
    lost = sum(i.max_points - i.points for i in rude_result.items if i.applicable)
    assert rude_result.total == pytest.approx(100 * (rude_result.possible - lost) / rude_result.possible, abs=0.1)


def test_a_call_without_agent_speech_is_not_scored(clean):
    silent = replace(clean, rate=RateStats(0, 0.0, None, Verdict.NO_SPEECH, 120, 140), pitch=PitchStats(None, None, None),
                     utterances=(), script=(), phrases=())
    result = score(silent, DEFAULT)
    assert result.total is None and "未检测到坐席语音" in result.not_scored
    tiny = replace(clean, duration_s=0.4)
    assert score(tiny, DEFAULT).total is None and "0.4 秒" in score(tiny, DEFAULT).not_scored


def test_too_little_voice_for_a_pitch_verdict_and_no_script_step_are_not_applicable(clean):
    quiet = replace(clean, pitch=PitchStats(210.0, 0.8, None, 1.5), script=(), measurable=(
        Measurability(Metric.PITCH, False, "坐席的有声语音太少，无法判断语调"),))
    by = items(score(quiet, DEFAULT))
    assert not by["语调"].applicable and "有声语音太少" in by["语调"].detail
    assert not by["规范流程"].applicable


def test_flat_pitch_quotes_the_flattest_utterances(clean):
    flat = replace(clean, pitch=PitchStats(200.0, 1.0, True, 20.0), utterance_pitch=(
        UtterancePitch(20.5, 26.0, PitchStats(200.0, 0.5, True, 3.0)),
        UtterancePitch(48.0, 53.0, PitchStats(200.0, 1.5, True, 3.0))))
    item = items(score(flat, DEFAULT))["语调"]
    assert [e.start for e in item.evidence] == [20.5, 48.0]
    assert item.evidence[0].quote.startswith("好的先生")

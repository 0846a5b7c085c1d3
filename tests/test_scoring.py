import pytest

from coach.results import (
    Interruption, PhraseHit, PitchStats, RateStats, Silence, Speaker, Verdict,
)
from coach.scoring import score

GOOD_RATE = RateStats(260, 120.0, 130.0, Verdict.OK, 120, 140)
LIVELY = PitchStats(220.0, 4.0, False, 60.0)


def items(result):
    return {i.name: i for i in result.items}


def test_a_clean_call_scores_full_marks():
    result = score(GOOD_RATE, [], [], LIVELY, [], [])
    assert result.total == 100
    assert all(i.points == i.max_points for i in result.items)


def test_each_problem_costs_points_with_evidence():
    silences = [Silence(10, 17, Speaker.AGENT), Silence(40, 48, Speaker.AGENT, hold=True)]
    interruptions = [Interruption(30.0, 31.5, 1.5)]
    hit = PhraseHit("forbidden", "不知道", Speaker.AGENT, 50.0, 50.8, severity="major")
    customer_hit = PhraseHit("forbidden", "不知道", Speaker.CUSTOMER, 60.0, 60.8, severity="major")
    result = score(GOOD_RATE, silences, interruptions, PitchStats(200.0, 1.2, True, 30.0),
                   [hit, customer_hit], [])
    by = items(result)
    assert by["冷场"].points == 10 and len(by["冷场"].evidence) == 1  # the hold costs nothing
    assert by["抢话"].points == 10 and "30.0s" in by["抢话"].evidence[0]
    assert by["语调"].points == 0
    assert by["服务禁语"].points == 10  # the customer's words never count against the agent
    assert result.total == pytest.approx(100 - 10 - 10 - 10 - 10)


def test_rate_points_fall_off_outside_the_band():
    fast = RateStats(300, 100, 175.0, Verdict.TOO_FAST, 120, 140)  # 25 % over → 0
    slightly = RateStats(300, 100, 147.0, Verdict.TOO_FAST, 120, 140)  # 5 % over → 80 %
    assert items(score(fast, [], [], LIVELY, [], []))["语速"].points == 0
    assert items(score(slightly, [], [], LIVELY, [], []))["语速"].points == pytest.approx(12.0)


def test_critical_phrase_takes_all_forbidden_points():
    hit = PhraseHit("forbidden", "这是规定，我有什么办法", Speaker.AGENT, 5, 7, severity="critical")
    assert items(score(GOOD_RATE, [], [], LIVELY, [hit], []))["服务禁语"].points == 0

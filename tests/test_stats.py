"""Per-agent, per-day and per-team figures: known answers from hand-made rows."""

import pytest
from rich.console import Console

from coach.qa.stats import GroupBy, GroupStats, aggregate, rows_to_table, sparkline
from coach.qa.store import Status


def row(agent_id, call_date, score, *, team="一组", status=Status.OK, duration_s=600.0, speaking_rate=240.0,
        silences=1, interruptions=0, courtesy_hits=2, forbidden_hits=0):
    """A row as Store.recordings() gives it (the report itself is not needed by stats)."""
    if status is Status.FAILED:
        duration_s = speaking_rate = silences = interruptions = courtesy_hits = forbidden_hits = score = None
    return {"source": f"/calls/{agent_id}-{call_date}-{score}.wav", "call_id": "x", "agent_id": agent_id,
            "team": team, "agent_channel": "left", "call_date": call_date, "status": status,
            "error": "bad file: replace it" if status is Status.FAILED else None, "duration_s": duration_s,
            "speaking_rate": speaking_rate, "silences": silences, "interruptions": interruptions,
            "courtesy_hits": courtesy_hits, "forbidden_hits": forbidden_hits, "score": score, "report": None}


# A001: two calls in 2026-W47, one in W48, one failure.  A002: one week only.  One call without agent.
ROWS = [
    row("A001", "2026-11-16", 80.0, duration_s=600.0, speaking_rate=240.0, silences=2, interruptions=1,
        courtesy_hits=3, forbidden_hits=0),
    row("A001", "2026-11-18", 70.0, duration_s=300.0, speaking_rate=260.0, silences=0, interruptions=None,
        courtesy_hits=1, forbidden_hits=1),  # mono: interruptions not measurable
    row("A001", "2026-11-24", 90.0, duration_s=900.0, speaking_rate=None, silences=1, interruptions=3,
        courtesy_hits=2, forbidden_hits=0),  # no agent speech to time
    row("A001", "2026-11-24", None, status=Status.FAILED),
    row("A002", "2026-11-23", 60.0, team="二组", duration_s=1800.0, speaking_rate=300.0, silences=4,
        interruptions=2, courtesy_hits=0, forbidden_hits=2),
    row(None, "2026-11-23", 50.0, team=None, duration_s=360.0, speaking_rate=200.0, silences=1,
        interruptions=1, courtesy_hits=1, forbidden_hits=1),
]


def test_per_agent_figures_are_means_over_the_calls_that_have_them():
    a001, a002, missing = aggregate(ROWS, GroupBy.AGENT)
    assert a001 == GroupStats(
        key="A001", calls=3, failed=1, audio_h=0.5,
        speaking_rate=250.0,  # (240 + 260) / 2: the call without agent speech is left out
        silences_per_call=1.0, interruptions_per_call=2.0,  # (1 + 3) / 2: the mono call is left out
        courtesy_per_call=2.0, forbidden_per_call=pytest.approx(1 / 3), score=80.0,
        trend=(("2026-W47", 75.0), ("2026-W48", 90.0)), score_change=15.0)
    assert a002 == GroupStats(
        key="A002", calls=1, failed=0, audio_h=0.5, speaking_rate=300.0, silences_per_call=4.0,
        interruptions_per_call=2.0, courtesy_per_call=0.0, forbidden_per_call=2.0, score=60.0,
        trend=(("2026-W48", 60.0),), score_change=None)  # one week: no change to tell
    assert missing.key == "—"
    assert missing.calls == 1 and missing.score == 50.0


def test_per_day_has_no_trend():
    days = aggregate(ROWS, GroupBy.DAY)
    assert [d.key for d in days] == ["2026-11-16", "2026-11-18", "2026-11-23", "2026-11-24"]
    nov24 = days[3]
    assert (nov24.calls, nov24.failed, nov24.score, nov24.interruptions_per_call) == (1, 1, 90.0, 3.0)
    assert all(d.trend == () and d.score_change is None for d in days)
    assert days[2].score == 55.0  # A002 and the agent-less call


def test_per_team_groups_agents_and_puts_missing_teams_under_a_dash():
    team1, team2, missing = aggregate(ROWS, GroupBy.TEAM)
    assert (team1.key, team2.key, missing.key) == ("一组", "二组", "—")
    assert team1.calls == 3 and team1.failed == 1
    assert team2.trend == (("2026-W48", 60.0),)


def test_all_failed_group_has_no_figures():
    (group,) = aggregate([row("A003", "2026-11-16", None, status=Status.FAILED)], GroupBy.AGENT)
    assert (group.calls, group.failed, group.audio_h) == (0, 1, 0.0)
    assert group.score is group.speaking_rate is group.silences_per_call is group.score_change is None
    assert group.trend == ()


def test_weeks_are_iso_weeks_across_the_new_year():
    rows = [row("A001", "2027-01-04", 70.0), row("A001", "2027-01-01", 60.0), row("A001", "2026-12-28", 50.0)]
    (group,) = aggregate(rows, GroupBy.AGENT)
    assert group.trend == (("2026-W53", 55.0), ("2027-W01", 70.0))
    assert group.score_change == 15.0


def test_calls_without_a_date_count_but_stay_out_of_the_trend():
    (group,) = aggregate([row("A001", None, 40.0), row("A001", "2026-11-16", 80.0)], GroupBy.AGENT)
    assert group.calls == 2 and group.score == 60.0
    assert group.trend == (("2026-W47", 80.0),)


def test_sparkline_uses_the_fixed_0_to_100_scale():
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"
    assert sparkline([]) == ""


def test_table_shows_trend_and_signed_change():
    console = Console(record=True, width=200)
    console.print(rows_to_table(aggregate(ROWS, GroupBy.AGENT), GroupBy.AGENT))
    text = console.export_text()
    a001 = next(line for line in text.splitlines() if "A001" in line)
    assert "▆▇" in a001 and "+15.0" in a001 and "250" in a001
    a002 = next(line for line in text.splitlines() if "A002" in line)
    assert "+" not in a002  # no change with one week


def test_qa_figures_are_means_over_the_reports_that_have_them_and_unscored_calls_stay_out():
    qa = {"talk_listen_ratio": 1.5, "turns": {"agent": 9, "customer": 8}, "first_response_s": 2.0, "hold_s": 30.0,
          "rate_gap": -10.0}
    rows = [
        {**row("A001", "2026-11-16", 80.0), "report": {"qa": qa}},
        {**row("A001", "2026-11-17", 60.0), "report": {"qa": {**qa, "talk_listen_ratio": None, "hold_s": 0.0}}},
        {**row("A001", "2026-11-18", 70.0), "report": {}},  # stored before reports had "qa"
        {**row("A001", "2026-11-24", None), "report": {"qa": qa}},  # not scored (no agent speech)
    ]
    (group,) = aggregate(rows, GroupBy.AGENT)
    assert (group.calls, group.not_scored, group.score) == (4, 1, 70.0)
    assert group.trend == (("2026-W47", 70.0),)  # the unscored call is in no week's mean
    assert group.talk_listen == 1.5 and group.hold_s == 20.0 and group.first_response_s == 2.0
    assert group.rate_gap == -10.0
    console = Console(record=True, width=250)
    console.print(rows_to_table([group], GroupBy.AGENT))
    line = next(line for line in console.export_text().splitlines() if "A001" in line)
    assert "1.50" in line and "-10" in line and "20" in line


def test_reports_without_qa_show_a_dash():
    console = Console(record=True, width=250)
    console.print(rows_to_table(aggregate(ROWS, GroupBy.AGENT), GroupBy.AGENT))
    a002 = next(line for line in console.export_text().splitlines() if "A002" in line)
    assert a002.count("—") >= 4  # talk/listen, first response, hold, rate gap


# A call with nothing to measure is "not scored" (score.total null): it counts as a call, but a
# score of 90 it never earned must not lift the mean, and no score must not sink it.
def test_not_scored_calls_count_but_stay_out_of_every_score_figure():
    rows = [row("A001", "2026-11-16", 80.0), row("A001", "2026-11-17", None, speaking_rate=None),
            row("A001", "2026-11-24", None), row("A001", "2026-11-24", 60.0)]
    (group,) = aggregate(rows, GroupBy.AGENT)
    assert (group.calls, group.not_scored, group.score) == (4, 2, 70.0)
    assert group.trend == (("2026-W47", 80.0), ("2026-W48", 60.0)) and group.score_change == -20.0
    (lone,) = aggregate([row("A009", "2026-11-16", None)], GroupBy.AGENT)
    assert (lone.score, lone.trend, lone.score_change) == (None, (), None)
    console = Console(record=True, width=250)
    console.print(rows_to_table([group], GroupBy.AGENT))
    header, a001 = (line.split("┃" if "┃" in line else "│") for line in console.export_text().splitlines()
                    if "未评分" in line or "A001" in line)
    assert a001[header.index(next(h for h in header if "未评分" in h))].strip() == "2"

"""Review and appeal of a call's findings: the findings, the score after review, and the
workspace tables (reviews, appeals, audit, accounts, the call index) on a real SQLite file and
a real PostgreSQL server."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from coach.errors import StoreError
from coach.qa import accounts, callindex, review
from coach.qa.accounts import AccountError, Role
from coach.qa.callindex import CallQuery
from coach.qa.findings import added_finding, machine_findings, reviewed_score, why_not_rescorable
from coach.qa.review import Decision, ReviewError
from coach.qa.workspace import Workspace, recordings
from coach.scorecard import Measure, load_scorecard, parse_scorecard
from tests.fixtures.reports import FORBIDDEN_AT, make_walkthrough_report
from tests.fixtures.teamdb import CUSTOMER_UNSURE, UNSURE_LINE, build_team_db, scored
from tests.servers import postgres_server

CARD = load_scorecard()


@pytest.fixture(scope="module")
def walkthrough() -> dict:
    return scored(make_walkthrough_report("call.wav"))


# ----------------------------------------------------------------------------- findings
def test_findings_are_the_evidence_that_cost_points(walkthrough):
    keys = [f.key for f in machine_findings(walkthrough)]
    assert keys == ["rate", "silence@26.00", "script:等待后致歉（让您久等了）", "interruption@41.00",
                    f"forbidden@{FORBIDDEN_AT:.2f}", "forbidden@51.20"]
    forbidden = next(f for f in machine_findings(walkthrough) if f.key == "forbidden@50.00")
    assert (forbidden.rule, forbidden.severity, forbidden.items) == ("不知道", "major", ("服务禁语",))


def test_a_critical_phrase_is_one_finding_in_both_its_items(walkthrough):
    data = copy.deepcopy(make_walkthrough_report("call.wav"))
    data["phrases"][2]["severity"] = "critical"
    found = {f.key: f for f in machine_findings(scored(data))}
    assert found["forbidden@50.00"].items == ("服务禁语", "严重禁语（一票否决）")
    assert reviewed_score(scored(data), CARD).total == 0  # 一票否决
    assert reviewed_score(scored(data), CARD, {"forbidden@50.00"}).total > 0  # rejected: the call passes again


def test_rejecting_one_of_two_forbidden_phrases_gives_back_what_it_cost(walkthrough):
    # 服务禁语: 15 points, 10 per major hit: two hits lose all 15; one hit loses 10.
    assert walkthrough["score"]["total"] == pytest.approx(60.7)
    after = reviewed_score(walkthrough, CARD, {"forbidden@50.00"})
    assert after.total == pytest.approx(65.7)
    both = reviewed_score(walkthrough, CARD, {"forbidden@50.00", "forbidden@51.20"})
    assert both.total == pytest.approx(75.7)


def test_verdicts_and_added_findings(walkthrough):
    assert reviewed_score(walkthrough, CARD, {"rate"}).total == pytest.approx(60.7 + 15 - 10.7)
    extra = added_finding(1, Measure.SILENCE, 12.0, "客户等了 8 秒")
    assert reviewed_score(walkthrough, CARD, (), [extra]).total == pytest.approx(60.7 - 7.5)
    flat = added_finding(2, Measure.PITCH, None, "整通电话语调平淡")
    assert reviewed_score(walkthrough, CARD, (), [flat]).total == pytest.approx(60.7 - 10)


def test_nothing_reviewed_gives_the_machines_score_back_or_says_why_it_cannot(walkthrough):
    assert why_not_rescorable(walkthrough, CARD) is None
    assert reviewed_score(walkthrough, CARD).total == walkthrough["score"]["total"]
    other = parse_scorecard(Path(CARD_PATH()).read_text(encoding="utf-8").replace("deduct = 7.5             #", "deduct = 5 #", 1))
    assert "冷场" in why_not_rescorable(walkthrough, other)


def CARD_PATH():  # noqa: N802 — the bundled scorecard's file
    from coach.scorecard import DEFAULT_SCORECARD

    return DEFAULT_SCORECARD


def test_items_not_applicable_leave_the_denominator(walkthrough):
    data = copy.deepcopy(walkthrough)
    pitch = next(i for i in data["score"]["items"] if i["name"] == "语调")
    pitch.update(applicable=False, points=None)
    data["score"]["total"] = round(sum(i["points"] for i in data["score"]["items"] if i.get("points") is not None)
                                   / 90 * 100, 1)
    assert reviewed_score(data, CARD).total == data["score"]["total"]


def test_a_call_scored_with_an_item_not_applicable_rescores_on_the_same_rule(walkthrough):
    # The scoring itself leaves interruptions out (a recording they cannot be measured on): the
    # review's total must be the machine's, and a rejected finding gives back its share of 85, not of 100.
    data = copy.deepcopy(make_walkthrough_report("call.wav"))
    data["measurable"] = {"interruption": {"measurable": False, "reason": "单声道录音，无法判断抢话"}}
    data = scored(data)
    assert data["score"]["possible"] == 85 and why_not_rescorable(data, CARD) is None
    assert reviewed_score(data, CARD).total == data["score"]["total"]
    earned = data["score"]["earned"]
    forbidden = f"forbidden@{FORBIDDEN_AT:.2f}"
    deduction = walkthrough["score"]["total"] - reviewed_score(walkthrough, CARD, {forbidden}).total
    assert reviewed_score(data, CARD, {forbidden}).total == round(100 * (earned - deduction) / 85, 1)


# ----------------------------------------------------------------------------- the workspace tables
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def team(request, tmp_path):
    if request.param == "sqlite":
        target = str(tmp_path / "qa.db")
        build_team_db(target, tmp_path)
        yield target
        return
    with postgres_server() as url:
        build_team_db(url, tmp_path)
        yield url


def ids(ws: Workspace) -> dict[str, int]:
    with ws.reading() as conn:
        return {r.call_id: r.id for r in conn.execute(sa.select(recordings.c.id, recordings.c.call_id))}


def report_of(ws: Workspace, row_id: int) -> dict:
    with ws.reading() as conn:
        return json.loads(conn.execute(sa.select(recordings.c.report).where(recordings.c.id == row_id)).scalar())


def test_review_appeal_and_audit_on_both_databases(team):
    with Workspace(team) as ws:
        callindex.sync(ws, CARD)
        call = ids(ws)["a001-1102"]
        data = report_of(ws, call)
        review.decide(ws, CARD, call, data, "forbidden@50.00", Decision.REJECT, "客户在复述", "王质检")
        row = callindex.list_calls(ws, CallQuery(agent="A001", sort="date", descending=False))[0]
        assert (row["machine_score"], row["score"], row["reviewed"]) == (pytest.approx(60.7), pytest.approx(65.7), True)

        accounts.add_user(ws, "A001", Role.AGENT, "agent-pass-123", actor="管理员")
        review.appeal(ws, CARD, call, data, "silence@26.00", "我说了请您稍等", "A001")
        with pytest.raises(ReviewError):
            review.appeal(ws, CARD, call, data, "silence@26.00", "再申诉一次", "A001")  # one open appeal per finding
        with pytest.raises(ReviewError):
            review.appeal(ws, CARD, call, data, "forbidden@50.00", "已驳回的", "A001")
        (pending,) = review.open_appeals(ws)
        review.answer_appeal(ws, CARD, pending.id, data, True, "录音里确实有", "王质检")
        state = review.call_state(ws, CARD, call, data)
        assert state.score == pytest.approx(73.2) and state.machine_score == pytest.approx(60.7)
        assert [(e.actor, e.action.value) for e in reversed(state.audit)] == [
            ("王质检", "reject"), ("A001", "appeal"), ("王质检", "appeal_accepted")]
        first = state.audit[-1]
        assert "不知道" in first.what and "60.7 → 65.7" in first.what and first.why == "客户在复述"
        assert review.open_appeals(ws) == [] and review.open_appeals(ws, "A001")[0].status.label == "已通过"

        review.add_finding(ws, CARD, call, data, Measure.FORBIDDEN, 3.0, "critical", "骂了客户", "王质检")
        assert review.call_state(ws, CARD, call, data).score == 0  # a critical phrase fails the call
        (added,) = [f for f in review.call_state(ws, CARD, call, data).findings if f.added]
        review.remove_added(ws, CARD, call, data, int(added.key.split(":")[1]), "听错了", "王质检")
        assert review.call_state(ws, CARD, call, data).score == pytest.approx(73.2)

        misfire = {(m.measure, m.rule): m for m in callindex.misfires(ws)}
        assert (misfire[(Measure.FORBIDDEN, "不知道")].rejected, misfire[(Measure.FORBIDDEN, "不知道")].found) == (1, 4)
        assert misfire[(Measure.SILENCE, "冷场")].rejected == 1
        rows = list(review.audit_entries(ws))
        assert [r["action"] for r in rows][:3] == ["驳回发现", "添加用户", "提出申诉"]
        assert all(r["call_id"] == "a001-1102" for r in rows if r["recording_id"])


def test_search_filters_sorting_and_agents_on_both_databases(team):
    with Workspace(team) as ws:
        callindex.sync(ws, CARD)
        found = callindex.list_calls(ws, CallQuery(q="不清楚"))
        assert [r["call_id"] for r in found] == ["a002-1112"]
        customer, agent = callindex.quotes(ws, [found[0]["recording_id"]], "不清楚")[found[0]["recording_id"]]
        assert (customer["speaker"], customer["text"]) == ("customer", CUSTOMER_UNSURE)  # in time order
        assert (agent["speaker"], agent["text"]) == ("agent", UNSURE_LINE)
        assert [r["call_id"] for r in callindex.list_calls(ws, CallQuery(q="也不清"))] == ["a002-1112"]
        assert [r["call_id"] for r in callindex.list_calls(ws, CallQuery(q="套餐"))] == ["a002-1112"]  # two characters
        assert [r["call_id"] for r in callindex.list_calls(ws, CallQuery(q="餐"))] == ["a002-1112"]  # one
        assert callindex.list_calls(ws, CallQuery(q="不清楚吧")) == []  # every pair is there, not in this order
        assert callindex.list_calls(ws, CallQuery(q="%")) == []  # what a user types is text, not a pattern
        assert callindex.list_calls(ws, CallQuery(q='"')) == [] and callindex.list_calls(ws, CallQuery(q="AND")) == []
        assert callindex.list_calls(ws, CallQuery(q="13812345678")) == []  # the index holds masked text
        by_team = callindex.list_calls(ws, CallQuery(team="二组"))
        assert {r["call_id"] for r in by_team} == {"b001-1113", "b001-1116", "broken"}
        forbidden = {r["call_id"] for r in callindex.list_calls(ws, CallQuery(kind=Measure.FORBIDDEN))}
        assert forbidden == {"a001-1102", "a001-1110", "a002-1112", "b001-1113", "b001-1116"}
        ascending = [r["score"] for r in callindex.list_calls(ws, CallQuery(sort="score", descending=False))]
        assert ascending[:-2] == sorted(ascending[:-2]) and ascending[-2:] == [None, None]  # not scored: last
        assert [r["call_id"] for r in callindex.list_calls(ws, CallQuery(sort="call", descending=False))][:2] \
            == ["a001-1102", "a001-1110"]
        assert {r["agent_id"] for r in callindex.list_calls(ws, CallQuery(only_agent="A002"))} == {"A002"}

        a001, a002, b001 = callindex.agents_overview(ws)
        assert [w.label for w in a001.weeks] == ["2026-W45", "2026-W46", "2026-W47"]
        assert a001.change == pytest.approx(a001.weeks[-1].score - a001.weeks[0].score)
        assert a001.costly[0][0] == "服务禁语" and a001.talk_listen == pytest.approx(1.25)
        assert (b001.calls, b001.failed, b001.not_scored) == (2, 1, 1)
        assert b001.score == pytest.approx(52.7) and b001.talk_listen == pytest.approx(1.25)  # old report: no qa


def test_the_index_follows_new_relabelled_and_deleted_recordings(tmp_path):
    target = str(tmp_path / "qa.db")
    build_team_db(target, tmp_path)
    with Workspace(target) as ws:
        callindex.sync(ws, CARD)
        with ws.writing() as conn:  # what a batch run does: a corrected manifest, a new analysis, a deletion
            conn.execute(sa.update(recordings).where(recordings.c.call_id == "a001-1117").values(agent_id="A009"))
            conn.execute(sa.update(recordings).where(recordings.c.call_id == "a001-1110")
                         .values(analysed_at="2026-11-21T08:00:00Z", report=json.dumps(
                             {**scored(make_walkthrough_report("x.wav")), "qa": {"hold_s": 42.0}})))
            conn.execute(sa.delete(recordings).where(recordings.c.call_id == "broken"))
            conn.execute(sa.update(recordings).where(recordings.c.call_id == "a002-1112")
                         .values(analysed_at="2026-11-21T08:00:00Z",
                                 report=json.dumps(scored(make_walkthrough_report("y.wav")))))
        assert callindex.list_calls(ws, CallQuery(q="不清楚"))  # until the index catches up
        assert callindex.sync(ws, CARD) == 2  # only the re-analysed calls are read again
        assert callindex.list_calls(ws, CallQuery(q="不清楚")) == []  # its old words are out of the search
        rows = {r["call_id"]: r for r in callindex.list_calls(ws, CallQuery())}
        assert rows["a001-1117"]["agent_id"] == "A009" and rows["a001-1110"]["hold_s"] == 42.0
        assert "broken" not in rows


def test_accounts_hash_passwords_and_refuse_weak_ones(tmp_path):
    target = str(tmp_path / "qa.db")
    build_team_db(target, tmp_path)
    with Workspace(target) as ws:
        user = accounts.add_user(ws, "李质检", Role.REVIEWER, "长长的密码 horse staple", actor="cli")
        assert user.can_review and not user.can_manage and user.agent_id is None
        with ws.reading() as conn:
            stored = conn.execute(sa.text("SELECT password_hash FROM ws_users")).scalar()
        assert stored.startswith("scrypt$131072$8$1$") and "horse" not in stored
        assert accounts.authenticate(ws, "李质检", "长长的密码 horse staple") == user
        assert accounts.authenticate(ws, "李质检", "wrong password!") is None
        assert accounts.authenticate(ws, "nobody", "长长的密码 horse staple") is None
        for name, password in (("A002", "short"), ("A002", "A002-is-my-password"), ("bad name", "long enough pw")):
            with pytest.raises(AccountError):
                accounts.add_user(ws, name, Role.AGENT, password, actor="cli")
        with pytest.raises(AccountError):
            accounts.add_user(ws, "李质检", Role.AGENT, "another long one", actor="cli")
        accounts.change_user(ws, "李质检", actor="cli", disabled=True)
        assert accounts.authenticate(ws, "李质检", "长长的密码 horse staple") is None
        assert not accounts.has_active_users(ws)


def test_a_read_only_database_is_shown_and_never_written(tmp_path):
    target = tmp_path / "qa.db"
    build_team_db(str(target), tmp_path)
    with Workspace(str(target)) as ws:  # the workspace tables exist, with a review in them
        callindex.sync(ws, CARD)
        call = ids(ws)["a001-1102"]
        review.decide(ws, CARD, call, report_of(ws, call), "rate", Decision.REJECT, "", "王质检")
    for leftover in tmp_path.glob("qa.db-*"):
        leftover.unlink()  # a copy handed over without its WAL files
    os.chmod(target, stat.S_IRUSR)
    before = target.read_bytes()
    try:
        # Root may write any file, so as root the read-only opening is asked for rather than detected.
        with Workspace(str(target), read_only=os.geteuid() == 0) as ws:
            assert not ws.writable and "read-only" in ws.read_only_reason
            callindex.sync(ws, CARD)  # into a private scratch file
            row = next(r for r in callindex.list_calls(ws, CallQuery()) if r["call_id"] == "a001-1102")
            assert row["reviewed"] and row["score"] > row["machine_score"]
            with pytest.raises(StoreError, match="read-only"):
                review.decide(ws, CARD, call, report_of(ws, call), "rate", Decision.CONFIRM, "", "王质检")
        assert target.read_bytes() == before
    finally:
        os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)

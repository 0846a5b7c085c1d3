"""Review (复核) and appeal (申诉) of one call's findings, with every change in the audit trail.

A reviewer confirms or rejects each finding with an optional comment and adds findings the
machine missed; an agent appeals a finding of their own call with a reason, and a reviewer
accepts the appeal (the finding is then rejected) or turns it down.  Each change is written
with its audit entry (who, when, what — with the score before and after — and why) in one
transaction; the call's index row is then brought up to date (`coach.qa.callindex.reindex`),
so the lists and the per-agent figures use the reviewed score at once.
"""

from __future__ import annotations

import csv
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from coach.errors import CoachError
from coach.qa.callindex import CallReview, review_state, effective_score, reindex
from coach.qa.export import safe_cell
from coach.qa.findings import (
    SEVERITY_LABELS, Finding, added_finding, applicable_items, machine_findings, why_not_rescorable,
)
from coach.qa.workspace import Action, Workspace, added, appeals, audit, now, record, recordings, reviews
from coach.scorecard import Measure, Scorecard
from coach.writers.base import atomic_text
from coach.writers.terminal import clock, points

MAX_TEXT_CHARS = 2000  # a comment, reason or note


class Decision(str, enum.Enum):
    CONFIRM = "confirm"
    REJECT = "reject"


class AppealStatus(str, enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {AppealStatus.OPEN: "待处理", AppealStatus.ACCEPTED: "已通过", AppealStatus.REJECTED: "已驳回"}[self]


class ReviewError(CoachError):
    """A review or appeal that cannot be made (the message is shown on the page, in Chinese)."""


@dataclass(frozen=True)
class Review:
    decision: Decision
    comment: str
    reviewer: str
    at: str


@dataclass(frozen=True)
class Appeal:
    id: int
    recording_id: int
    finding_key: str
    agent: str
    reason: str
    at: str
    status: AppealStatus
    decided_by: str | None
    decided_at: str | None
    answer: str | None


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    action: Action
    target: str
    what: str
    why: str
    recording_id: int | None = None


@dataclass(frozen=True)
class CallState:
    """Everything the call page shows beside the report."""

    findings: tuple[Finding, ...]  # the machine's, then the reviewers' additions
    reviews: dict[str, Review]
    appeals: tuple[Appeal, ...]
    audit: tuple[AuditEntry, ...]
    machine_score: float | None
    score: float | None  # after review (the machine's while nothing is reviewed)
    not_rescorable: str | None  # why the score cannot be recomputed on this scorecard
    changed_items: tuple[tuple[str, float, float, float], ...] = ()  # (item, machine, reviewed, max) that moved

    def appeals_of(self, key: str) -> list[Appeal]:
        return [a for a in self.appeals if a.finding_key == key]

    @property
    def reviewed(self) -> bool:
        return bool(self.reviews) or any(f.added for f in self.findings)


def call_state(ws: Workspace, scorecard: Scorecard, recording_id: int, report: dict[str, Any]) -> CallState:
    machine = (report.get("score") or {}).get("total")
    if not ws.has_tables:
        return CallState(tuple(machine_findings(report)), {}, (), (), machine, machine,
                         why_not_rescorable(report, scorecard))
    with ws.reading() as conn:
        state = review_state(conn, [recording_id]).get(recording_id, CallReview({}, (), 0))
        rows = conn.execute(sa.select(reviews).where(reviews.c.recording_id == recording_id)).all()
        appeal_rows = conn.execute(sa.select(appeals).where(appeals.c.recording_id == recording_id)
                                   .order_by(appeals.c.id)).all()
        audit_rows = conn.execute(sa.select(audit).where(audit.c.recording_id == recording_id)
                                  .order_by(audit.c.id.desc())).all()
    reviewed = effective_score(report, scorecard, state)
    machine_points = {i["name"]: float(i["points"]) for i in applicable_items(report)}
    changed = tuple((i.name, machine_points[i.name], i.points, i.max_points) for i in (reviewed.items if reviewed else ())
                    if abs(i.points - machine_points.get(i.name, i.points)) > 0.04)
    return CallState(
        findings=tuple(machine_findings(report)) + state.added,
        reviews={r.finding_key: Review(Decision(r.decision), r.comment, r.reviewer, r.at) for r in rows},
        appeals=tuple(_appeal(r) for r in appeal_rows),
        audit=tuple(_entry(r) for r in audit_rows),
        machine_score=machine, score=reviewed.total if reviewed else machine,
        not_rescorable=why_not_rescorable(report, scorecard), changed_items=changed,
    )


# ----------------------------------------------------------------------------- reviewers
def decide(ws: Workspace, scorecard: Scorecard, recording_id: int, report: dict[str, Any], finding_key: str,
           decision: Decision, comment: str, actor: str) -> None:
    """Confirm or reject a machine finding (again: the last decision is the one that counts)."""
    finding = _machine_finding(report, finding_key)
    comment = _text(comment, "评语")
    with ws.writing() as conn:
        before, after = _scores(conn, scorecard, recording_id, report, decide=(finding_key, decision))
        _upsert_review(conn, recording_id, finding, decision, comment, actor)
        record(conn, actor, Action.CONFIRM if decision is Decision.CONFIRM else Action.REJECT,
               recording_id=recording_id, target=finding_key, what=_what(finding, before, after), why=comment)
    reindex(ws, scorecard, [recording_id])


def add_finding(ws: Workspace, scorecard: Scorecard, recording_id: int, report: dict[str, Any], measure: Measure,
                start: float | None, severity: str, note: str, actor: str) -> None:
    """A finding the machine missed: when, what kind, and a note (required: it is all there is)."""
    note = _text(note, "说明", required=True)
    if start is not None and not 0 <= start <= float(report.get("duration_s") or 0) + 1:
        raise ReviewError(f"时间 {clock(start)} 不在通话之内（通话时长 {clock(float(report.get('duration_s') or 0))}）")
    if severity not in ("", *SEVERITY_LABELS):
        raise ReviewError(f"严重程度 {severity!r} 无效")
    with ws.writing() as conn:
        new = added_finding(0, measure, start, note, severity)
        before, after = _scores(conn, scorecard, recording_id, report, add=new)
        row_id = conn.execute(sa.insert(added).values(recording_id=recording_id, measure=measure.value, start=start,
                                                      severity=new.severity, note=note, author=actor, at=now(),
                                                      removed=False)).inserted_primary_key[0]
        record(conn, actor, Action.ADD_FINDING, recording_id=recording_id, target=f"added:{row_id}",
               what=_what(new, before, after), why=note)
    reindex(ws, scorecard, [recording_id])


def remove_added(ws: Workspace, scorecard: Scorecard, recording_id: int, report: dict[str, Any], added_id: int,
                 why: str, actor: str) -> None:
    why = _text(why, "原因")
    with ws.writing() as conn:
        row = conn.execute(sa.select(added).where(added.c.id == added_id, added.c.recording_id == recording_id,
                                                  added.c.removed.is_(False))).first()
        if row is None:
            raise ReviewError("没有这条补充的发现（可能已被撤销）")
        before, after = _scores(conn, scorecard, recording_id, report, remove=f"added:{added_id}")
        conn.execute(sa.update(added).where(added.c.id == added_id).values(removed=True))
        pending = conn.scalars(sa.select(appeals.c.id).where(
            appeals.c.recording_id == recording_id, appeals.c.finding_key == f"added:{added_id}",
            appeals.c.status == AppealStatus.OPEN.value)).all()
        for appeal_id in pending:
            _close_appeal(conn, appeal_id, AppealStatus.ACCEPTED, actor, "补充的发现已撤销")
        finding = added_finding(added_id, Measure(row.measure), row.start, row.note, row.severity)
        record(conn, actor, Action.REMOVE_FINDING, recording_id=recording_id, target=f"added:{added_id}",
               what=_what(finding, before, after), why=why)
    reindex(ws, scorecard, [recording_id])


def answer_appeal(ws: Workspace, scorecard: Scorecard, appeal_id: int, report: dict[str, Any], accept: bool,
                  answer: str, actor: str) -> int:
    """Accept an appeal (its finding is rejected) or turn it down; returns the call's recording id."""
    answer = _text(answer, "答复")
    with ws.writing() as conn:
        row = conn.execute(sa.select(appeals).where(appeals.c.id == appeal_id)).first()
        if row is None or row.status != AppealStatus.OPEN.value:
            raise ReviewError("这条申诉已处理或不存在")
        recording_id, key = row.recording_id, row.finding_key
        finding = _any_finding(conn, report, recording_id, key)
        if accept and not finding.added:
            before, after = _scores(conn, scorecard, recording_id, report, decide=(key, Decision.REJECT))
            _upsert_review(conn, recording_id, finding, Decision.REJECT, f"申诉通过：{answer}" if answer else "申诉通过",
                           actor)
        elif accept:
            before, after = _scores(conn, scorecard, recording_id, report, remove=key)
            conn.execute(sa.update(added).where(added.c.id == int(key.split(":")[1])).values(removed=True))
        else:
            before = after = _scores(conn, scorecard, recording_id, report)[0]
        _close_appeal(conn, appeal_id, AppealStatus.ACCEPTED if accept else AppealStatus.REJECTED, actor, answer)
        record(conn, actor, Action.APPEAL_ACCEPTED if accept else Action.APPEAL_REJECTED, recording_id=recording_id,
               target=key, what=_what(finding, before, after) + f"（{row.agent} 的申诉：{row.reason}）", why=answer)
    reindex(ws, scorecard, [recording_id])
    return recording_id


# ----------------------------------------------------------------------------- agents
def appeal(ws: Workspace, scorecard: Scorecard, recording_id: int, report: dict[str, Any], finding_key: str,
           reason: str, agent: str) -> None:
    """An agent contests a finding of their own call (the caller checks that it is theirs)."""
    reason = _text(reason, "申诉理由", required=True)
    with ws.writing() as conn:
        finding = _any_finding(conn, report, recording_id, finding_key)
        current = conn.execute(sa.select(reviews.c.decision).where(
            reviews.c.recording_id == recording_id, reviews.c.finding_key == finding_key)).scalar()
        if current == Decision.REJECT.value:
            raise ReviewError("这条发现已被驳回，不需要申诉")
        pending = conn.execute(sa.select(appeals.c.id).where(
            appeals.c.recording_id == recording_id, appeals.c.finding_key == finding_key,
            appeals.c.status == AppealStatus.OPEN.value)).first()
        if pending:
            raise ReviewError("这条发现已有待处理的申诉")
        conn.execute(sa.insert(appeals).values(recording_id=recording_id, finding_key=finding_key, agent=agent,
                                               reason=reason, at=now(), status=AppealStatus.OPEN.value))
        record(conn, agent, Action.APPEAL, recording_id=recording_id, target=finding_key,
               what=_describe(finding), why=reason)
    reindex(ws, scorecard, [recording_id])


def open_appeals(ws: Workspace, only_agent_user: str | None = None, limit: int = 200) -> list[Appeal]:
    """Appeals waiting for a reviewer (or, for an agent, all of their own), newest first."""
    if not ws.has_tables:
        return []
    select = sa.select(appeals).order_by(appeals.c.id.desc()).limit(limit)
    select = select.where(appeals.c.agent == only_agent_user) if only_agent_user else \
        select.where(appeals.c.status == AppealStatus.OPEN.value)
    with ws.reading() as conn:
        return [_appeal(r) for r in conn.execute(select)]


def count_open_appeals(ws: Workspace) -> int:
    if not ws.has_tables:
        return 0
    with ws.reading() as conn:
        return conn.execute(sa.select(sa.func.count()).where(appeals.c.status == AppealStatus.OPEN.value)).scalar()


def appeal_by_id(ws: Workspace, appeal_id: int) -> Appeal | None:
    if not ws.has_tables:
        return None
    with ws.reading() as conn:
        row = conn.execute(sa.select(appeals).where(appeals.c.id == appeal_id)).first()
    return _appeal(row) if row else None


# ----------------------------------------------------------------------------- the audit trail, exported
AUDIT_COLUMNS = ("at", "actor", "action", "recording_id", "call_id", "agent_id", "target", "what", "why")


def audit_entries(ws: Workspace) -> Iterator[dict[str, Any]]:
    """Every audit entry, oldest first, with the call id and agent of its call."""
    if not ws.has_tables:
        return
    r = recordings.c
    select = (sa.select(audit, r.call_id, r.agent_id).outerjoin(recordings, r.id == audit.c.recording_id)
              .order_by(audit.c.id).execution_options(yield_per=500))
    with ws.reading() as conn:
        for row in conn.execute(select):
            yield {**row._asdict(), "action": Action(row.action).label}


def write_audit_csv(ws: Workspace, stream: Any) -> None:
    """The audit trail as CSV, cells that a spreadsheet would run as a formula neutralised."""
    writer = csv.DictWriter(stream, fieldnames=AUDIT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for entry in audit_entries(ws):
        writer.writerow({k: safe_cell(v) for k, v in entry.items()})


def export_audit(ws: Workspace, path: str | Path) -> None:
    with atomic_text(Path(path), "audit export", encoding="utf-8-sig", newline="") as f:
        write_audit_csv(ws, f)


# ----------------------------------------------------------------------------- helpers
def _scores(conn: Connection, scorecard: Scorecard, recording_id: int, report: dict[str, Any], *,
            decide: tuple[str, Decision] | None = None, add: Finding | None = None,
            remove: str | None = None) -> tuple[float | None, float | None]:
    """The call's score before and after one change (the machine's when it cannot be rescored)."""
    state = review_state(conn, [recording_id]).get(recording_id, CallReview({}, (), 0))
    decisions = dict(state.decisions)
    if decide:
        decisions[decide[0]] = decide[1].value
    extra = tuple(f for f in state.added if f.key != remove) + ((add,) if add else ())
    machine = (report.get("score") or {}).get("total")

    def total(review: CallReview) -> float | None:
        scored = effective_score(report, scorecard, review)
        return scored.total if scored else machine

    return total(state), total(CallReview(decisions, extra, 0))


def _upsert_review(conn: Connection, recording_id: int, finding: Finding, decision: Decision, comment: str,
                   actor: str) -> None:
    values = {"recording_id": recording_id, "finding_key": finding.key, "measure": finding.measure.value,
              "rule": finding.rule, "decision": decision.value, "comment": comment, "reviewer": actor, "at": now()}
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(reviews).values(values)
    conn.execute(insert.on_conflict_do_update(
        index_elements=[reviews.c.recording_id, reviews.c.finding_key],
        set_={k: insert.excluded[k] for k in ("decision", "comment", "reviewer", "at")}))


def _close_appeal(conn: Connection, appeal_id: int, status: AppealStatus, actor: str, answer: str) -> None:
    conn.execute(sa.update(appeals).where(appeals.c.id == appeal_id)
                 .values(status=status.value, decided_by=actor, decided_at=now(), answer=answer))


def _machine_finding(report: dict[str, Any], key: str) -> Finding:
    found = next((f for f in machine_findings(report) if f.key == key), None)
    if found is None:
        raise ReviewError("这通电话没有这条发现（报告可能已重新分析）：请刷新页面")
    return found


def _any_finding(conn: Connection, report: dict[str, Any], recording_id: int, key: str) -> Finding:
    if not key.startswith("added:"):
        return _machine_finding(report, key)
    state = review_state(conn, [recording_id]).get(recording_id, CallReview({}, (), 0))
    found = next((f for f in state.added if f.key == key), None)
    if found is None:
        raise ReviewError("没有这条补充的发现（可能已被撤销）")
    return found


def _describe(finding: Finding) -> str:
    when = f" {clock(finding.start)}" if finding.start is not None else ""
    rule = f"「{finding.rule}」" if finding.rule and finding.rule != finding.kind else ""
    return f"{finding.kind}{rule}{when}"


def _what(finding: Finding, before: float | None, after: float | None) -> str:
    change = "" if before == after else f"，得分 {_score(before)} → {_score(after)}"
    return _describe(finding) + change


def _score(value: float | None) -> str:
    return "未评分" if value is None else points(value)


def _text(value: str, what: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise ReviewError(f"请填写{what}")
    if len(value) > MAX_TEXT_CHARS:
        raise ReviewError(f"{what}太长（{len(value)} 字）：请控制在 {MAX_TEXT_CHARS} 字以内")
    return value


def _appeal(row: sa.Row) -> Appeal:
    return Appeal(row.id, row.recording_id, row.finding_key, row.agent, row.reason, row.at, AppealStatus(row.status),
                  row.decided_by, row.decided_at, row.answer)


def _entry(row: sa.Row) -> AuditEntry:
    return AuditEntry(row.at, row.actor, Action(row.action), row.target, row.what, row.why, row.recording_id)


"""The index of the calls that `coach serve` queries: one flat row per call (``ws_calls``),
its transcript lines (``ws_lines``, masked), its findings with their review decision
(``ws_findings``) and the points each scorecard item lost (``ws_item_loss``).

It is built from ``recordings`` and the reviews, and kept current by `sync` (new, re-analysed,
re-labelled and deleted recordings) and `reindex` (a call just reviewed).  Every page is then
one or two SQL queries with the aggregation in the database — the per-agent page of a
100,000-call database no longer reads 100,000 reports (``bench/bench_serve.py``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coach.masking import mask_text
from coach.qa.findings import (
    Finding, ItemScore, ReviewedScore, added_finding, applicable_items, lost_points, machine_findings, reviewed_score,
    why_not_rescorable,
)
from coach.qa.workspace import (
    GRAMS, LINE_KEY, Workspace, added, appeals, calls, findings, item_loss, lines, recordings, reviews,
)
from coach.scorecard import Measure, Scorecard

log = logging.getLogger(__name__)

INDEX_VERSION = 1  # raise when what is indexed changes: every call is then indexed again
BATCH = 500  # recordings read and written per transaction while indexing
MISSING = "—"  # the group of calls without an agent id
LOW_SCORE, FAIR_SCORE = 60.0, 80.0  # list colours: below 60 red, below 80 amber
_META = ("source", "call_id", "agent_id", "team", "call_date", "status", "error")


# ----------------------------------------------------------------------------- keeping it current
def sync(ws: Workspace, scorecard: Scorecard, progress: Callable[[int, int], None] | None = None) -> int:
    """Bring the index up to date with ``recordings``; returns how many calls were indexed again."""
    stale, relabelled, gone = (_changes_in_sql if ws.cache is ws.main else _changes_in_python)(ws)
    if gone or relabelled:
        with ws.writing(ws.cache) as conn:
            _delete(conn, gone)
            for meta in relabelled:
                i = meta.pop("id")
                conn.execute(sa.update(calls).where(calls.c.recording_id == i)
                             .values(**meta, week=_week(meta["call_date"])))
                conn.execute(sa.update(item_loss).where(item_loss.c.recording_id == i)
                             .values(agent_id=meta["agent_id"]))
    for n in range(0, len(stale), BATCH):
        reindex(ws, scorecard, stale[n:n + BATCH])
        if progress:
            progress(min(n + BATCH, len(stale)), len(stale))
    return len(stale)


_Changes = tuple[list[int], list[dict[str, Any]], list[int]]  # (to index again, new labels, deleted)


def _changes_in_sql(ws: Workspace) -> _Changes:
    """What changed since the last sync, found by joins in the database (~0.1 s on 100,000 calls)."""
    r, c = recordings.c, calls.c
    joined = recordings.outerjoin(calls, c.recording_id == r.id)
    differs = sa.or_(*[c[m].is_distinct_from(r[m]) for m in _META])
    with ws.reading() as conn:
        stale = conn.scalars(sa.select(r.id).select_from(joined).where(sa.or_(
            c.recording_id.is_(None), c.analysed_at != r.analysed_at, c.index_version != INDEX_VERSION))).all()
        relabelled = [row._asdict() for row in conn.execute(
            sa.select(r.id, *[r[m] for m in _META]).select_from(joined)
            .where(c.analysed_at == r.analysed_at, c.index_version == INDEX_VERSION, differs))]
        gone = conn.scalars(sa.select(c.recording_id).select_from(calls.outerjoin(recordings, r.id == c.recording_id))
                            .where(r.id.is_(None))).all()
    return list(stale), relabelled, list(gone)


def _changes_in_python(ws: Workspace) -> _Changes:
    """The same, for an index kept apart from a read-only database: both sides read and compared here."""
    r, c = recordings.c, calls.c
    with ws.reading() as conn:
        current = {row.id: row for row in conn.execute(sa.select(r.id, r.analysed_at, *[r[m] for m in _META]))}
    with ws.reading(ws.cache) as conn:
        indexed = {row.recording_id: row for row in conn.execute(
            sa.select(c.recording_id, c.analysed_at, c.index_version, *[c[m] for m in _META]))}
    stale = [i for i, row in current.items() if i not in indexed or indexed[i].analysed_at != row.analysed_at
             or indexed[i].index_version != INDEX_VERSION]
    fresh = set(current) - set(stale)
    relabelled = [{"id": i, **{m: getattr(current[i], m) for m in _META}} for i in fresh
                  if any(getattr(indexed[i], m) != getattr(current[i], m) for m in _META)]
    return stale, relabelled, [i for i in indexed if i not in current]


def reindex(ws: Workspace, scorecard: Scorecard, ids: Sequence[int]) -> None:
    """Index these recordings again from their reports and reviews (after a review, a new analysis)."""
    if not ids:
        return
    with ws.reading() as conn:
        rows = conn.execute(sa.select(recordings).where(recordings.c.id.in_(ids))).all()
        state = review_state(conn, ids) if ws.has_tables else {}
    entries = [_entry(row, scorecard, state.get(row.id, _NO_REVIEW)) for row in rows]
    with ws.writing(ws.cache) as conn:
        _delete(conn, ids)
        for table, key in ((calls, "call"), (lines, "lines"), (findings, "findings"), (item_loss, "loss")):
            values = [v for e in entries for v in (e[key] if isinstance(e[key], list) else [e[key]])]
            if values:
                conn.execute(sa.insert(table), values)
        if conn.dialect.name == "sqlite":
            _add_grams(conn, [line for e in entries for line in e["lines"]])


@dataclass(frozen=True)
class CallReview:
    """A call's reviews as the index needs them: decisions by finding key, reviewer's findings, open appeals."""

    decisions: dict[str, str]
    added: tuple[Finding, ...]
    open_appeals: int


_NO_REVIEW = CallReview({}, (), 0)


def review_state(conn: Connection, ids: Sequence[int]) -> dict[int, CallReview]:
    decisions: dict[int, dict[str, str]] = defaultdict(dict)
    for row in conn.execute(sa.select(reviews.c.recording_id, reviews.c.finding_key, reviews.c.decision)
                            .where(reviews.c.recording_id.in_(ids))):
        decisions[row.recording_id][row.finding_key] = row.decision
    extra: dict[int, list[Finding]] = defaultdict(list)
    a = added.c
    for row in conn.execute(sa.select(added).where(a.recording_id.in_(ids), a.removed.is_(False)).order_by(a.id)):
        extra[row.recording_id].append(added_finding(row.id, Measure(row.measure), row.start, row.note, row.severity))
    pending = dict(conn.execute(sa.select(appeals.c.recording_id, sa.func.count())
                                .where(appeals.c.recording_id.in_(ids), appeals.c.status == "open")
                                .group_by(appeals.c.recording_id)).all())
    return {i: CallReview(decisions.get(i, {}), tuple(extra.get(i, ())), pending.get(i, 0))
            for i in set(decisions) | set(extra) | set(pending)}


def effective_score(report: dict[str, Any], scorecard: Scorecard, review: CallReview) -> ReviewedScore | None:
    """The score after review, or None when nothing was reviewed (or the call cannot be rescored)."""
    if not review.decisions and not review.added:
        return None
    if why_not_rescorable(report, scorecard):
        return None
    rejected = {key for key, decision in review.decisions.items() if decision == "reject"}
    return reviewed_score(report, scorecard, rejected, review.added)


def _entry(row: sa.Row, scorecard: Scorecard, review: CallReview) -> dict[str, Any]:
    meta = {m: getattr(row, m) for m in _META}
    call = {"recording_id": row.id, "analysed_at": row.analysed_at, "index_version": INDEX_VERSION, **meta,
            "week": _week(row.call_date), "duration_s": row.duration_s, "speaking_rate": row.speaking_rate,
            "silences": row.silences, "interruptions": row.interruptions, "forbidden_hits": row.forbidden_hits,
            "machine_score": None, "score": None, "not_scored": None, "reviewed": False,
            "open_appeals": review.open_appeals, **dict.fromkeys(_QA_COLUMNS)}
    entry: dict[str, Any] = {"call": call, "lines": [], "findings": [], "loss": []}
    if row.report is None:
        return entry
    report = json.loads(row.report)
    score = report.get("score") or {}
    reviewed = effective_score(report, scorecard, review)
    call.update(machine_score=score.get("total"), not_scored=_not_scored_reason(report),
                reviewed=bool(review.decisions or review.added), **_qa(report))
    call["score"] = reviewed.total if reviewed else score.get("total")
    entry["lines"] = [{"recording_id": row.id, "n": n, "speaker": u["speaker"], "start": u["start"],
                       "text": mask_text(u["text"])} for n, u in enumerate(report.get("utterances", ())) if u["text"]]
    found = machine_findings(report) + list(review.added)
    entry["findings"] = [{"recording_id": row.id, "finding_key": f.key, "measure": f.measure.value,
                          "rule": f.rule, "decision": None if f.added else review.decisions.get(f.key),
                          "added": f.added} for f in found]
    if call["score"] is not None:  # a call that was not scored lost nothing: it is left out of the averages
        items = reviewed.items if reviewed else _machine_items(report)
        entry["loss"] = [{"recording_id": row.id, "item": name, "agent_id": row.agent_id, "lost": lost}
                         for name, lost in lost_points(items).items()]
    return entry


def _machine_items(report: dict[str, Any]) -> list[ItemScore]:
    return [ItemScore(i["name"], float(i["points"]), float(i["max_points"])) for i in applicable_items(report)]


_QA_COLUMNS = ("talk_listen", "turns_agent", "turns_customer", "first_response_s", "hold_s", "rate_gap")


def _qa(report: dict[str, Any]) -> dict[str, Any]:
    """The report's QA figures ("qa", written since it existed; older reports have none)."""
    qa = report.get("qa")
    if not isinstance(qa, dict):
        return {}
    turns = qa.get("turns") or {}
    return {"talk_listen": qa.get("talk_listen_ratio"), "turns_agent": turns.get("agent"),
            "turns_customer": turns.get("customer"), "first_response_s": qa.get("first_response_s"),
            "hold_s": qa.get("hold_s"), "rate_gap": qa.get("rate_gap")}


def _not_scored_reason(report: dict[str, Any]) -> str | None:
    score = report.get("score") or {}
    if score.get("total") is not None:
        return None
    return score.get("reason") or score.get("not_scored") or "未评分"


def _week(call_date: str | None) -> str | None:
    if not call_date:
        return None
    try:
        year, week, _ = date.fromisoformat(call_date).isocalendar()
    except ValueError:
        return None
    return f"{year}-W{week:02d}"


def _delete(conn: Connection, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        if conn.dialect.name == "sqlite":
            # A contentless full-text index forgets a row only when told what it held.
            old = conn.execute(sa.select(lines.c.recording_id, lines.c.n, lines.c.text)
                               .where(lines.c.recording_id.in_(chunk))).all()
            _add_grams(conn, [row._asdict() for row in old], command="delete")
        for table in (calls, lines, findings, item_loss):
            conn.execute(sa.delete(table).where(table.c.recording_id.in_(chunk)))


def _add_grams(conn: Connection, rows: list[dict[str, Any]], command: str | None = None) -> None:
    values = [{"key": row["recording_id"] * LINE_KEY + row["n"], "grams": _grams(row["text"])}
              for row in rows if row["n"] < LINE_KEY]
    if not values:
        return
    if command:
        conn.execute(sa.text(f"INSERT INTO {GRAMS}({GRAMS}, rowid, grams) VALUES ('{command}', :key, :grams)"), values)
    else:
        conn.execute(sa.text(f"INSERT INTO {GRAMS}(rowid, grams) VALUES (:key, :grams)"), values)


def _grams(text: str) -> str:
    """Overlapping character pairs, a word each: 不清楚 → "不清 清楚" (a phrase search for the
    pairs of the words finds every line that contains them, and some more that are then checked)."""
    return " ".join(text[i:i + 2] for i in range(len(text) - 1))


# ----------------------------------------------------------------------------- the call list
SORTS = {  # URL name → column; every column of the list can be sorted on
    "date": calls.c.call_date, "call": calls.c.call_id, "agent": calls.c.agent_id, "team": calls.c.team,
    "duration": calls.c.duration_s, "score": calls.c.score, "machine": calls.c.machine_score,
    "rate": calls.c.speaking_rate, "silences": calls.c.silences, "interruptions": calls.c.interruptions,
    "forbidden": calls.c.forbidden_hits, "talk": calls.c.talk_listen, "first": calls.c.first_response_s,
    "hold": calls.c.hold_s, "gap": calls.c.rate_gap, "appeals": calls.c.open_appeals,
}
REVIEW_STATES = {"todo": "未复核", "done": "已复核", "appealed": "有待处理申诉"}


@dataclass(frozen=True)
class CallQuery:
    """Which calls the list shows, in which order; None means no limit.  ``only_agent`` is the
    agent id an agent's own login is limited to (not a filter a user can lift)."""

    q: str | None = None  # words said, by either party
    agent: str | None = None
    team: str | None = None
    kind: Measure | None = None  # calls with a (not rejected) finding of this kind
    review: str | None = None  # a REVIEW_STATES key
    date_from: str | None = None
    date_to: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "date"
    descending: bool = True
    only_agent: str | None = None


def list_calls(ws: Workspace, query: CallQuery, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    column = SORTS[query.sort]
    # Missing values (no date, mono interruptions, not scored) go last whichever way the sort goes.
    order = (column.desc() if query.descending else column.asc()).nulls_last()
    # The ids are sorted first and the rows fetched after: a sort that carries only (key, id)
    # reaches page 900 of 100,000 calls in milliseconds, where whole rows took half a second.
    ids = (sa.select(calls.c.recording_id).where(*_conditions(ws, query))
           .order_by(order, calls.c.recording_id.desc()).limit(limit).offset(offset))
    with ws.reading(ws.cache) as conn:
        page = conn.scalars(ids).all()
        rows = {row.recording_id: row._asdict() for chunk in range(0, len(page), BATCH)
                for row in conn.execute(sa.select(calls).where(calls.c.recording_id.in_(page[chunk:chunk + BATCH])))}
    return [rows[i] for i in page]


def count_calls(ws: Workspace, query: CallQuery) -> tuple[int, int]:
    """How many calls match, and how many of those failed analysis."""
    failed = sa.func.count().filter(calls.c.status != "ok")
    with ws.reading(ws.cache) as conn:
        total, failures = conn.execute(sa.select(sa.func.count(), failed).where(*_conditions(ws, query))).one()
    return total, failures


def quotes(ws: Workspace, ids: Sequence[int], q: str) -> dict[int, list[dict[str, Any]]]:
    """The lines of each call that contain ``q``, the first of each party's, in time order:
    {recording id: [{speaker, start, text}, …]}."""
    if not ids or not q:
        return {}
    select = sa.select(lines).where(lines.c.recording_id.in_(ids), *_saying(ws, q)[-1:]).order_by(
        lines.c.recording_id, lines.c.n)
    found: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    with ws.reading(ws.cache) as conn:
        for row in conn.execute(select):
            found[row.recording_id].setdefault(row.speaker, row._asdict())
    return {i: sorted(by_speaker.values(), key=lambda line: line["n"]) for i, by_speaker in found.items()}


def choices(ws: Workspace, only_agent: str | None = None) -> tuple[list[str], list[str]]:
    """The agent ids and teams the list can be filtered by."""
    c = calls.c
    mine = [c.agent_id == only_agent] if only_agent is not None else []
    with ws.reading(ws.cache) as conn:
        agents = conn.scalars(sa.select(c.agent_id).where(c.agent_id.is_not(None), *mine).distinct()
                              .order_by(c.agent_id)).all()
        teams = conn.scalars(sa.select(c.team).where(c.team.is_not(None), *mine).distinct().order_by(c.team)).all()
    return list(agents), list(teams)


def _conditions(ws: Workspace, query: CallQuery) -> list[sa.ColumnElement[bool]]:
    c = calls.c
    where = []
    if query.only_agent is not None:
        where.append(c.agent_id == query.only_agent)
    for value, compare in ((query.agent, c.agent_id.__eq__), (query.team, c.team.__eq__),
                           (query.date_from, c.call_date.__ge__), (query.date_to, c.call_date.__le__),
                           (query.min_score, c.score.__ge__), (query.max_score, c.score.__le__)):
        if value is not None:
            where.append(compare(value))
    if query.kind is not None:
        f = findings.c
        where.append(c.recording_id.in_(sa.select(f.recording_id).where(
            f.measure == query.kind.value, sa.or_(f.decision.is_(None), f.decision != "reject"))))
    if query.review == "todo":
        where.append(c.reviewed.is_(False))
    elif query.review == "done":
        where.append(c.reviewed.is_(True))
    elif query.review == "appealed":
        where.append(c.open_appeals > 0)
    if query.q:
        where.append(c.recording_id.in_(sa.select(lines.c.recording_id).where(*_saying(ws, query.q))))
    return where


def _saying(ws: Workspace, words: str) -> list[sa.ColumnElement[bool]]:
    """Conditions on ``lines`` for the lines that contain ``words``.

    Every line is checked with instr/strpos (not LIKE: nothing in what a user typed is a
    wildcard).  On SQLite the full-text index of character pairs first narrows the lines to
    those of the calls where the pairs occur in order — milliseconds instead of seconds on
    100,000 calls; a single character is looked for in every line."""
    found = (sa.func.strpos(lines.c.text, words) if ws.dialect == "postgresql"
             else sa.func.instr(lines.c.text, words)) > 0
    pairs = _grams(words)
    if ws.dialect != "sqlite" or not any(ch.isalnum() for ch in pairs):
        return [found]
    candidates = sa.text(f"SELECT rowid / {LINE_KEY} AS call FROM {GRAMS} WHERE {GRAMS} MATCH :phrase") \
        .bindparams(phrase='"' + pairs.replace('"', '""') + '"').columns(call=sa.Integer).subquery()
    return [lines.c.recording_id.in_(sa.select(candidates.c.call)), found]


# ----------------------------------------------------------------------------- per agent
@dataclass(frozen=True)
class Week:
    label: str  # ISO week "2026-W45"
    monday: date
    score: float
    calls: int


@dataclass(frozen=True)
class AgentFigures:
    """One agent's means over their analysed calls (scores over the scored ones, after review)."""

    agent: str
    calls: int  # analysed
    failed: int
    not_scored: int
    reviewed: int
    score: float | None
    weeks: tuple[Week, ...]  # oldest first
    change: float | None  # last week's mean − first week's, over the weeks shown
    speaking_rate: float | None
    silences: float | None  # per call
    interruptions: float | None  # per stereo call
    forbidden: float | None
    talk_listen: float | None
    first_response_s: float | None
    hold_s: float | None
    rate_gap: float | None
    costly: tuple[tuple[str, float], ...]  # (item, points lost per scored call), most costly first


# (figure name, column) averaged over the calls that have a value (SQL's AVG leaves NULLs out)
_MEANS = (("speaking_rate", "speaking_rate"), ("silences", "silences"), ("interruptions", "interruptions"),
          ("forbidden", "forbidden_hits"), ("talk_listen", "talk_listen"), ("first_response_s", "first_response_s"),
          ("hold_s", "hold_s"), ("rate_gap", "rate_gap"))


def agents_overview(ws: Workspace, *, team: str | None = None, only_agent: str | None = None,
                    weeks: int = 12, costly: int = 3) -> list[AgentFigures]:
    """Per agent: counts, means, the last ``weeks`` weekly mean scores and the ``costly`` items
    that lost the most points — three GROUP BY queries, whatever the number of calls."""
    c = calls.c
    where = ([c.team == team] if team is not None else []) + ([c.agent_id == only_agent] if only_agent else [])
    ok = c.status == "ok"
    per_agent = (sa.select(c.agent_id, sa.func.count().label("rows"), sa.func.count().filter(ok).label("ok"),
                           sa.func.count().filter(sa.and_(ok, c.score.is_(None))).label("unscored"),
                           sa.func.count().filter(c.reviewed.is_(True)).label("reviewed"),
                           sa.func.count(c.score).label("scored"), sa.func.avg(c.score).label("score"),
                           *[sa.func.avg(c[column]).label(name) for name, column in _MEANS])
                 .where(*where).group_by(c.agent_id))
    per_week = (sa.select(c.agent_id, c.week, sa.func.avg(c.score).label("score"), sa.func.count(c.score).label("n"))
                .where(*where, c.week.is_not(None), c.score.is_not(None)).group_by(c.agent_id, c.week))
    lost = (sa.select(item_loss.c.agent_id, item_loss.c.item, sa.func.sum(item_loss.c.lost).label("lost"))
            .group_by(item_loss.c.agent_id, item_loss.c.item))
    if where:
        lost = lost.where(item_loss.c.recording_id.in_(sa.select(c.recording_id).where(*where)))
    with ws.reading(ws.cache) as conn:
        agents = conn.execute(per_agent).all()
        trend_rows = conn.execute(per_week).all()
        losses = conn.execute(lost).all()
    trends: dict[str, list[Week]] = defaultdict(list)
    for row in sorted(trend_rows, key=lambda r: r.week):
        year, number = int(row.week[:4]), int(row.week[6:])
        trends[row.agent_id or MISSING].append(Week(row.week, date.fromisocalendar(year, number, 1),
                                                    float(row.score), row.n))
    item_costs: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in losses:
        item_costs[row.agent_id or MISSING].append((row.item, float(row.lost)))
    figures = [_agent(row, trends[row.agent_id or MISSING][-weeks:], item_costs[row.agent_id or MISSING], costly)
               for row in agents]
    return sorted(figures, key=lambda g: (g.agent == MISSING, g.agent))


def _agent(row: sa.Row, trend: list[Week], costs: list[tuple[str, float]], costly: int) -> AgentFigures:
    def mean(name: str) -> float | None:
        value = getattr(row, name)
        return None if value is None else float(value)  # PostgreSQL's AVG is a Decimal

    return AgentFigures(
        agent=row.agent_id or MISSING, calls=row.ok, failed=row.rows - row.ok, not_scored=row.unscored,
        reviewed=row.reviewed, score=mean("score"), weeks=tuple(trend),
        change=trend[-1].score - trend[0].score if len(trend) > 1 else None,
        **{name: mean(name) for name, _ in _MEANS},
        costly=tuple(sorted(((item, lost / row.scored) for item, lost in costs if row.scored),
                            key=lambda x: -x[1])[:costly]),
    )


# ----------------------------------------------------------------------------- what misfires
@dataclass(frozen=True)
class Misfire:
    """How reviewers judged the findings of one phrase or rule."""

    measure: Measure
    rule: str
    found: int  # machine findings in all calls
    reviewed: int
    rejected: int

    @property
    def rejected_share(self) -> float | None:
        return self.rejected / self.reviewed if self.reviewed else None


def misfires(ws: Workspace) -> list[Misfire]:
    """Per phrase and rule, most rejected first (the candidates to fix in the lexicon or the scorecard)."""
    f = findings.c
    select = (sa.select(f.measure, f.rule, sa.func.count().label("found"),
                        sa.func.count(f.decision).label("reviewed"),
                        sa.func.count().filter(f.decision == "reject").label("rejected"))
              .where(f.added.is_(False)).group_by(f.measure, f.rule))
    with ws.reading(ws.cache) as conn:
        rows = conn.execute(select).all()
    found = [Misfire(Measure(r.measure), r.rule, r.found, r.reviewed, r.rejected) for r in rows]
    return sorted(found, key=lambda m: (-m.rejected, -(m.rejected_share or 0), -m.found, m.measure.value, m.rule))

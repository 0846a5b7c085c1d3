"""Per-agent, per-day and per-team figures over the rows of ``Store.recordings()``.

The summary columns serve most figures; the QA figures (talk-to-listen ratio, first
response, hold time, rate gap) come from each report's ``"qa"`` (reports stored before
it existed have none, and count as missing).  Means are taken over the calls where a
figure exists: a call with no agent speech has no speaking rate, a mono call has no
measurable interruptions and no customer to listen to, and a call with nothing to
measure is not scored (score.total null); counting those as zero would flatter or sink
the group, and a score it never earned must not lift it.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from statistics import fmean
from typing import Any, Iterable, Sequence

from rich.table import Table

from coach.qa.store import Status

MISSING = "—"  # the key of rows without an agent, team or date
_SPARKS = "▁▂▃▄▅▆▇█"


class GroupBy(str, enum.Enum):
    AGENT = "agent"
    DAY = "day"
    TEAM = "team"


_KEY_COLUMN = {GroupBy.AGENT: "agent_id", GroupBy.DAY: "call_date", GroupBy.TEAM: "team"}
_BY_LABEL = {GroupBy.AGENT: "坐席", GroupBy.DAY: "日期", GroupBy.TEAM: "班组"}


@dataclass(frozen=True)
class GroupStats:
    key: str  # agent id, ISO date or team; MISSING when the manifest did not say
    calls: int  # analysed (ok) calls; all figures below are over these
    failed: int
    audio_h: float
    speaking_rate: float | None  # chars/min, mean over calls that have one
    silences_per_call: float | None
    interruptions_per_call: float | None  # over stereo calls only
    courtesy_per_call: float | None
    forbidden_per_call: float | None
    score: float | None  # mean over the scored calls
    trend: tuple[tuple[str, float], ...]  # (ISO week "2026-W47", mean score), oldest first
    score_change: float | None  # last week's mean − first week's; None with fewer than two weeks
    not_scored: int = 0  # analysed calls without a score (no agent speech …): left out of the means
    talk_listen: float | None = None  # agent ÷ customer speaking time
    first_response_s: float | None = None  # recording start → the agent's first words
    hold_s: float | None = None  # announced hold time per call
    rate_gap: float | None = None  # agent chars/min − customer chars/min


def aggregate(rows: Iterable[dict[str, Any]], by: GroupBy) -> list[GroupStats]:
    """One GroupStats per agent, day or team, sorted by key, the group of missing keys last."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[_KEY_COLUMN[by]] or MISSING].append(row)
    # "—" would sort between Latin and Chinese keys; last is where a reader looks for leftovers.
    keys = sorted(groups, key=lambda k: (k == MISSING, k))
    return [_group(key, groups[key], by) for key in keys]


def _group(key: str, rows: list[dict[str, Any]], by: GroupBy) -> GroupStats:
    ok = [r for r in rows if r["status"] == Status.OK]
    # A day is a single period, so a per-day trend would be one point: leave it out.
    trend = () if by is GroupBy.DAY else _weekly_scores(ok)
    return GroupStats(
        key=key,
        calls=len(ok),
        failed=len(rows) - len(ok),
        audio_h=sum(r["duration_s"] for r in ok) / 3600,
        speaking_rate=_mean(r["speaking_rate"] for r in ok),
        silences_per_call=_mean(r["silences"] for r in ok),
        interruptions_per_call=_mean(r["interruptions"] for r in ok),
        courtesy_per_call=_mean(r["courtesy_hits"] for r in ok),
        forbidden_per_call=_mean(r["forbidden_hits"] for r in ok),
        score=_mean(r["score"] for r in ok),
        trend=trend,
        score_change=trend[-1][1] - trend[0][1] if len(trend) > 1 else None,
        not_scored=sum(r["score"] is None for r in ok),
        talk_listen=_mean(_qa(r).get("talk_listen_ratio") for r in ok),
        first_response_s=_mean(_qa(r).get("first_response_s") for r in ok),
        hold_s=_mean(_qa(r).get("hold_s") for r in ok),
        rate_gap=_mean(_qa(r).get("rate_gap") for r in ok),
    )


def _qa(row: dict[str, Any]) -> dict[str, Any]:
    qa = (row.get("report") or {}).get("qa")
    return qa if isinstance(qa, dict) else {}


def _weekly_scores(ok_rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, float], ...]:
    """Mean score per ISO week of the call date, oldest first.

    Calls without a call date are left out rather than placed by their analysis
    date, which says when the batch ran, not when the agent spoke.
    """
    weeks: dict[str, list[float]] = defaultdict(list)
    for row in ok_rows:
        if row["call_date"] and row["score"] is not None:
            year, week, _ = date.fromisoformat(row["call_date"]).isocalendar()
            weeks[f"{year}-W{week:02d}"].append(row["score"])
    # Zero-padded labels sort chronologically as text.
    return tuple((label, fmean(scores)) for label, scores in sorted(weeks.items()))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def sparkline(scores: Sequence[float]) -> str:
    """One block character per score, on the fixed 0–100 scale so groups compare at a glance."""
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[min(top, max(0, round(s / 100 * top)))] for s in scores)


def rows_to_table(stats: Sequence[GroupStats], by: GroupBy) -> Table:
    """The terminal table of ``coach stats``, headed in Chinese like the call report."""
    table = Table(title=f"coach stats（按{_BY_LABEL[by]}）")
    table.add_column(_BY_LABEL[by])
    for header in ("通话", "失败", "未评分", "音频(时)", "语速(字/分)", "冷场/通", "抢话/通", "礼貌用语/通", "禁语/通",
                   "说听比", "首次响应(秒)", "保持(秒)", "语速差", "得分"):
        table.add_column(header, justify="right")
    table.add_column("周趋势")
    table.add_column("变化", justify="right")
    for g in stats:
        table.add_row(
            g.key, str(g.calls), str(g.failed), str(g.not_scored), f"{g.audio_h:.1f}", _fmt(g.speaking_rate, ".0f"),
            _fmt(g.silences_per_call, ".1f"), _fmt(g.interruptions_per_call, ".1f"),
            _fmt(g.courtesy_per_call, ".1f"), _fmt(g.forbidden_per_call, ".1f"), _fmt(g.talk_listen, ".2f"),
            _fmt(g.first_response_s, ".1f"), _fmt(g.hold_s, ".0f"), _fmt(g.rate_gap, "+.0f"), _fmt(g.score, ".1f"),
            sparkline([score for _, score in g.trend]), _fmt(g.score_change, "+.1f"),
        )
    return table


def _fmt(value: float | None, spec: str) -> str:
    return MISSING if value is None else format(value, spec)

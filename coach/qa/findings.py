"""What a person reviews in a call (复核): the machine's findings, and the score after review.

A *finding* is one thing the machine held against the agent — a forbidden phrase, a filler,
a dead-air gap, an interruption, a missed script step, a courtesy phrase never used, the
speaking rate, a flat voice — read off the evidence of the report's score items, so that
exactly what cost points can be confirmed or rejected.  A finding that costs points in two
items (a critical forbidden phrase: 服务禁语 and 一票否决) is one finding.

The reviewed score is the scorecard applied again to the findings a person kept plus the
ones they added, with `coach.scoring`'s own rule for a "deduct per hit" item: rejecting one
of three forbidden phrases gives back what that phrase cost, not a third of the item.  The
speaking rate and the voice are one verdict each: kept, they cost what the machine said;
rejected, nothing; added by a reviewer where the machine found nothing, the whole item.

Everything here is pure: report dicts (`coach.report/1`) in, dataclasses out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Collection, Iterable, Sequence

from coach.scorecard import Measure, Scorecard, ScorecardItem
from coach.scoring import deducted
from coach.writers.terminal import clock

KIND_LABELS = {
    Measure.FORBIDDEN: "服务禁语", Measure.SILENCE: "冷场", Measure.INTERRUPTION: "抢话", Measure.SCRIPT: "规范流程",
    Measure.RATE: "语速", Measure.PITCH: "语调", Measure.COURTESY: "礼貌用语", Measure.FILLER: "口头禅",
}
SEVERITY_LABELS = {"minor": "轻微", "major": "较重", "critical": "严重"}
_VERDICTS = (Measure.RATE, Measure.PITCH)  # one verdict on the whole call, not hits
_PHRASES = (Measure.FORBIDDEN, Measure.FILLER)  # hits with a severity
_SAME_TIME_S = 0.01
_TOLERANCE = 0.05  # points: a rescore with nothing reviewed must give the machine's score back


@dataclass(frozen=True)
class Finding:
    """One finding of a call.  ``key`` names it within its report (``forbidden@50.00``,
    ``script:<step>``, ``rate``; ``added:<n>`` for a reviewer's); ``rule`` is what produced it
    (the phrase, the script step, the courtesy requirement, or the measure's label), which is
    what the misfire figures count by."""

    key: str
    measure: Measure
    rule: str
    start: float | None
    end: float | None
    quote: str = ""
    detail: str = ""
    severity: str = ""  # forbidden phrases and fillers
    items: tuple[str, ...] = ()  # the scorecard items it cost points in
    added: bool = False

    @property
    def kind(self) -> str:
        return KIND_LABELS[self.measure]


@dataclass(frozen=True)
class ItemScore:
    name: str
    points: float
    max_points: float


@dataclass(frozen=True)
class ReviewedScore:
    """The score after review: ``total`` None when the call is not scored; ``failed`` when a
    critical item still has a finding (一票否决)."""

    total: float | None
    items: tuple[ItemScore, ...]
    failed: bool


def machine_findings(report: dict[str, Any]) -> list[Finding]:
    """The findings behind the report's score items, in time order (untimed ones last)."""
    found: dict[str, Finding] = {}
    for item in applicable_items(report):
        try:
            measure = Measure(item.get("measure", ""))
        except ValueError:
            continue  # an item of a measure this coach does not know: nothing to review in it
        evidence = [e for e in item.get("evidence", ()) if isinstance(e, dict)]
        if measure in _VERDICTS:
            candidates = [_verdict(measure, item, evidence)] if evidence else []
        else:
            candidates = [_hit(measure, e, report) for e in evidence]
        for finding in candidates:
            known = found.get(finding.key)
            items = (known.items if known else ()) + (item["name"],)
            found[finding.key] = replace(finding, items=items)
    return sorted(found.values(), key=lambda f: (f.start is None, f.start or 0.0, f.key))


def added_finding(number: int, measure: Measure, start: float | None, note: str, severity: str = "") -> Finding:
    """A finding a reviewer added: the machine missed it."""
    return Finding(f"added:{number}", measure, KIND_LABELS[measure], start, start, "", note,
                   (severity or "major") if measure in _PHRASES else "", added=True)


def reviewed_score(report: dict[str, Any], scorecard: Scorecard, rejected: Collection[str] = (),
                   added: Sequence[Finding] = ()) -> ReviewedScore:
    """The call's score on ``scorecard`` with the ``rejected`` finding keys left out and ``added`` counted."""
    card = {i.label: i for i in scorecard.items}
    kept = [f for f in machine_findings(report) if f.key not in rejected]
    items, failed = [], False
    for item in applicable_items(report):
        rule = card[item["name"]]
        hits = sorted([f for f in kept if item["name"] in f.items] + [a for a in added if _counts(rule, a)],
                      key=lambda f: (f.start is None, f.start or 0.0))
        points = round(_points(rule, item, hits, report), 1)
        items.append(ItemScore(item["name"], points, float(item["max_points"])))
        failed = failed or (rule.critical and bool(hits))
    if report.get("score", {}).get("total") is None:
        return ReviewedScore(None, tuple(items), False)
    possible = round(sum(i.max_points for i in items), 1)
    if failed:
        return ReviewedScore(0.0, tuple(items), True)
    # As `coach.scoring.score` does: items that could not be measured are out of the denominator.
    earned = round(sum(i.points for i in items), 1)
    total = round(100 * earned / possible, 1) if possible else None
    return ReviewedScore(total, tuple(items), False)


def why_not_rescorable(report: dict[str, Any], scorecard: Scorecard) -> str | None:
    """Why this call's score cannot be recomputed on ``scorecard`` (it was scored on another
    card, or on another version of it), or None when it can."""
    card = {i.label: i for i in scorecard.items}
    items = applicable_items(report)
    missing = [i["name"] for i in items if i["name"] not in card]
    if missing:
        return f"评分项「{missing[0]}」不在评分表「{scorecard.name}」中"
    for item in items:
        if abs(card[item["name"]].points - float(item["max_points"])) > 1e-9:
            return f"评分项「{item['name']}」在评分表「{scorecard.name}」中是 {card[item['name']].points:g} 分，" \
                   f"本通话评分时是 {float(item['max_points']):g} 分"
    again = reviewed_score(report, scorecard)
    machine = {i["name"]: float(i["points"]) for i in items}
    for item in again.items:
        if abs(item.points - machine[item.name]) > _TOLERANCE:
            return f"按评分表「{scorecard.name}」重算「{item.name}」得 {item.points:g} 分，本通话评分时是 " \
                   f"{machine[item.name]:g} 分（评分表已改动）"
    total = report.get("score", {}).get("total")
    if total is not None and again.total is not None and abs(again.total - float(total)) > _TOLERANCE:
        return f"按评分表「{scorecard.name}」重算总分得 {again.total:g}，本通话评分时是 {float(total):g}"
    return None


def describe_key(key: str) -> str:
    """A finding named by its key alone, for pages that do not load the report: 抢话 00:41.0."""
    if key.startswith("added:"):
        return "质检员补充的发现"
    head, at, start = key.partition("@")
    kind, _, rule = head.partition(":")
    try:
        label = KIND_LABELS[Measure(kind)]
    except ValueError:
        return key
    if at:
        return f"{label} {clock(float(start))}" if start.replace(".", "", 1).isdigit() else label
    return f"{label}「{rule}」" if rule else label


def applicable_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The score items that count: those marked not applicable (or without points) are left out."""
    items = (report.get("score") or {}).get("items") or ()
    return [i for i in items if i.get("applicable", True) is not False and i.get("points") is not None]


def lost_points(items: Iterable[ItemScore]) -> dict[str, float]:
    """Points each item lost, for the items that lost any."""
    return {i.name: round(i.max_points - i.points, 1) for i in items if i.max_points - i.points > 0.0499}


# ----------------------------------------------------------------------------- findings of one kind
def _verdict(measure: Measure, item: dict[str, Any], evidence: list[dict[str, Any]]) -> Finding:
    timed = [e for e in evidence if e.get("start") is not None]
    first = timed[0] if timed else evidence[0]
    quote = "；".join(e["quote"] for e in timed if e.get("quote"))
    return Finding(measure.value, measure, KIND_LABELS[measure], first.get("start"), first.get("end"), quote,
                   item.get("detail", "") or first.get("detail", ""))


def _hit(measure: Measure, e: dict[str, Any], report: dict[str, Any]) -> Finding:
    start, detail = e.get("start"), e.get("detail", "")
    base = dict(measure=measure, start=start, end=e.get("end"), quote=e.get("quote", ""), detail=detail)
    if measure in _PHRASES:
        hit = _phrase_at(report, measure.value, start)
        return Finding(f"{measure.value}@{_at(start)}", rule=hit.get("phrase", "") if hit else detail,
                       severity=(hit.get("severity") or "major") if hit else "major", **base)
    if measure is Measure.SCRIPT:
        step = next((c["item"] for c in report.get("script", ()) if not c.get("ok") and c.get("item")
                     and c["item"] in detail), None)
        return Finding(f"script:{step or detail}", rule=step or detail, **base)
    if measure is Measure.COURTESY:
        need = detail.split("：", 1)[-1]  # "未使用：谢谢/感谢"
        return Finding(f"courtesy:{need}", rule=need, **base)
    return Finding(f"{measure.value}@{_at(start)}", rule=KIND_LABELS[measure], **base)


def _phrase_at(report: dict[str, Any], category: str, start: float | None) -> dict[str, Any] | None:
    if start is None:
        return None
    return next((h for h in report.get("phrases", ()) if h.get("category") == category
                 and h.get("speaker") == "agent" and abs(h.get("start", -1) - start) < _SAME_TIME_S), None)


def _at(start: float | None) -> str:
    return "-" if start is None else f"{start:.2f}"


# ----------------------------------------------------------------------------- points
def _counts(rule: ScorecardItem, finding: Finding) -> bool:
    """Whether a reviewer's finding counts in this item: same measure, and a severity the item scores."""
    if not finding.added or finding.measure is not rule.measure:
        return False
    return not rule.severities or (finding.severity or "major") in rule.severities


def _points(rule: ScorecardItem, item: dict[str, Any], hits: list[Finding], report: dict[str, Any]) -> float:
    if rule.measure in _VERDICTS:
        if any(not f.added for f in hits):
            return float(item["points"])  # the machine's verdict, kept: its own partial credit
        return 0.0 if hits else rule.points
    if rule.measure is Measure.SCRIPT and rule.deduct is None:
        # Shared evenly among the steps checked, as `coach.scoring` does.
        checked = [c for c in report.get("script", ()) if not rule.steps or c.get("item") in rule.steps]
        if not checked:
            return rule.points
        counted = max(0, min(len(hits), len(checked)) - rule.allowed)
        return rule.points * (1 - counted / len(checked))
    severities = [(f.severity or "major") if rule.measure in _PHRASES else "" for f in hits]
    return deducted(rule, severities)

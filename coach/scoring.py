"""Score stage: apply the centre's scorecard (`coach.scorecard`) to an analysed call.

Every item starts at its full points and loses them for what the analysis found, each
loss backed by evidence (a time, the words said then, what was wrong).  A hit on a
critical item fails the call (一票否决): the total becomes 0 and ``Score.failed`` says so.
Holds announced with 请稍等 and closed with 让您久等了 cost nothing by default: that is
the etiquette being followed.

What the call gave nothing to measure never earns marks: such an item is not applicable
and leaves the denominator (the total is out of 100 over the items that apply), and a call
with no agent speech at all, or under a second of audio, is not scored (total None, with the
reason) rather than given the points of everything it could not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from coach.results import Evidence, Metric, PhraseHit, Report, Score, ScoreItem, Speaker, Verdict
from coach.scorecard import Measure, Scorecard, ScorecardItem

_RATE_EVIDENCE = 3  # the worst stretches quoted for the rate
_QUOTE_CHARS = 40
_VERDICT = {Verdict.TOO_SLOW: "偏慢", Verdict.TOO_FAST: "偏快"}
_SEVERITY = {"critical": "严重", "major": "较重", "minor": "轻微"}
_MIN_SCORABLE_S = 1.0  # less audio than this is a broken file, not a call
# What each measure of the scorecard needs the analysis to have measured.
_NEEDS = {Measure.RATE: Metric.RATE, Measure.SILENCE: Metric.SILENCE, Measure.INTERRUPTION: Metric.INTERRUPTION,
          Measure.PITCH: Metric.PITCH, Measure.SCRIPT: Metric.SCRIPT, Measure.COURTESY: Metric.PHRASES,
          Measure.FORBIDDEN: Metric.PHRASES, Measure.FILLER: Metric.PHRASES}


@dataclass(frozen=True)
class _Found:
    """What one item found in the call, before points are worked out."""

    evidence: tuple[Evidence, ...]
    detail: str
    points: float | None = None  # set by measures that are not "deduct per hit"
    severities: tuple[str, ...] = ()  # forbidden/filler: each hit's severity, for its deduction
    applicable: bool = True


def score(report: Report, scorecard: Scorecard) -> Score:
    """The call's score on ``scorecard``; ``report.score`` is ignored."""
    items = tuple(_score_item(report, item) for item in scorecard.items)
    applicable = [i for i in items if i.applicable]
    possible = round(sum(i.max_points for i in applicable), 1)
    reason = not_scored(report) or ("" if possible else "没有可以评估的项目")
    if reason:
        return Score(None, items, scorecard=scorecard.name, possible=possible, not_scored=reason)
    earned = round(sum(i.points for i in applicable), 1)
    failed = any(i.critical and i.hits for i in applicable)
    total = 0.0 if failed else round(100 * earned / possible, 1)
    return Score(total, items, earned=earned, failed=failed, scorecard=scorecard.name, possible=possible)


def not_scored(report: Report) -> str:
    """Why the call cannot be scored at all, or "" when it can."""
    if report.duration_s < _MIN_SCORABLE_S:
        return f"录音只有 {report.duration_s:.1f} 秒，无法评分"
    if not any(u.speaker is Speaker.AGENT for u in report.utterances):
        return "未检测到坐席语音，无法评分"
    if report.separation is not None and report.separation.uncertain:
        # Scored as if certain, a customer's words could cost the agent points: a person decides.
        return "坐席与客户的声音区分不确定，未评分，请人工复核：" + report.separation.uncertain
    return ""


def _score_item(report: Report, item: ScorecardItem) -> ScoreItem:
    metric = _NEEDS[item.measure]
    if not report.can_measure(metric):
        return _not_applicable(item, report.why_not_measured(metric))
    found = _MEASURES[item.measure](report, item)
    if not found.applicable:
        return _not_applicable(item, found.detail)
    hits = len(found.evidence)
    points = found.points if found.points is not None else deducted(item, found.severities or ("",) * hits)
    return ScoreItem(item.label, round(points, 1), item.points, found.detail, found.evidence,
                     measure=item.measure.value, critical=item.critical, hits=hits)


def deducted(item: ScorecardItem, severities: Sequence[str]) -> float:
    """The points left of a "deduct per hit" item after hits of these severities ("" for none),
    the first ``allowed`` of them free (also used to rescore a call after a person's review)."""
    return max(0.0, item.points - sum(item.deduction(s) for s in severities[item.allowed:]))


def _not_applicable(item: ScorecardItem, why: str) -> ScoreItem:
    return ScoreItem(item.label, 0.0, item.points, f"不适用：{why}" if why else "不适用", measure=item.measure.value,
                     critical=item.critical, applicable=False)


def _rate(report: Report, item: ScorecardItem) -> _Found:
    rate = report.rate
    if rate.chars_per_min is None:
        return _Found((), "没有坐席语音，无法计算语速", applicable=False)
    band = f"{rate.chars_per_min:.0f} 字/分 (标准 {rate.target_min:.0f}–{rate.target_max:.0f})"
    if rate.verdict is Verdict.OK:
        return _Found((), band, item.points)
    edge = rate.target_max if rate.verdict is Verdict.TOO_FAST else rate.target_min
    off = abs(rate.chars_per_min - edge) / edge
    points = item.points * max(0.0, 1 - off / item.zero_at)
    worst = sorted((u for u in report.utterance_rates if u.verdict is rate.verdict),
                   key=lambda u: -abs(u.chars_per_min - edge))[:_RATE_EVIDENCE]
    evidence = tuple(Evidence(u.start, u.end, _short(u.text), f"{u.chars_per_min:.0f} 字/分 {_VERDICT[u.verdict]}")
                     for u in sorted(worst, key=lambda u: u.start))
    # The rate is one verdict on the whole call: one hit, however many stretches are quoted.
    return _Found(evidence or (Evidence(None, None, "", band),), band, points)


def _silence(report: Report, item: ScorecardItem) -> _Found:
    who = {Speaker.AGENT: "坐席说完后", Speaker.CUSTOMER: "客户说完后"}
    evidence = tuple(
        Evidence(s.start, s.end, _quote_before(report, s.start),
                 f"静默 {s.duration:.1f} 秒" + (f"（{who[s.last_speaker]}）" if s.last_speaker else "")
                 + ("，已告知等待" if s.hold else ""))
        for s in report.silences if (item.include_holds or not s.hold) and s.duration >= item.min_s)
    return _Found(evidence, f"{len(evidence)} 次")


def _interruption(report: Report, item: ScorecardItem) -> _Found:
    evidence = tuple(
        Evidence(i.start, i.end, _short(f"客户：{i.customer_text} / 坐席：{i.agent_text}"), f"重叠 {i.overlap_s:.1f} 秒")
        for i in report.interruptions if i.overlap_s >= item.min_s)
    return _Found(evidence, f"{len(evidence)} 次")


def _pitch(report: Report, item: ScorecardItem) -> _Found:
    pitch = report.pitch
    if pitch.semitone_std is None or pitch.monotone is None:
        return _Found((), "坐席的有声语音太少，无法判断语调", applicable=False)
    flat = pitch.monotone if item.below_st is None else pitch.semitone_std < item.below_st
    detail = f"音高变化 {pitch.semitone_std:.1f} 半音" + ("，语调平淡" if flat else "")
    if not flat:
        return _Found((), detail, item.points)
    flattest = [p for p in report.utterance_pitch if p.stats.semitone_std is not None]
    flattest = sorted(flattest, key=lambda p: p.stats.semitone_std)[:_RATE_EVIDENCE]
    evidence = tuple(Evidence(p.start, p.end, _quote_at(report, Speaker.AGENT, p.start),
                              f"音高变化 {p.stats.semitone_std:.1f} 半音") for p in sorted(flattest, key=lambda p: p.start))
    return _Found(evidence or (Evidence(None, None, "", detail),), detail, 0.0)


def _script(report: Report, item: ScorecardItem) -> _Found:
    checks = [c for c in report.script if not item.steps or c.item in item.steps]
    if not checks:
        return _Found((), "没有可检查的流程步骤", applicable=False)
    missing = [c for c in checks if not c.ok]
    evidence = tuple(Evidence(c.start, None, "", f"缺少：{c.item}" + (f" — {c.detail}" if c.detail else ""))
                     for c in missing)
    detail = f"{len(checks) - len(missing)}/{len(checks)} 项做到"
    if item.deduct is not None:
        return _Found(evidence, detail)
    counted = max(0, len(missing) - item.allowed)
    return _Found(evidence, detail, item.points * (1 - counted / len(checks)))


def _courtesy(report: Report, item: ScorecardItem) -> _Found:
    used = [h.phrase for h in report.phrases if h.category == "courtesy" and h.speaker is Speaker.AGENT]
    missing = [need for need in item.require
               if not any(alt in phrase for alt in _alternatives(need) for phrase in used)]
    evidence = tuple(Evidence(None, None, "", f"未使用：{'/'.join(_alternatives(need))}") for need in missing)
    return _Found(evidence, f"{len(item.require) - len(missing)}/{len(item.require)} 项用到")


def _phrases(report: Report, item: ScorecardItem) -> _Found:
    hits = [h for h in report.phrases if h.category == item.measure.value and h.speaker is Speaker.AGENT
            and (not item.severities or (h.severity or "major") in item.severities)]
    return _Found(tuple(_phrase_evidence(h) for h in hits), f"{len(hits)} 次",
                  severities=tuple(h.severity or "major" for h in hits))


def _phrase_evidence(hit: PhraseHit) -> Evidence:
    severity = _SEVERITY.get(hit.severity or "major", hit.severity)
    heard = hit.heard or hit.phrase
    suggestion = f" → 建议：{hit.suggestion}" if hit.suggestion else ""
    return Evidence(hit.start, hit.end, _short(hit.context or heard), f"{severity}「{hit.phrase}」{suggestion}")


def _alternatives(need: str) -> list[str]:
    return [a for a in need.replace("/", "、").split("、") if a]


def _quote_at(report: Report, speaker: Speaker, t: float) -> str:
    for u in report.utterances:
        if u.speaker is speaker and u.start <= t < u.end:
            return _short(u.text)
    return ""


def _quote_before(report: Report, t: float) -> str:
    """The last words before ``t`` (what the silence followed)."""
    before = [u for u in report.utterances if u.end <= t + 0.01]
    return _short(before[-1].text) if before else ""


def _short(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


_MEASURES: dict[Measure, Callable[[Report, ScorecardItem], _Found]] = {
    Measure.RATE: _rate, Measure.SILENCE: _silence, Measure.INTERRUPTION: _interruption,
    Measure.PITCH: _pitch, Measure.SCRIPT: _script, Measure.COURTESY: _courtesy,
    Measure.FORBIDDEN: _phrases, Measure.FILLER: _phrases,
}

"""Score stage: a 0–100 total from the measured metrics, each item with its evidence.

A first, fixed scorecard built from the standard in DESIGN.md: every item starts at
its full points and loses them for what the analysis found.  Holds announced with
请稍等 and closed with 让您久等了 cost nothing: that is the etiquette being followed.
"""

from __future__ import annotations

from typing import Sequence

from coach.results import (
    Interruption, PhraseHit, PitchStats, RateStats, Score, ScoreItem, Silence, Speaker, Verdict,
)

RATE_POINTS = 15.0
SILENCE_POINTS = 20.0
INTERRUPTION_POINTS = 20.0
PITCH_POINTS = 10.0
COURTESY_POINTS = 15.0
FORBIDDEN_POINTS = 20.0
# How far outside the target band (as a fraction of the band's edge) loses all rate points.
_RATE_ZERO_AT = 0.25
_PER_SILENCE = 10.0
_PER_INTERRUPTION = 10.0
_PER_FORBIDDEN = {"critical": FORBIDDEN_POINTS, "major": 10.0, "minor": 5.0}


def score(rate: RateStats, silences: Sequence[Silence], interruptions: Sequence[Interruption],
          pitch: PitchStats, phrases: Sequence[PhraseHit], script: Sequence) -> Score:
    items = (
        _rate_item(rate),
        _count_item("冷场", SILENCE_POINTS, _PER_SILENCE,
                    [f"{s.start:.1f}s 静默 {s.duration:.1f} 秒" for s in silences if not s.hold]),
        _count_item("抢话", INTERRUPTION_POINTS, _PER_INTERRUPTION,
                    [f"{i.start:.1f}s 重叠 {i.overlap_s:.1f} 秒" for i in interruptions]),
        _pitch_item(pitch),
        _courtesy_item(script),
        _forbidden_item([p for p in phrases if p.category == "forbidden" and p.speaker is Speaker.AGENT]),
    )
    return Score(round(sum(i.points for i in items), 1), items)


def _rate_item(rate: RateStats) -> ScoreItem:
    if rate.chars_per_min is None:
        return ScoreItem("语速", RATE_POINTS, RATE_POINTS, "无语音，不扣分")
    if rate.verdict is Verdict.OK:
        points = RATE_POINTS
    else:
        edge = rate.target_max if rate.verdict is Verdict.TOO_FAST else rate.target_min
        off = abs(rate.chars_per_min - edge) / edge
        points = round(RATE_POINTS * max(0.0, 1 - off / _RATE_ZERO_AT), 1)
    return ScoreItem("语速", points, RATE_POINTS,
                     f"{rate.chars_per_min:.0f} 字/分 (标准 {rate.target_min:.0f}–{rate.target_max:.0f})")


def _count_item(name: str, full: float, per: float, evidence: list[str]) -> ScoreItem:
    points = max(0.0, full - per * len(evidence))
    return ScoreItem(name, points, full, f"{len(evidence)} 次", tuple(evidence))


def _pitch_item(pitch: PitchStats) -> ScoreItem:
    if pitch.monotone is None:
        return ScoreItem("语调", PITCH_POINTS, PITCH_POINTS, "语音太少，无法判断")
    return ScoreItem("语调", 0.0 if pitch.monotone else PITCH_POINTS, PITCH_POINTS,
                     f"音高变化 {pitch.semitone_std:.1f} 半音" + ("，语调平淡" if pitch.monotone else ""))


def _courtesy_item(script: Sequence) -> ScoreItem:
    if not script:
        return ScoreItem("礼貌用语与规范流程", COURTESY_POINTS, COURTESY_POINTS, "无可检查内容")
    missing = [c for c in script if not c.ok]
    points = round(COURTESY_POINTS * (1 - len(missing) / len(script)), 1)
    return ScoreItem("礼貌用语与规范流程", points, COURTESY_POINTS,
                     f"{len(script) - len(missing)}/{len(script)} 项做到",
                     tuple(f"缺少: {c.item}" for c in missing))


def _forbidden_item(hits: Sequence[PhraseHit]) -> ScoreItem:
    lost = sum(_PER_FORBIDDEN.get(h.severity, _PER_FORBIDDEN["major"]) for h in hits)
    return ScoreItem("服务禁语", max(0.0, FORBIDDEN_POINTS - lost), FORBIDDEN_POINTS, f"{len(hits)} 次",
                     tuple(f"{h.start:.1f}s 「{h.heard or h.phrase}」" for h in hits))

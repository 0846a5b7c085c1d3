"""Terminal report in Chinese, readable in 20 seconds: the worst problems first."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Callable, TextIO

from rich.console import Console
from rich.text import Text

from coach.lexicon import Lexicon
from coach.masking import mask_source
from coach.results import Metric, Report, Silence, Source, Speaker, Verdict

_VERDICT = {Verdict.TOO_SLOW: "偏慢", Verdict.OK: "达标", Verdict.TOO_FAST: "偏快", Verdict.NO_SPEECH: "无语音"}
_WORST_STRETCHES = 3
_SEVERITY = {"critical": "严重", "major": "较重", "minor": "轻微"}
_SOURCE = {Source.LEFT: "左", Source.RIGHT: "右"}


def clock(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def points(value: float) -> str:
    """Points as scored (to 0.1), so that the deductions shown add up to the total shown: 7.5, not 8."""
    return f"{round(value, 1):g}"


def layout_label(report: Report) -> str:
    """Who was measured, in the reader's words: 单声道（只有坐席）, 立体声（坐席＝左声道）…"""
    agent = report.source_of(Speaker.AGENT)
    if agent in _SOURCE:
        return f"立体声（坐席＝{_SOURCE[agent]}声道）"
    if agent is Source.SEPARATED:
        sure = f"，置信度 {report.separation.confidence:.2f}" if report.separation else ""
        return f"单声道混音（按声音区分坐席与客户{sure}）"
    return "单声道（只有坐席）"


def score_label(report: Report) -> str:
    score = report.score
    if score.total is None:
        return f"不评分：{score.not_scored}"
    out_of = "" if score.possible in (None, 100) else f"（按适用的 {score.possible:g} 分折算）"
    return f"得分 {points(score.total)}/100{out_of}"


def write_terminal(report: Report, stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
    console.print(Text.assemble(
        # Recorders name files after the caller's number: the header is read over shoulders.
        ("coach 通话报告  ", "bold"), mask_source(report.source), f"  时长 {clock(report.duration_s)}  {layout_label(report)}  ",
        (score_label(report), "bold cyan"),
    ))
    failed_by = [i.name for i in report.score.items if i.critical and i.hits]
    if failed_by:
        console.print(Text(f"一票否决：{'、'.join(failed_by)}（得分记为 0）", style="bold red"))
    for note in report.notes:
        console.print(Text(f"注意：{note}", style="yellow"))
    # One section per kind of problem; the scorecard's measures map onto them.
    sections: dict[str, tuple[tuple[str, ...], Callable[[Console, Report], None]]] = {
        "服务禁语": (("forbidden",), _forbidden), "冷场": (("silence",), _silences),
        "抢话": (("interruption",), _interruptions), "语速": (("rate",), _rate), "语调": (("pitch",), _pitch),
        "礼貌用语与规范流程": (("script", "courtesy"), _courtesy), "口头禅": (("filler",), _fillers),
    }
    # Worst first: the sections that lost the most points lead.
    lost = {name: sum(i.max_points - i.points for i in report.score.items if i.measure in measures and i.applicable)
            for name, (measures, _) in sections.items()}
    for name in sorted(sections, key=lambda n: -lost[n]):
        mark = ("✗", "red") if lost[name] > 0 else ("✓", "green")
        console.print()
        console.print(Text.assemble((f"{mark[0]} {name}", f"bold {mark[1]}"),
                                    f"  (扣 {points(lost[name])} 分)" if lost[name] else ""))
        sections[name][1](console, report)
    _figures(console, report)


def _figures(console: Console, report: Report) -> None:
    """The figures trainers compare across agents."""
    qa = report.qa
    if qa is None:
        return
    parts = [f"坐席 {qa.agent_turns} 轮" + (f" / 客户 {qa.customer_turns} 轮" if qa.customer_turns is not None else "")]
    if qa.talk_listen_ratio is not None:
        parts.append(f"说听比 {qa.talk_listen_ratio:.2f}")
    if qa.first_response_s is not None:
        parts.append(f"首次应答 {qa.first_response_s:.1f} 秒")
    if qa.hold_s:
        parts.append(f"等待 {qa.hold_s:.0f} 秒")
    if qa.rate_gap is not None:
        parts.append(f"语速比客户{'快' if qa.rate_gap >= 0 else '慢'} {abs(qa.rate_gap):.0f} 字/分")
    console.print()
    console.print(Text.assemble(("通话指标  ", "bold"), "，".join(parts)))


def _rate(console: Console, report: Report) -> None:
    r = report.rate
    if r.chars_per_min is None:
        console.print("  没有可计算语速的坐席语音。")
        return
    console.print(f"  {r.chars_per_min:.0f} 字/分 — {_VERDICT[r.verdict]}（标准 {r.target_min:.0f}–{r.target_max:.0f} 字/分，"
                  f"{r.chars} 字 / {r.speaking_s:.0f} 秒说话时间）")
    if r.from_syllables > 0:
        console.print(f"  其中 {r.from_syllables} 字没有识别出文字，按声音里的音节数计入（音节速度 {r.syllables_per_min:.0f} 字/分）。")
    elif r.from_syllables < 0:
        console.print(f"  识别结果比声音里的音节多 {-r.from_syllables} 字（识别器多写了），按音节数计算"
                      f"（音节速度 {r.syllables_per_min:.0f} 字/分）。")
    off = [u for u in report.utterance_rates if u.verdict is not Verdict.OK]
    off.sort(key=lambda u: -abs(u.chars_per_min - (r.target_max if u.verdict is Verdict.TOO_FAST else r.target_min)))
    for u in off[:_WORST_STRETCHES]:
        console.print(f"  {clock(u.start)}  {u.chars_per_min:.0f} 字/分 {_VERDICT[u.verdict]}  「{_short(u.text)}」")
    if r.verdict is Verdict.TOO_FAST:
        console.print("  建议：放慢语速，句间稍作停顿，让客户听清。")
    elif r.verdict is Verdict.TOO_SLOW:
        console.print("  建议：语速稍快一些，表达更紧凑。")


def _silences(console: Console, report: Report) -> None:
    if not report.silences:
        console.print("  没有超过 5 秒的冷场。")
        return
    unheld = [s for s in report.silences if not s.hold]
    asked = dict(zip(unheld, _announced(unheld, report)))
    for s in sorted(report.silences, key=lambda s: -s.duration):
        who = {Speaker.AGENT: "坐席说完后", Speaker.CUSTOMER: "客户说完后"}.get(s.last_speaker, "")
        hold = "（已告知等待，保持中）" if s.hold else "（已说请稍等，回来未致歉）" if asked.get(s) else ""
        console.print(f"  {clock(s.start)}–{clock(s.end)}  静默 {s.duration:.1f} 秒  {who}{hold}")
    if unheld and all(asked.values()):
        # They did ask the customer to wait: telling them to say 请稍等 would be advice they already followed.
        console.print("  建议：等待期间每隔 15 秒回应客户一次，回来时先说「让您久等了」。")
    elif unheld:
        console.print("  建议：需要查询时先说「请您稍等」，每隔 15 秒回应客户，回来时说「让您久等了」。")


def _announced(silences: list[Silence], report: Report) -> list[bool]:
    """Whether the agent asked the customer to wait before each silence (the bundled lexicon's 请稍等 …)."""
    if not silences:
        return []
    from coach.phrases import announced  # jieba: loaded only when there is dead air to advise on

    return announced(silences, report.utterances, _default_lexicon())


@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    from coach.lexicon import load_lexicon

    return load_lexicon()


def _interruptions(console: Console, report: Report) -> None:
    if not report.can_measure(Metric.INTERRUPTION):
        console.print(f"  {report.why_not_measured(Metric.INTERRUPTION)}")
        return
    if not report.interruptions:
        console.print("  没有打断客户说话。")
        return
    for i in sorted(report.interruptions, key=lambda i: -i.overlap_s):
        console.print(f"  {clock(i.start)}  与客户同时说话 {i.overlap_s:.1f} 秒  客户：「{_short(i.customer_text)}」 坐席：「{_short(i.agent_text)}」")
    console.print("  建议：等客户说完再回应，可以先用「嗯」「好的」表示在听。")


def _pitch(console: Console, report: Report) -> None:
    p = report.pitch
    if p.semitone_std is None or p.monotone is None:
        console.print("  有声语音太少，无法判断语调。")
        return
    state = "语调平淡（缺少抑扬顿挫）" if p.monotone else "语调有起伏"
    threshold = f"（低于 {p.flat_below_st:g} 为平淡）" if p.flat_below_st is not None else ""
    console.print(f"  音高变化 {p.semitone_std:.1f} 半音{threshold}，中位音高 {p.median_hz:.0f} Hz — {state}")
    if p.monotone:
        console.print("  建议：关键词加重，句尾自然升降，避免机械朗读。")


def _courtesy(console: Console, report: Report) -> None:
    used: dict[str, int] = {}
    for h in report.phrases:
        if h.category == "courtesy" and h.speaker is Speaker.AGENT:
            used[h.phrase] = used.get(h.phrase, 0) + 1
    console.print("  已使用：" + ("、".join(f"{p}×{n}" if n > 1 else p for p, n in used.items()) or "无"))
    for check in report.script:
        if not check.ok:
            console.print(Text(f"  缺少：{check.item}" + (f" — {check.detail}" if check.detail else ""), style="yellow"))


def _forbidden(console: Console, report: Report) -> None:
    hits = [h for h in report.phrases if h.category == "forbidden"]
    if not hits:
        console.print("  没有服务禁语。")
        return
    rank = {"critical": 0, "major": 1, "minor": 2}
    for h in sorted(hits, key=lambda h: (h.speaker is not Speaker.AGENT, rank.get(h.severity, 1), h.start)):
        who = "坐席" if h.speaker is Speaker.AGENT else "客户（不计分）"
        heard = h.heard if h.heard and h.heard != h.phrase else h.phrase
        console.print(Text.assemble(f"  {clock(h.start)}  {who}  「{_short(h.context or heard)}」  ",
                                    (f"禁语：{h.phrase}", "bold red"), f"（{_SEVERITY.get(h.severity, h.severity)}）"))
        if h.suggestion and h.speaker is Speaker.AGENT:
            console.print(Text.assemble("           建议改说：", (h.suggestion, "green")))


def _fillers(console: Console, report: Report) -> None:
    hits = [h for h in report.phrases if h.category == "filler" and h.speaker is Speaker.AGENT]
    if not hits:
        console.print("  没有口头禅。")
    for h in hits:
        console.print(f"  {clock(h.start)}  「{_short(h.context or h.heard or h.phrase)}」  口头禅：{h.phrase}"
                      + (f"  建议：{h.suggestion}" if h.suggestion else ""))


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

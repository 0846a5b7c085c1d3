"""A self-contained HTML report a trainer walks through with the agent.

One file, no network: the recording embedded (`audio_embed`), inline CSS and JS, inline
SVG for the timeline, pitch contour and speaking rate; the transcript by speaker with
courtesy, forbidden and filler phrases marked (the suggestion beside each forbidden one);
the scorecard with its evidence.  Every line, phrase, event and evidence item carries
its time (``data-t``) and a click plays the recording from there.

Transcripts are data, not markup: the page is a Jinja2 template with autoescaping, and a
Content-Security-Policy lets only this page's own script (by its hash) run, so even a
mistake in escaping could not execute anything.  This module builds the view (geometry,
phrase positions) as plain data; the template only lays it out.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import jinja2

from coach.masking import mask_source
from coach.results import Metric, PhraseHit, QaFigures, Report, Speaker, Utterance, Verdict
from coach.writers.audio_embed import EmbeddedAudio, browser_audio
from coach.writers.base import FileWriter
from coach.writers.terminal import clock, layout_label

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
WIDTH = 1000.0  # SVG user units across the whole call
MARKED = ("forbidden", "courtesy", "filler")  # phrase categories highlighted in the transcript
_SPEAKER = {Speaker.AGENT: "坐席", Speaker.CUSTOMER: "客户"}
_VERDICT = {Verdict.TOO_SLOW: "偏慢", Verdict.OK: "达标", Verdict.TOO_FAST: "偏快", Verdict.NO_SPEECH: "无语音"}
_TICK_STEPS_S = (5, 10, 15, 30, 60, 120, 300, 600, 1200)
_MAX_TICKS = 12
_CONTOUR_GAP_S = 0.6  # a pause longer than this breaks the pitch line
_HIT_SLACK_S = 0.05


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment shared with `coach.qa.serve`: autoescaping always on."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    return env


def script_policy(script: str) -> str:
    """A CSP that lets exactly this inline script run (and loads nothing from anywhere)."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'self'")


def render_html(report: Report, audio: EmbeddedAudio | None = None, back_link: str | None = None, *,
                template: str = "report.html.j2", extra: dict[str, Any] | None = None) -> str:
    """The report page as text; ``back_link`` adds a link back (to the `coach serve` list).
    `coach serve` renders its call page, a ``template`` extending this one, with ``extra`` values."""
    env = environment()
    script = report_script()
    duration = max(report.duration_s, 0.1)
    view = {
        "report": report,
        # The file name often is the caller's number; the path stays unmasked only for reading the audio.
        "title": Path(mask_source(report.source)).name,
        "source": mask_source(report.source),
        "layout": layout_label(report),
        "audio_uri": audio.data_uri() if audio else None,
        "lines": [_line(u, report.phrases) for u in report.utterances],
        "timeline": _timeline(report, duration),
        "pitch": _pitch_chart(report, duration),
        "rate": _rate_chart(report, duration),
        "summary": _summary(report),
        "qa_figures": qa_figures(report.qa),
        "failed_by": [i.name for i in report.score.items if i.critical and i.hits],
        "script": script,
        "policy": script_policy(script),
        "back_link": back_link,
        "width": WIDTH,
        **(extra or {}),
    }
    return env.get_template(template).render(**view)


def report_script() -> str:
    """The page's one inline script (its hash is in the page's Content-Security-Policy)."""
    return environment().get_template("report.js").render()


class HtmlWriter(FileWriter):
    name, suffix, what = "html", ".html", "HTML report"

    def render(self, report: Report) -> str:
        """The page with its recording embedded (if the recording can still be read)."""
        return render_html(report, browser_audio(report.source))


# ----------------------------------------------------------------------------- transcript
@dataclass(frozen=True)
class Segment:
    """A piece of a transcript line: plain text, or a marked phrase hit."""

    text: str
    hit: PhraseHit | None = None


def _line(utterance: Utterance, phrases: Sequence[PhraseHit]) -> dict[str, Any]:
    hits = [h for h in phrases if h.category in MARKED and h.speaker is utterance.speaker
            and utterance.start - _HIT_SLACK_S <= h.start <= utterance.end + _HIT_SLACK_S]
    segments, unplaced = place_hits(utterance, hits)
    return {"t": utterance.start, "end": utterance.end, "speaker": utterance.speaker.value,
            "who": _SPEAKER[utterance.speaker], "segments": segments, "unplaced": unplaced}


def place_hits(utterance: Utterance, hits: Sequence[PhraseHit]) -> tuple[list[Segment], list[PhraseHit]]:
    """Split the utterance text around its hits; hits whose words are not in the text come back apart.

    A phrase can occur twice in one line (您好…您好): each hit takes the occurrence
    nearest to where its time says it is.
    """
    text = utterance.text
    taken: list[tuple[int, int, PhraseHit]] = []
    unplaced = []
    for hit in sorted(hits, key=lambda h: h.start):
        needle = hit.heard or hit.phrase
        expected = (hit.start - utterance.start) / max(utterance.duration, 1e-6) * len(text)
        free = [i for i in _occurrences(text, needle)
                if all(i + len(needle) <= a or i >= b for a, b, _ in taken)]
        if not free:
            unplaced.append(hit)
            continue
        at = min(free, key=lambda i: abs(i - expected))
        taken.append((at, at + len(needle), hit))
    segments, cursor = [], 0
    for a, b, hit in sorted(taken, key=lambda x: x[0]):
        if a > cursor:
            segments.append(Segment(text[cursor:a]))
        segments.append(Segment(text[a:b], hit))
        cursor = b
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return segments, unplaced


def _occurrences(text: str, needle: str) -> list[int]:
    found, i = [], text.find(needle) if needle else -1
    while i >= 0:
        found.append(i)
        i = text.find(needle, i + 1)
    return found


# ----------------------------------------------------------------------------- charts
def _x(t: float, duration: float) -> float:
    return round(min(max(t, 0.0), duration) / duration * WIDTH, 2)


def _ticks(duration: float) -> list[dict[str, Any]]:
    step = next((s for s in _TICK_STEPS_S if duration / s <= _MAX_TICKS), _TICK_STEPS_S[-1])
    return [{"t": float(t), "pct": round(t / duration * 100, 3), "label": f"{t // 60}:{t % 60:02d}"}
            for t in range(0, int(duration) + 1, step)]


def _timeline(report: Report, duration: float) -> dict[str, Any]:
    def bar(t0: float, t1: float) -> dict[str, float]:
        return {"t": t0, "x": _x(t0, duration), "w": max(_x(t1, duration) - _x(t0, duration), 0.5)}

    return {
        "speech": [{**bar(u.start, u.end), "speaker": u.speaker.value, "text": u.text} for u in report.utterances],
        "silences": [{**bar(s.start, s.end), "duration": s.duration, "hold": s.hold} for s in report.silences],
        "interruptions": [{**bar(i.start, i.end), "overlap": i.overlap_s, "agent": i.agent_text,
                           "customer": i.customer_text} for i in report.interruptions],
        "forbidden": [{**bar(h.start, h.end), "phrase": h.phrase} for h in report.phrases
                      if h.category == "forbidden" and h.speaker is Speaker.AGENT],
        "ticks": _ticks(duration),
    }


def _pitch_chart(report: Report, duration: float, height: float = 100.0) -> dict[str, Any] | None:
    points = report.pitch_contour
    if len(points) < 2:
        return None
    logs = sorted(math.log2(hz) for _, hz in points)
    # 2nd–98th percentile plus a margin: one stray frame must not squash the whole curve.
    lo, hi = logs[len(logs) // 50] - 0.15, logs[-1 - len(logs) // 50] + 0.15

    def y(hz: float) -> float:
        return round(height - (min(max(math.log2(hz), lo), hi) - lo) / (hi - lo) * height, 1)

    path, previous = [], None
    for t, hz in points:
        path.append(f"{'M' if previous is None or t - previous > _CONTOUR_GAP_S else 'L'}{_x(t, duration)} {y(hz)}")
        previous = t
    median = report.pitch.median_hz
    return {"path": " ".join(path), "height": height,
            "median_y": y(median) if median else None, "median_hz": median,
            "top_hz": round(2 ** hi), "bottom_hz": round(2 ** lo)}


def _rate_chart(report: Report, duration: float, height: float = 100.0) -> dict[str, Any] | None:
    rates = report.utterance_rates
    if not rates:
        return None
    top = max(max(r.chars_per_min for r in rates), report.rate.target_max * 1.5)

    def y(value: float) -> float:
        return round(height - min(value, top) / top * height, 1)

    bars = [{"t": r.start, "x": _x(r.start, duration), "w": max(_x(r.end, duration) - _x(r.start, duration), 1.0),
             "y": y(r.chars_per_min), "h": round(height - y(r.chars_per_min), 1), "rate": r.chars_per_min,
             "verdict": r.verdict.value, "label": _VERDICT[r.verdict], "text": r.text} for r in rates]
    return {"bars": bars, "height": height, "band_y": y(report.rate.target_max),
            "band_h": round(y(report.rate.target_min) - y(report.rate.target_max), 1),
            "target_min": report.rate.target_min, "target_max": report.rate.target_max, "top": round(top)}


def qa_figures(qa: QaFigures | None) -> list[tuple[str, str]] | None:
    """The figures QA teams compare across agents, labelled; "—" where the call has none (no
    customer side on a mono recording); None for a report stored before they existed."""
    if qa is None:
        return None

    def number(value: float | None, spec: str, unit: str = "") -> str:
        return "—" if value is None else f"{format(value, spec)}{unit}"

    return [("说听比", number(qa.talk_listen_ratio, ".2f")),
            ("轮次", f"坐席 {qa.agent_turns} / 客户 {number(qa.customer_turns, 'd')}"),
            ("首次响应", number(qa.first_response_s, ".1f", " 秒")),
            ("保持时长", number(qa.hold_s, ".0f", " 秒")),
            ("语速差", number(qa.rate_gap, "+.0f", " 字/分"))]


def _summary(report: Report) -> list[tuple[str, str]]:
    r, p = report.rate, report.pitch
    agent = [h for h in report.phrases if h.speaker is Speaker.AGENT]
    return [
        ("语速", f"{r.chars_per_min:.0f} 字/分 · {_VERDICT[r.verdict]}" if r.chars_per_min is not None else "—"),
        ("冷场", f"{sum(not s.hold for s in report.silences)} 次"),
        ("抢话", f"{len(report.interruptions)} 次" if report.can_measure(Metric.INTERRUPTION) else "无法判断"),
        ("音高变化", f"{p.semitone_std:.1f} 半音" + ("（平淡）" if p.monotone else "") if p.semitone_std is not None else "—"),
        ("礼貌用语", f"{sum(h.category == 'courtesy' for h in agent)} 次"),
        ("服务禁语", f"{sum(h.category == 'forbidden' for h in agent)} 次"),
    ]

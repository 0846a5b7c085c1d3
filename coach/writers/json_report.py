"""The `coach.report/1` JSON contract of DESIGN.md (plus extra keys it welcomes)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.results import (
    Evidence, Interruption, Layout, PhraseHit, PitchStats, RateStats, Report, Score, ScoreItem, ScriptCheck,
    Silence, Speaker, Utterance, UtterancePitch, UtteranceRate, Verdict,
)

SCHEMA = "coach.report/1"


def report_to_dict(report: Report) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "source": report.source,
        "duration_s": report.duration_s,
        "layout": report.layout.value,
        "agent_channel": report.agent_channel,
        "utterances": [
            {"speaker": u.speaker.value, "start": u.start, "end": u.end, "text": u.text,
             "raw_text": u.raw_text, "chars": u.chars}
            for u in report.utterances
        ],
        "speaking_rate": {
            "chars_per_min": report.rate.chars_per_min,
            "target_min": report.rate.target_min,
            "target_max": report.rate.target_max,
            "verdict": report.rate.verdict.value,
            "chars": report.rate.chars,
            "speaking_s": report.rate.speaking_s,
            "per_utterance": [
                {"start": r.start, "end": r.end, "chars": r.chars, "chars_per_min": r.chars_per_min,
                 "verdict": r.verdict.value, "text": r.text}
                for r in report.utterance_rates
            ],
        },
        "silences": [
            {"start": s.start, "end": s.end, "duration": round(s.duration, 2),
             "last_speaker": s.last_speaker.value if s.last_speaker else None, "hold": s.hold}
            for s in report.silences
        ],
        "interruptions": [
            {"start": i.start, "end": i.end, "overlap_s": i.overlap_s,
             "agent_text": i.agent_text, "customer_text": i.customer_text}
            for i in report.interruptions
        ],
        "interruptions_note": (
            "mono recording: interruptions are not measurable" if report.agent_channel == "mono" else None
        ),
        "pitch": {
            **_pitch(report.pitch),
            "per_utterance": [{"start": p.start, "end": p.end, **_pitch(p.stats)} for p in report.utterance_pitch],
            "contour": [list(point) for point in report.pitch_contour],  # [time s, Hz], 0.2 s bins
        },
        "phrases": [
            {"category": h.category, "phrase": h.phrase, "speaker": h.speaker.value, "start": h.start,
             "end": h.end, "heard": h.heard, "confidence": h.confidence, "severity": h.severity,
             "suggestion": h.suggestion, "context": h.context}
            for h in report.phrases
        ],
        "script": [
            {"item": c.item, "ok": c.ok, "detail": c.detail, "start": c.start} for c in report.script
        ],
        "score": {
            "total": report.score.total,
            "earned": report.score.earned,
            "failed": report.score.failed,
            "scorecard": report.score.scorecard,
            "items": [
                {"name": i.name, "measure": i.measure, "points": i.points, "max_points": i.max_points,
                 "critical": i.critical, "hits": i.hits, "detail": i.detail,
                 "evidence": [{"start": e.start, "end": e.end, "quote": e.quote, "detail": e.detail}
                              for e in i.evidence]}
                for i in report.score.items
            ],
        },
        "notes": list(report.notes),
        "timings_s": dict(report.timings),
    }


def _pitch(stats: PitchStats) -> dict[str, Any]:
    return {"median_hz": stats.median_hz, "semitone_std": stats.semitone_std,
            "monotone": stats.monotone, "voiced_s": stats.voiced_s}


def report_from_dict(data: dict[str, Any]) -> Report:
    """The `Report` back from a coach.report/1 dict (a stored batch result), for the HTML writer.

    Keys added after a report was stored are missing from it, so everything beyond
    DESIGN.md's contract falls back to empty; per-word timings were never written.
    """
    rate = data.get("speaking_rate") or {}
    pitch = data.get("pitch") or {}
    score = data.get("score") or {}
    return Report(
        source=data["source"], duration_s=data["duration_s"], layout=Layout(data.get("layout", "stereo")),
        agent_channel=data.get("agent_channel", "left"),
        utterances=tuple(Utterance(Speaker(u["speaker"]), u["start"], u["end"], u["text"], u.get("raw_text", ""),
                                   u.get("chars", 0)) for u in data.get("utterances", ())),
        rate=RateStats(rate.get("chars", 0), rate.get("speaking_s", 0.0), rate.get("chars_per_min"),
                       Verdict(rate.get("verdict", "no_speech")), rate.get("target_min", 0.0),
                       rate.get("target_max", 0.0)),
        utterance_rates=tuple(UtteranceRate(r["start"], r["end"], r["chars"], r["chars_per_min"],
                                            Verdict(r["verdict"]), r.get("text", ""))
                              for r in rate.get("per_utterance", ())),
        silences=tuple(Silence(s["start"], s["end"], Speaker(s["last_speaker"]) if s.get("last_speaker") else None,
                               s.get("hold", False)) for s in data.get("silences", ())),
        interruptions=tuple(Interruption(i["start"], i["end"], i["overlap_s"], i.get("agent_text", ""),
                                         i.get("customer_text", "")) for i in data.get("interruptions", ())),
        pitch=_pitch_stats(pitch),
        utterance_pitch=tuple(UtterancePitch(p["start"], p["end"], _pitch_stats(p))
                              for p in pitch.get("per_utterance", ())),
        phrases=tuple(PhraseHit(h["category"], h["phrase"], Speaker(h["speaker"]), h["start"], h["end"],
                                h.get("heard", ""), h.get("confidence", 1.0), h.get("severity", ""),
                                h.get("suggestion", ""), h.get("context", "")) for h in data.get("phrases", ())),
        script=tuple(ScriptCheck(c["item"], c["ok"], c.get("detail", ""), c.get("start"))
                     for c in data.get("script", ())),
        score=Score(score.get("total", 0.0), tuple(_score_item(i) for i in score.get("items", ())),
                    score.get("earned"), score.get("failed", False), score.get("scorecard", "")),
        notes=tuple(data.get("notes", ())), timings=tuple((data.get("timings_s") or {}).items()),
        pitch_contour=tuple((t, hz) for t, hz in pitch.get("contour", ())),
    )


def _pitch_stats(data: dict[str, Any]) -> PitchStats:
    return PitchStats(data.get("median_hz"), data.get("semitone_std"), data.get("monotone"),
                      data.get("voiced_s", 0.0))


def _score_item(data: dict[str, Any]) -> ScoreItem:
    # Reports stored before scorecards held their evidence as plain strings.
    evidence = tuple(Evidence(e.get("start"), e.get("end"), e.get("quote", ""), e.get("detail", ""))
                     if isinstance(e, dict) else Evidence(None, None, "", str(e)) for e in data.get("evidence", ()))
    return ScoreItem(data["name"], data["points"], data["max_points"], data.get("detail", ""), evidence,
                     data.get("measure", ""), data.get("critical", False), data.get("hits", len(evidence)))


def write_json(report: Report, destination: str | Path) -> None:
    """Write atomically: a crash never leaves half a report behind."""
    destination = Path(destination)
    text = json.dumps(report_to_dict(report), ensure_ascii=False, indent=2)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, destination)
    except OSError as exc:
        raise CoachError(f"cannot write the JSON report to {destination} ({exc.strerror}): choose a writable path") from None

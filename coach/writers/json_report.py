"""The `coach.report/1` JSON contract of DESIGN.md (plus extra keys it welcomes)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.results import PitchStats, Report

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
            "items": [
                {"name": i.name, "points": i.points, "max_points": i.max_points, "detail": i.detail,
                 "evidence": list(i.evidence)}
                for i in report.score.items
            ],
        },
        "notes": list(report.notes),
        "timings_s": dict(report.timings),
    }


def _pitch(stats: PitchStats) -> dict[str, Any]:
    return {"median_hz": stats.median_hz, "semitone_std": stats.semitone_std,
            "monotone": stats.monotone, "voiced_s": stats.voiced_s}


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

"""The report's dict form: the `coach.report/1` contract of docs/design.md, and back.

`report_to_dict` is what `--json` writes and what batch stores; `report_from_dict` rebuilds the
`Report` from a stored dict (for the HTML writer and serve).  Reports stored by an older coach
lack keys added since: those fall back to what such a report meant (no `speakers`: the old
`agent_channel` says who was measured).
"""

from __future__ import annotations

from typing import Any

from coach.results import (
    Evidence, Interruption, Layout, Measurability, Metric, Party, PhraseHit, PitchStats, QaFigures, RateStats, Report,
    Score, ScoreItem, ScriptCheck, Separation, Silence, Source, Speaker, Utterance, UtterancePitch, UtteranceRate,
    Verdict,
)

SCHEMA = "coach.report/1"


def report_to_dict(report: Report) -> dict[str, Any]:
    agent_source = report.source_of(Speaker.AGENT)
    return {
        "schema": SCHEMA,
        "source": report.source,
        "duration_s": report.duration_s,
        "layout": report.layout.value,
        # kept for readers of reports before `speakers`: "left" | "right" | "mono" | "mixed"
        "agent_channel": "mixed" if agent_source is Source.SEPARATED else agent_source.value if agent_source else "mono",
        "speakers": [{"speaker": p.speaker.value, "source": p.source.value} for p in report.speakers],
        "measurable": {m.metric.value: {"measurable": m.measurable, "reason": m.reason} for m in report.measurable},
        "separation": _separation(report.separation),
        "utterances": [
            {"speaker": u.speaker.value, "start": u.start, "end": u.end, "text": u.text, "raw_text": u.raw_text,
             "chars": u.chars, "syllables": u.syllables, "transcribed": u.transcribed}
            for u in report.utterances
        ],
        "untranscribed": [{"speaker": u.speaker.value, "start": u.start, "end": u.end, "syllables": u.syllables}
                          for u in report.utterances if not u.transcribed],
        "speaking_rate": {
            **_rate(report.rate),
            "per_utterance": [
                {"start": r.start, "end": r.end, "chars": r.chars, "chars_per_min": r.chars_per_min,
                 "verdict": r.verdict.value, "text": r.text}
                for r in report.utterance_rates
            ],
        },
        "customer_rate": _rate(report.customer_rate) if report.customer_rate else None,
        "silences": [
            {"start": s.start, "end": s.end, "duration": round(s.duration, 2),
             "last_speaker": s.last_speaker.value if s.last_speaker else None, "hold": s.hold}
            for s in report.silences
        ],
        "interruptions": [
            {"start": i.start, "end": i.end, "overlap_s": i.overlap_s, "agent_text": i.agent_text,
             "customer_text": i.customer_text}
            for i in report.interruptions
        ],
        "interruptions_note": report.why_not_measured(Metric.INTERRUPTION) or None,
        "pitch": {
            **_pitch(report.pitch),
            "per_utterance": [{"start": p.start, "end": p.end, **_pitch(p.stats)} for p in report.utterance_pitch],
            "contour": [list(point) for point in report.pitch_contour],  # [time s, Hz], 0.2 s bins
        },
        "phrases": [
            {"category": h.category, "phrase": h.phrase, "speaker": h.speaker.value, "start": h.start, "end": h.end,
             "heard": h.heard, "confidence": h.confidence, "severity": h.severity, "suggestion": h.suggestion,
             "context": h.context}
            for h in report.phrases
        ],
        "script": [{"item": c.item, "ok": c.ok, "detail": c.detail, "start": c.start} for c in report.script],
        "qa": None if report.qa is None else {
            "talk_listen_ratio": report.qa.talk_listen_ratio,
            "turns": {"agent": report.qa.agent_turns, "customer": report.qa.customer_turns},
            "first_response_s": report.qa.first_response_s, "hold_s": report.qa.hold_s,
            "rate_gap": report.qa.rate_gap,
        },
        "score": {
            "total": report.score.total,
            "not_scored": report.score.not_scored or None,
            "earned": report.score.earned,
            "possible": report.score.possible,
            "failed": report.score.failed,
            "scorecard": report.score.scorecard,
            "items": [
                {"name": i.name, "measure": i.measure, "points": i.points, "max_points": i.max_points,
                 "applicable": i.applicable, "critical": i.critical, "hits": i.hits, "detail": i.detail,
                 "evidence": [{"start": e.start, "end": e.end, "quote": e.quote, "detail": e.detail}
                              for e in i.evidence]}
                for i in report.score.items
            ],
        },
        "notes": list(report.notes),
        "timings_s": dict(report.timings),
    }


def _separation(separation: Separation | None) -> dict[str, Any] | None:
    """How a mono recording's voices were told apart (None: stereo, or --layout agent-only)."""
    if separation is None:
        return None
    return {"voices": separation.voices, "contrast": separation.contrast, "threshold": separation.threshold,
            "similarity": separation.similarity, "confidence": separation.confidence,
            "agent_cues": list(separation.agent_cues), "agent_reason": separation.agent_reason or None,
            "review": bool(separation.uncertain), "uncertain": separation.uncertain or None}


def _separation_from(data: dict[str, Any] | None) -> Separation | None:
    if not data:
        return None
    return Separation(voices=data["voices"], similarity=data.get("similarity"), threshold=data.get("threshold", 0.0),
                      confidence=data.get("confidence", 1.0), contrast=data.get("contrast"),
                      agent_cues=tuple(data.get("agent_cues") or ()), agent_reason=data.get("agent_reason") or "",
                      uncertain=data.get("uncertain") or "")


def _rate(rate: RateStats) -> dict[str, Any]:
    return {"chars_per_min": rate.chars_per_min, "target_min": rate.target_min, "target_max": rate.target_max,
            "verdict": rate.verdict.value, "chars": rate.chars, "speaking_s": rate.speaking_s,
            "asr_chars": rate.asr_chars, "syllables": rate.syllables, "syllables_per_min": rate.syllables_per_min,
            "chars_from_syllables": rate.from_syllables}


def _pitch(stats: PitchStats) -> dict[str, Any]:
    return {"median_hz": stats.median_hz, "semitone_std": stats.semitone_std, "monotone": stats.monotone,
            "voiced_s": stats.voiced_s, "flat_below_st": stats.flat_below_st}


def report_from_dict(data: dict[str, Any]) -> Report:
    """The `Report` back from a coach.report/1 dict (a stored batch result).

    Keys added after a report was stored are missing from it, so everything beyond the
    contract falls back to empty; per-word timings are never written.
    """
    rate = data.get("speaking_rate") or {}
    pitch = data.get("pitch") or {}
    score = data.get("score") or {}
    qa = data.get("qa")
    return Report(
        source=data["source"], duration_s=data["duration_s"], layout=Layout(data.get("layout", "stereo")),
        speakers=_parties(data),
        utterances=tuple(Utterance(Speaker(u["speaker"]), u["start"], u["end"], u["text"], u.get("raw_text", ""),
                                   u.get("chars", 0), syllables=u.get("syllables", 0))
                         for u in data.get("utterances", ())),
        rate=_rate_stats(rate),
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
        score=Score(score.get("total"), tuple(_score_item(i) for i in score.get("items", ())), score.get("earned"),
                    score.get("failed", False), score.get("scorecard", ""), score.get("possible"),
                    score.get("not_scored") or ""),
        notes=tuple(data.get("notes", ())), timings=tuple((data.get("timings_s") or {}).items()),
        pitch_contour=tuple((t, hz) for t, hz in pitch.get("contour", ())),
        measurable=_measurable(data),
        qa=None if not qa else QaFigures(qa.get("talk_listen_ratio"), (qa.get("turns") or {}).get("agent", 0),
                                         (qa.get("turns") or {}).get("customer"), qa.get("first_response_s"),
                                         qa.get("hold_s", 0.0), qa.get("rate_gap")),
        customer_rate=_rate_stats(data["customer_rate"]) if data.get("customer_rate") else None,
        separation=_separation_from(data.get("separation")),
    )


def _parties(data: dict[str, Any]) -> tuple[Party, ...]:
    if "speakers" in data:
        return tuple(Party(Speaker(p["speaker"]), Source(p["source"])) for p in data["speakers"])
    channel = data.get("agent_channel", "left")
    if channel == "mono":
        return (Party(Speaker.AGENT, Source.MONO),)
    customer = Source.RIGHT if channel == "left" else Source.LEFT
    return Party(Speaker.AGENT, Source(channel)), Party(Speaker.CUSTOMER, customer)


def _measurable(data: dict[str, Any]) -> tuple[Measurability, ...]:
    if "measurable" in data:
        return tuple(Measurability(Metric(metric), m["measurable"], m.get("reason", ""))
                     for metric, m in data["measurable"].items())
    note = data.get("interruptions_note")  # an older report: only interruptions could be unmeasurable
    return (Measurability(Metric.INTERRUPTION, False, note),) if note else ()


def _rate_stats(rate: dict[str, Any]) -> RateStats:
    return RateStats(rate.get("chars", 0), rate.get("speaking_s", 0.0), rate.get("chars_per_min"),
                     Verdict(rate.get("verdict", "no_speech")), rate.get("target_min", 0.0), rate.get("target_max", 0.0),
                     rate.get("asr_chars", rate.get("chars", 0)), rate.get("syllables", 0),
                     rate.get("syllables_per_min"), rate.get("chars_from_syllables", 0))


def _pitch_stats(data: dict[str, Any]) -> PitchStats:
    return PitchStats(data.get("median_hz"), data.get("semitone_std"), data.get("monotone"),
                      data.get("voiced_s", 0.0), data.get("flat_below_st"))


def _score_item(data: dict[str, Any]) -> ScoreItem:
    # Reports stored before scorecards held their evidence as plain strings.
    evidence = tuple(Evidence(e.get("start"), e.get("end"), e.get("quote", ""), e.get("detail", ""))
                     if isinstance(e, dict) else Evidence(None, None, "", str(e)) for e in data.get("evidence", ()))
    return ScoreItem(data["name"], data["points"], data["max_points"], data.get("detail", ""), evidence,
                     data.get("measure", ""), data.get("critical", False), data.get("hits", len(evidence)),
                     data.get("applicable", True))

"""The report's dict form: a round trip loses nothing, and reports stored by an older coach still read."""

import json
from dataclasses import replace

from coach.results import (
    Layout, Measurability, Metric, Party, QaFigures, RateStats, Source, Speaker, Utterance, Verdict,
)
from coach.schema import SCHEMA, report_from_dict, report_to_dict
from tests.fixtures.reports import as_report, make_report, make_walkthrough_report


def full_report():
    """A scored report with every field the dict form carries set to something."""
    report = as_report(make_walkthrough_report("calls/13812345678.wav"))
    return replace(
        report,
        utterances=report.utterances + (Utterance(Speaker.AGENT, 66.0, 67.5, "", "", 0, syllables=6),),
        measurable=(Measurability(Metric.INTERRUPTION, True), Measurability(Metric.PITCH, False, "坐席的有声语音太少")),
        qa=QaFigures(1.25, 5, 3, 0.5, 12.0, -8.5),
        customer_rate=RateStats(50, 20.0, 150.0, Verdict.TOO_FAST, 120, 140, 48, 52, 156.0, 2),
        rate=replace(report.rate, asr_chars=58, syllables=61, syllables_per_min=152.5, from_syllables=2),
    )


def test_a_report_survives_the_round_trip():
    report = full_report()
    data = report_to_dict(report)
    assert data["schema"] == SCHEMA
    again = report_from_dict(json.loads(json.dumps(data, ensure_ascii=False)))
    assert report_to_dict(again) == data
    assert again.speakers == report.speakers and again.measurable == report.measurable
    assert again.qa == report.qa and again.customer_rate == report.customer_rate
    assert again.score.total == report.score.total and again.score.items == report.score.items


def test_the_dict_says_who_was_measured_and_what_was_not_transcribed():
    data = report_to_dict(full_report())
    assert data["speakers"] == [{"speaker": "agent", "source": "left"}, {"speaker": "customer", "source": "right"}]
    assert data["agent_channel"] == "left" and data["layout"] == "stereo"
    assert data["untranscribed"] == [{"speaker": "agent", "start": 66.0, "end": 67.5, "syllables": 6}]
    assert data["measurable"]["pitch"] == {"measurable": False, "reason": "坐席的有声语音太少"}
    assert data["qa"]["turns"] == {"agent": 5, "customer": 3}


def test_a_not_scored_call_keeps_its_reason():
    report = full_report()
    data = report_to_dict(replace(report, score=replace(report.score, total=None, not_scored="未检测到坐席语音，无法评分")))
    assert data["score"]["total"] is None and data["score"]["not_scored"] == "未检测到坐席语音，无法评分"
    assert report_from_dict(data).score.not_scored == "未检测到坐席语音，无法评分"


def test_a_report_stored_before_speakers_reads_by_its_agent_channel():
    old = make_report("old.wav", agent_channel="mono")
    for key in ("speakers", "measurable", "qa", "customer_rate", "untranscribed"):
        old.pop(key, None)
    report = report_from_dict(old)
    assert report.speakers == (Party(Speaker.AGENT, Source.MONO),) and report.layout is Layout.MONO
    assert not report.can_measure(Metric.INTERRUPTION)
    stereo = make_report("old.wav")
    stereo.pop("speakers", None)
    assert report_from_dict(stereo).source_of(Speaker.CUSTOMER) is Source.RIGHT

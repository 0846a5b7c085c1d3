"""The terminal report: figures that add up, and advice that fits what the agent did."""

import io
import re
from dataclasses import replace

from coach.results import Silence, Speaker
from coach.writers.terminal import write_terminal
from tests.fixtures.reports import as_report, make_walkthrough_report


def text(report) -> str:
    out = io.StringIO()
    write_terminal(report, out)
    return out.getvalue()


def test_the_deductions_shown_add_up_to_the_total_shown():
    report = as_report(make_walkthrough_report("call.wav"))  # the silence item loses 7.5, the rate item a fraction
    shown = text(report)
    total = float(re.search(r"得分 ([\d.]+)/100", shown).group(1))
    lost = [float(x) for x in re.findall(r"扣 ([\d.]+) 分", shown)]
    assert "扣 7.5 分" in shown
    assert total == report.score.total and sum(lost) + total == 100


def test_dead_air_after_please_wait_is_not_told_to_say_please_wait():
    report = as_report(make_walkthrough_report("call.wav"))  # 请您稍等 at 20.5 s, then 12 s of silence, no apology
    shown = text(report)
    assert "已说请稍等" in shown and "先说「请您稍等」" not in shown and "让您久等了" in shown


def test_dead_air_without_a_word_is_told_to_ask_first():
    report = as_report(make_walkthrough_report("call.wav"))
    report = replace(report, silences=(Silence(9.0, 16.0, Speaker.CUSTOMER),))  # the customer spoke, nobody answered
    assert "先说「请您稍等」" in text(report)

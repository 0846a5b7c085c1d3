"""Masking of phone, ID-card and bank-card numbers, written in digits or read out in Chinese."""

from __future__ import annotations

import json

import pytest

from coach.masking import is_id_card, luhn_ok, mask_event, mask_report, mask_source, mask_text
from coach.schema import report_to_dict
from tests.fixtures.reports import as_report, make_walkthrough_report

VALID_ID = "11010519491231002X"  # the GB 11643 worked example: check character X
UNIONPAY_19 = "6217000010001234569"  # Luhn check digit 9


@pytest.mark.parametrize("text, masked", [
    ("我的手机是13812345678，谢谢", "我的手机是138****5678，谢谢"),
    ("手机一三八一二三四五六七八", "手机一三八****五六七八"),  # dictated digit by digit
    ("幺三八 1234 5678", "幺三八 **** 5678"),  # 幺 for 1, mixed forms, grouped
    ("138-1234-5678", "138-****-5678"),
    ("电话１３８１２３４５６７８", "电话１３８****５６７８"),  # full-width digits
    (f"身份证{VALID_ID}", "身份证110***********002X"),
    ("身份证一一零一零五一九四九一二三一零零二x", "身份证一一零***********零零二x"),
    ("卡号4111111111111111", "卡号411*********1111"),
    (f"卡号{UNIONPAY_19}号", "卡号621************4569号"),
    ("号码是013812345678", "号码是0138****5678"),  # a mobile inside a longer run
])
def test_personal_numbers_are_masked_keeping_head_and_tail(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "工号1023，很高兴为您服务",
    "一共一千零二十三块，两百兆流量",  # counted numbers are not personal numbers
    "订单4111111111111112",  # 16 digits failing Luhn: an order number, not a card
    "金额12345678901234567",  # 17 digits: neither card nor ID
    "12345678901",  # 11 digits that are not a mobile number (no 1[3-9] prefix)
    "一下一个一点",
    "",
])
def test_other_numbers_and_text_stay_readable(text):
    assert mask_text(text) == text


def test_checksums():
    assert is_id_card(VALID_ID) and is_id_card(VALID_ID.lower())
    assert not is_id_card("110105194912310021")  # wrong check character
    assert luhn_ok(UNIONPAY_19) and luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_mask_report_covers_every_text_a_writer_prints():
    report = as_report(make_walkthrough_report("call.wav"))
    masked = mask_report(report)
    dumped = json.dumps(report_to_dict(masked), ensure_ascii=False)
    for secret in ("13812345678", "12345678", "一零五一九四九一二三一", "一九四九"):
        assert secret not in dumped
    assert "138****5678" in dumped
    assert masked.utterances[1].text == "我的手机号是138****5678，话费扣错了。"
    assert "*" in masked.interruptions[0].customer_text
    # Only the texts change: times, counts and the score stay as they were.
    assert [u.start for u in masked.utterances] == [u.start for u in report.utterances]
    assert masked.score.total == report.score.total
    assert report.utterances[1].text.endswith("13812345678，话费扣错了。")  # the input is not modified


def test_mask_event_masks_the_message_and_quoted_texts_only():
    from coach.live.events import EventType, LiveEvent

    event = LiveEvent(12.5, EventType.PHRASE, 10.0, "服务禁语「不清楚13812345678」",
                      {"heard": "不清楚13812345678", "phrase": "不清楚", "end": 11.2})
    masked = mask_event(event)
    assert masked.message == "服务禁语「不清楚138****5678」"
    assert masked.data == {"heard": "不清楚138****5678", "phrase": "不清楚", "end": 11.2}
    assert (masked.t, masked.type, masked.at) == (event.t, event.type, event.at)


# A number read with pauses comes back from the recogniser with punctuation between its groups.
@pytest.mark.parametrize("text, masked", [
    ("电话138,1234,5678", "电话138,****,5678"),
    ("电话138、1234、5678", "电话138、****、5678"),
    ("电话138.1234.5678", "电话138.****.5678"),
    ("电话(138)12345678", "电话(138)****5678"),
    ("电话（138）1234-5678", "电话（138）****-5678"),
    ("一三八，一二三四，五六七八", "一三八，****，五六七八"),
    ("幺三八。幺二三四。五六七八", "幺三八。****。五六七八"),
    ("138， 1234， 5678", "138， ****， 5678"),
    ("卡号6217，0000，1000，1234，569", "卡号621*，****，****，***4，569"),
    # Joined across the comma with the amount before it, the number is still masked as itself.
    ("金额13.5，电话13812345678", "金额13.5，电话138****5678"),
    ("13812345678，13987654321", "138****5678，139****4321"),
])
def test_numbers_read_with_pauses_are_masked(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", ["1,234,567元", "2026.11.16", "一，二，三", "第3、4、5条", "192.168.1.100"])
def test_amounts_dates_and_lists_with_punctuation_stay_readable(text):
    assert mask_text(text) == text


@pytest.mark.parametrize("source, masked", [
    ("/rec/13812345678_20261116.wav", "/rec/138****5678_20261116.wav"),
    ("/rec/in_138_1234_5678.wav", "/rec/in_138_****_5678.wav"),
    (f"/rec/{VALID_ID}.mp3", "/rec/110***********002X.mp3"),
    ("/rec/2026/11/16/call-0001.wav", "/rec/2026/11/16/call-0001.wav"),
])
def test_numbers_in_file_names_are_masked(source, masked):
    assert mask_source(source) == masked


def test_the_terminal_header_and_the_html_title_show_the_file_name_masked():
    import io

    from coach.writers.html_report import render_html
    from coach.writers.terminal import write_terminal

    report = mask_report(as_report(make_walkthrough_report("/calls/客户13812345678.wav")))
    out = io.StringIO()
    write_terminal(report, out)
    assert "13812345678" not in out.getvalue() and "客户138****5678.wav" in out.getvalue().splitlines()[0]
    page = render_html(report)
    assert "13812345678" not in page
    assert "<title>通话报告 · 客户138****5678.wav</title>" in page and "<h1>客户138****5678.wav</h1>" in page

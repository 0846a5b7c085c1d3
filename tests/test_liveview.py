"""The live view: what the panel shows for a state, and the one-line-per-alert view for pipes."""

from __future__ import annotations

import io

from rich.console import Console

from coach.live.events import EventType, LiveEvent
from coach.live.session import LiveState
from coach.live.view import AlertBoard, LineView, PanelView, clock
from coach.results import Speaker, Utterance


def state(**changes) -> LiveState:
    values = dict(t=75.0, speaking=(True, False), silence_s=0.0, on_hold=False, rate_cpm=130.0,
                  rate_verdict="ok", pitch_st=4.2, monotone=False, behind_s=0.0,
                  transcript=(Utterance(Speaker.AGENT, 60.0, 63.0, "您好，请问有什么可以帮您？"),
                              Utterance(Speaker.CUSTOMER, 64.0, 68.0, "我的话费扣错了")))
    return LiveState(**{**values, **changes})


def styles_of(view: PanelView, s: LiveState) -> dict[str, str]:
    """Each piece of text the panel draws for `s`, with the colour it is drawn in."""
    console = Console(width=100, color_system="truecolor", force_terminal=True)
    return {seg.text.strip(): seg.style.color.name if seg.style and seg.style.color else ""
            for seg in console.render(view.render(s)) if seg.text.strip()}


def event(t: float, kind: EventType) -> LiveEvent:
    return LiveEvent(t, kind, t, "x")


def phrase(t: float, said_until: float) -> LiveEvent:
    return LiveEvent(t, EventType.PHRASE, said_until - 1.0, "服务禁语「不清楚」，可以说「我帮您核实一下」",
                     {"phrase": "不清楚", "utterance_end": said_until})


def test_alert_board_holds_back_repeats_and_clears_itself():
    board = AlertBoard(show_s=8.0)
    assert board.offer(event(10.0, EventType.INTERRUPTION))
    assert not board.offer(event(20.0, EventType.INTERRUPTION))  # within 15 s of the one shown
    assert board.offer(event(26.0, EventType.INTERRUPTION))
    assert board.offer(event(26.5, EventType.SILENCE))  # every silence is its own
    assert [e.t for e in board.active(now=30.0)] == [26.0, 26.5]
    assert board.offer(event(40.0, EventType.SILENCE))
    assert [e.t for e in board.active(now=40.0)] == [40.0]
    assert board.active(now=60.0) == []


def test_a_phrase_alert_about_words_long_past_is_shown_as_earlier_in_the_call():
    board = AlertBoard(fresh_s=6.0)
    assert board.offer(phrase(t=30.0, said_until=12.0))  # 18 s late: the recogniser was behind
    assert board.active(now=31.0) == [] and [e.t for e in board.earlier(now=31.0)] == [30.0]
    assert board.offer(phrase(t=32.0, said_until=29.0))  # a late one does not hold back a fresh one
    assert [e.t for e in board.active(now=33.0)] == [32.0]


def test_clock_is_minutes_and_seconds():
    assert [clock(0), clock(59.9), clock(61), clock(3600)] == ["00:00", "00:59", "01:01", "60:00"]


def test_the_panel_shows_rate_silence_voice_alerts_and_transcript():
    out = io.StringIO()  # not a terminal: rich writes the last panel when the view closes
    with PanelView(stream=out) as view:
        view.state(state())
        view.event(LiveEvent(74.0, EventType.PHRASE, 70.0, "禁语「不知道」：可以说「我帮您确认一下」"))
        view.state(state(t=76.0))
    text = out.getvalue()
    for shown in ("01:16", "● 坐席", "○ 客户", "130 字/分", "标准 120–140", "0.0 秒", "变化 4.2 半音",
                  "有起伏", "▶ 01:14  禁语「不知道」：可以说「我帮您确认一下」",
                  "坐席 01:00  您好，请问有什么可以帮您？", "客户 01:04  我的话费扣错了"):
        assert shown in text, shown
    assert "分析落后" not in text and "识别落后" not in text


def test_only_what_is_off_the_standard_is_coloured_as_a_warning():
    view = PanelView(stream=io.StringIO())
    calm = styles_of(view, state(silence_s=1.0))
    assert calm["130 字/分"] == "green" and calm["1.0 秒"] == "" and calm["变化 4.2 半音  有起伏"] == "green"
    off = styles_of(view, state(rate_cpm=171.0, silence_s=5.5, pitch_st=1.1, monotone=True))
    assert off["171 字/分"] == "yellow" and off["5.5 秒"] == "red" and off["变化 1.1 半音  平淡"] == "yellow"
    assert styles_of(view, state(silence_s=3.2))["3.2 秒"] == "yellow"


def test_the_panel_says_when_there_is_too_little_speech_a_hold_or_a_lag():
    view = PanelView(stream=io.StringIO())
    drawn = styles_of(view, state(rate_cpm=None, pitch_st=None, monotone=None, on_hold=True, silence_s=42.0,
                                  behind_s=3.5))
    assert "—（说话太少）" in drawn and "保持中 42 秒" in drawn
    assert any("分析落后 3.5 秒" in text for text in drawn)


def test_alerts_clear_themselves_from_the_panel():
    view = PanelView(stream=io.StringIO())
    view.event(LiveEvent(10.0, EventType.SILENCE, 4.0, "冷场 6 秒：请说「请稍等，我正在为您查询」"))
    assert any("冷场 6 秒" in text for text in styles_of(view, state(t=12.0)))
    assert not any("冷场 6 秒" in text for text in styles_of(view, state(t=30.0)))


def test_without_a_terminal_each_alert_is_one_line_and_repeats_are_held_back():
    out = io.StringIO()
    with LineView(out) as view:
        view.state(state())  # a pipe gets no panel
        view.event(LiveEvent(65.2, EventType.INTERRUPTION, 64.0, "抢话：等客户说完再开口"))
        view.event(LiveEvent(70.0, EventType.INTERRUPTION, 69.0, "抢话：等客户说完再开口"))
        view.event(LiveEvent(71.0, EventType.SILENCE, 65.0, "冷场 6 秒"))
    assert out.getvalue().splitlines() == ["[01:05] 抢话：等客户说完再开口", "[01:11] 冷场 6 秒"]


def test_the_panel_says_how_far_behind_recognition_is():
    view = PanelView(stream=io.StringIO())
    assert not any("识别落后" in text for text in styles_of(view, state(recognition_lag_s=2.5)))
    drawn = styles_of(view, state(recognition_lag_s=17.4))
    assert any("识别落后 17 秒" in text for text in drawn)


def test_a_late_phrase_is_listed_as_earlier_in_the_call_not_as_an_alert():
    view = PanelView(stream=io.StringIO())
    view.event(phrase(t=74.0, said_until=20.0))
    drawn = styles_of(view, state(t=75.0))
    assert "通话早些时候（00:19）：服务禁语「不清楚」，可以说「我帮您核实一下」" in drawn
    assert not any(text.startswith("▶") for text in drawn)
    out = io.StringIO()
    LineView(out).event(phrase(t=74.0, said_until=20.0))
    assert out.getvalue() == "[01:14] 通话早些时候（00:19）：服务禁语「不清楚」，可以说「我帮您核实一下」\n"


def test_the_transcript_is_masked_unless_told_not_to():
    number = state(transcript=(Utterance(Speaker.CUSTOMER, 64.0, 68.0, "我的手机号是13812345678"),))
    assert "客户 01:04  我的手机号是138****5678" in styles_of(PanelView(stream=io.StringIO()), number)
    shown = styles_of(PanelView(stream=io.StringIO(), mask=False), number)
    assert "客户 01:04  我的手机号是13812345678" in shown


def test_a_line_says_what_coach_is_doing_while_it_starts():
    out, status = io.StringIO(), io.StringIO()
    LineView(out, status).status("正在加载模型…")
    assert status.getvalue() == "coach live: 正在加载模型…\n" and out.getvalue() == ""
    panel = io.StringIO()
    with PanelView(stream=panel) as view:
        view.status("正在加载模型…")
    assert "coach live: 正在加载模型…" in panel.getvalue()

"""What the agent sees during `coach live`: a calm panel on a terminal, plain alert lines otherwise.

The panel changes in place a few times a second — rate against the standard, the silence
timer, the voice, the last lines of the transcript — and alerts stay a few seconds and then
clear themselves (`AlertBoard` decides which events become alerts).  Colour only marks what
is off the standard, so a glance finds it.  An alert about words said well before it could be
raised (the recogniser was behind) is not a fresh alert: it is listed under "通话早些时候"
with the moment it is about.  Phone, ID-card and bank-card numbers in the transcript are
masked unless the view is told otherwise (`coach live --no-mask`).
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coach.live.events import EventType, LiveEvent
from coach.live.session import LiveState
from coach.masking import mask_text
from coach.results import Speaker

_SPEAKER = {Speaker.AGENT: "坐席", Speaker.CUSTOMER: "客户"}
EARLIER = "通话早些时候"
# Recognition this far behind is said on the panel: a piece normally has its words within
# ~2.5 s of its end (a 0.8 s pause, then one recogniser call), ~3.5 s with a core busy.
LAG_SHOWN_S = 4.0


def clock(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class AlertBoard:
    """Which events are shown as alerts, and for how long: calm, never a stream of noise.

    An alert stays `show_s` and then clears itself; another of the same kind within
    `quiet_s` of one shown is recorded (events file, report) but not shown again.  An event
    about words that ended more than `fresh_s` before it was raised (`utterance_end`: a
    forbidden phrase the recogniser was late with) is late: it is shown apart, as earlier in
    the call, and does not hold back a fresh alert of its kind.
    """

    QUIET_S = {EventType.SILENCE: 0.0, EventType.INTERRUPTION: 15.0, EventType.PHRASE: 5.0,
               EventType.RATE: 60.0, EventType.PITCH: 60.0, EventType.SCRIPT: 10.0}

    def __init__(self, show_s: float = 8.0, fresh_s: float = 6.0):
        self.show_s = show_s
        self.fresh_s = fresh_s
        self._shown: list[LiveEvent] = []
        self._last: dict[EventType, float] = {}

    def late(self, event: LiveEvent) -> bool:
        said = event.data.get("utterance_end")
        return said is not None and event.t - said > self.fresh_s

    def offer(self, event: LiveEvent) -> bool:
        """Whether `event` is shown (as an alert, or as a late one)."""
        if not self.late(event):
            last = self._last.get(event.type)
            if last is not None and event.t - last < self.QUIET_S[event.type]:
                return False
            self._last[event.type] = event.t
        self._shown.append(event)
        return True

    def active(self, now: float) -> list[LiveEvent]:
        """Fresh alerts still showing at `now`."""
        return [e for e in self._showing(now) if not self.late(e)]

    def earlier(self, now: float) -> list[LiveEvent]:
        """Late ones still showing at `now`."""
        return [e for e in self._showing(now) if self.late(e)]

    def _showing(self, now: float) -> list[LiveEvent]:
        self._shown = [e for e in self._shown if now - e.t < self.show_s]
        return self._shown


class PanelView:
    """A rich Live panel on a terminal."""

    def __init__(self, silence_limit_s: float = 5.0, rate_band: tuple[float, float] = (120.0, 140.0),
                 stream: TextIO | None = None, mask: bool = True, lag_shown_s: float = LAG_SHOWN_S):
        self.board = AlertBoard()
        self.silence_limit_s = silence_limit_s
        self.rate_band = rate_band
        self.mask = mask
        self.lag_shown_s = lag_shown_s
        self._live = Live(Text("coach live: 正在启动…"), console=Console(file=stream or sys.stdout),
                          refresh_per_second=4, transient=False)
        self._state: LiveState | None = None

    def __enter__(self) -> "PanelView":
        self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        self._live.stop()

    def status(self, message: str) -> None:
        """A line while there is nothing else to show (start-up)."""
        self._live.update(Text(f"coach live: {message}"))

    def event(self, event: LiveEvent) -> None:
        self.board.offer(event)
        if self._state:
            self._live.update(self.render(self._state))

    def state(self, state: LiveState) -> None:
        self._state = state
        self._live.update(self.render(state))

    def render(self, s: LiveState) -> Group:
        """The panel for state `s`, with the alerts still showing at `s.t`."""
        low, high = self.rate_band
        grid = Table.grid(padding=(0, 2))
        talking = "  ".join(f"{'●' if on else '○'} {name}" for on, name in zip(s.speaking, ("坐席", "客户")))
        header = Text(f"{clock(s.t)}   {talking}")
        if s.behind_s > 2:
            header.append(f"  （分析落后 {s.behind_s:.1f} 秒）", style="yellow")
        if s.recognition_lag_s >= self.lag_shown_s:
            header.append(f"  （识别落后 {s.recognition_lag_s:.0f} 秒，禁语提醒会迟到）", style="yellow")
        grid.add_row(Text("coach live", style="bold"), header)
        if s.rate_cpm is None:
            rate = Text("—（说话太少）", style="dim")
        else:
            ok = low <= s.rate_cpm <= high
            rate = Text(f"{s.rate_cpm:.0f} 字/分", style="green" if ok else "bold yellow")
            rate.append(f"   标准 {low:.0f}–{high:.0f}", style="dim")
        grid.add_row("语速（近30秒）", rate)
        if s.on_hold:
            quiet = Text(f"保持中 {s.silence_s:.0f} 秒", style="cyan")
        else:
            style = "bold red" if s.silence_s >= self.silence_limit_s else "yellow" if s.silence_s >= 3 else "dim"
            quiet = Text(f"{s.silence_s:.1f} 秒", style=style)
        grid.add_row("静默", quiet)
        if s.pitch_st is None:
            voice = Text("—", style="dim")
        else:
            voice = Text(f"变化 {s.pitch_st:.1f} 半音  " + ("平淡" if s.monotone else "有起伏"),
                         style="bold yellow" if s.monotone else "green")
        grid.add_row("语调", voice)
        parts = [grid]
        alerts, earlier = self.board.active(s.t), self.board.earlier(s.t)
        if alerts:
            parts.append(Text(""))
            parts += [Text(f"▶ {clock(a.t)}  {a.message}", style="bold red") for a in alerts]
        if earlier:
            parts.append(Text(""))
            parts += [Text(f"{EARLIER}（{clock(a.at)}）：{a.message}", style="yellow") for a in earlier]
        if s.transcript:
            parts.append(Text(""))
            parts += [Text(f"{_SPEAKER[u.speaker]} {clock(u.start)}  {mask_text(u.text) if self.mask else u.text}",
                           style="" if u.speaker is Speaker.AGENT else "dim") for u in s.transcript]
        return Group(*parts)


class LineView:
    """Without a terminal (a pipe, a log): one line per alert, nothing else."""

    def __init__(self, stream: TextIO | None = None, status_stream: TextIO | None = None):
        self.board = AlertBoard()
        self.stream = stream or sys.stdout
        self.status_stream = status_stream or sys.stderr

    def __enter__(self) -> "LineView":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def status(self, message: str) -> None:
        print(f"coach live: {message}", file=self.status_stream, flush=True)

    def event(self, event: LiveEvent) -> None:
        if self.board.offer(event):
            when = f"{EARLIER}（{clock(event.at)}）：" if self.board.late(event) else ""
            print(f"[{clock(event.t)}] {when}{event.message}", file=self.stream, flush=True)

    def state(self, state: LiveState) -> None:
        pass

"""What the agent sees during `coach live`: a calm panel on a terminal, plain alert lines otherwise.

The panel changes in place a few times a second — rate against the standard, the silence
timer, the voice, the last lines of the transcript — and alerts stay a few seconds and then
clear themselves (`AlertBoard` decides which events become alerts).  Colour only marks what
is off the standard, so a glance finds it.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coach.live.session import AlertBoard, LiveEvent, LiveState
from coach.results import Speaker

_SPEAKER = {Speaker.AGENT: "坐席", Speaker.CUSTOMER: "客户"}


def clock(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class PanelView:
    """A rich Live panel on a terminal."""

    def __init__(self, silence_limit_s: float = 5.0, rate_band: tuple[float, float] = (120.0, 140.0),
                 stream: TextIO | None = None):
        self.board = AlertBoard()
        self.silence_limit_s = silence_limit_s
        self.rate_band = rate_band
        self._live = Live(Text("coach live: 正在启动…"), console=Console(file=stream or sys.stdout),
                          refresh_per_second=4, transient=False)
        self._state: LiveState | None = None

    def __enter__(self) -> "PanelView":
        self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        self._live.stop()

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
        behind = f"  （分析落后 {s.behind_s:.1f} 秒）" if s.behind_s > 2 else ""
        grid.add_row(Text("coach live", style="bold"), Text(f"{clock(s.t)}   {talking}{behind}"))
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
        alerts = self.board.active(s.t)
        if alerts:
            parts.append(Text(""))
            parts += [Text(f"▶ {clock(a.t)}  {a.message}", style="bold red") for a in alerts]
        if s.transcript:
            parts.append(Text(""))
            parts += [Text(f"{_SPEAKER[u.speaker]} {clock(u.start)}  {u.text}",
                           style="" if u.speaker is Speaker.AGENT else "dim") for u in s.transcript]
        return Group(*parts)


class LineView:
    """Without a terminal (a pipe, a log): one line per alert, nothing else."""

    def __init__(self, stream: TextIO | None = None):
        self.board = AlertBoard()
        self.stream = stream or sys.stdout

    def __enter__(self) -> "LineView":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def event(self, event: LiveEvent) -> None:
        if self.board.offer(event):
            print(f"[{clock(event.t)}] {event.message}", file=self.stream, flush=True)

    def state(self, state: LiveState) -> None:
        pass

"""Output writers, chosen by name from a small registry.

Each writer takes a finished `Report` and a destination (a path, or a stream for
the terminal) and knows nothing about how the report was made.
"""

from __future__ import annotations

from typing import Callable

from coach.writers.html_report import write_html
from coach.writers.json_report import write_json
from coach.writers.terminal import write_terminal

WRITERS: dict[str, Callable] = {
    "html": write_html,
    "json": write_json,
    "terminal": write_terminal,
}

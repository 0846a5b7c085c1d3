"""Output writers: the terminal report, and file formats chosen by name from a small registry.

Each writer takes a finished `Report` and knows nothing about how it was made; the file
writers share naming, the writability check and the atomic write (`coach.writers.base`).
"""

from __future__ import annotations

from coach.writers.base import FileWriter
from coach.writers.html_report import HtmlWriter
from coach.writers.json_report import JsonWriter
from coach.writers.terminal import write_terminal

FILE_WRITERS: dict[str, FileWriter] = {w.name: w for w in (JsonWriter(), HtmlWriter())}

__all__ = ["FILE_WRITERS", "FileWriter", "write_terminal"]

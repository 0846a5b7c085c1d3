"""Exports of the results database: the full reports as JSON, a flat table as CSV.

Both stream the rows (a large batch does not fit in memory as one document) into
a temp file next to the destination and rename it at the end, so an interrupted
export never leaves a half-written file behind.

CSV files are opened in spreadsheets, which run a cell that starts like a formula
(=HYPERLINK(…), +cmd|…, @SUM(…)).  Agent ids, call ids, paths and errors come from
manifests and file names anyone may write, so every text cell that starts with a
formula character is neutralised as OWASP advises: a leading ' makes it text.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from coach.qa.store import Store
from coach.writers.base import atomic_text

CSV_COLUMNS = ("source", "call_id", "agent_id", "team", "call_date", "status", "error", "duration_s",
               "speaking_rate", "silences", "interruptions", "courtesy_hits", "forbidden_hits", "score",
               "review", "analysed_at")
# What makes a spreadsheet read a cell as a formula (OWASP "CSV Injection"; the full-width
# forms too, which some spreadsheets fold to ASCII), leading blanks ignored.
_FORMULA_START = tuple("=+-@\t\r\n\0＝＋－＠")


def export_json(store: Store, path: str | Path) -> None:
    """Write ``{"recordings": [{"source", "status", "error", "report"}, …]}`` in source order."""
    with atomic_text(Path(path), "export", encoding="utf-8") as f:
        f.write('{"recordings": [')
        for i, row in enumerate(store.recordings()):
            item = {"source": row["source"], "status": row["status"].value, "error": row["error"],
                    "report": row["report"]}
            f.write(("," if i else "") + "\n" + json.dumps(item, ensure_ascii=False))
        f.write("\n]}\n")


def export_csv(store: Store, path: str | Path) -> None:
    """Write one row per recording with the summary figures (empty cell = not available)."""
    # utf-8-sig: the BOM is what makes Excel read the Chinese names as UTF-8.
    with atomic_text(Path(path), "export", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in store.recordings():
            # "review": why a person must check the call (its voices or roles are uncertain); empty when sure
            review = (((row["report"] or {}).get("separation") or {}).get("uncertain")) or ""
            writer.writerow({name: safe_cell(value) for name, value in
                             {**row, "status": row["status"].value, "review": review}.items()})


def safe_cell(value: Any) -> Any:
    """A text value that a spreadsheet would run as a formula, prefixed with ' so it is shown as text."""
    if isinstance(value, str) and value.lstrip(" ").startswith(_FORMULA_START):
        return "'" + value
    return value



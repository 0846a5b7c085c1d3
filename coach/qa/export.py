"""Exports of the results database: the full reports as JSON, a flat table as CSV.

Both stream the rows (a large batch does not fit in memory as one document) into
a temp file next to the destination and rename it at the end, so an interrupted
export never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from coach.qa.store import Store
from coach.writers.base import atomic_text

CSV_COLUMNS = ("source", "call_id", "agent_id", "team", "call_date", "status", "error", "duration_s",
               "speaking_rate", "silences", "interruptions", "courtesy_hits", "forbidden_hits", "score",
               "analysed_at")


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
            writer.writerow({**row, "status": row["status"].value})



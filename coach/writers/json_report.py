"""The `coach.report/1` JSON file (the dict form lives in `coach.schema`)."""

from __future__ import annotations

import json

from coach.results import Report
from coach.schema import report_to_dict
from coach.writers.base import FileWriter


class JsonWriter(FileWriter):
    name, suffix, what = "json", ".json", "JSON report"

    def render(self, report: Report) -> str:
        return json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n"

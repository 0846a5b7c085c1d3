"""JSON and CSV exports of a real SQLite results database."""

import csv
import dataclasses
import json

import pytest

from coach.qa.export import CSV_COLUMNS, export_csv, export_json
from coach.qa.store import Store
from tests.fixtures.reports import make_outcome


@pytest.fixture
def store(tmp_path):
    with Store(str(tmp_path / "results.db")) as store:
        store.save(make_outcome("/calls/李四-0002.wav", failed=True, agent_id=None, team=None, call_date=None))
        store.save(make_outcome("/calls/张三-0001.wav", agent_channel="mono"))
        yield store


def test_json_holds_every_recording_with_its_report(store, tmp_path):
    out = tmp_path / "out" / "results.json"  # the folder is created
    export_json(store, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data) == ["recordings"]
    ok, failed = sorted(data["recordings"], key=lambda r: r["status"] != "ok")
    assert ok == {"source": "/calls/张三-0001.wav", "status": "ok", "error": None,
                  "report": make_outcome("/calls/张三-0001.wav", agent_channel="mono").report}
    assert failed == {"source": "/calls/李四-0002.wav", "status": "failed",
                      "error": "not an audio file: convert it to WAV", "report": None}
    assert "张三" in out.read_text(encoding="utf-8")  # written as text, not \\u escapes


def test_json_of_an_empty_database_is_an_empty_list(tmp_path):
    with Store(str(tmp_path / "empty.db")) as store:
        export_json(store, tmp_path / "empty.json")
    assert json.loads((tmp_path / "empty.json").read_text(encoding="utf-8")) == {"recordings": []}


def test_csv_reads_back_with_chinese_intact(store, tmp_path):
    out = tmp_path / "results.csv"
    export_csv(store, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    with out.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    assert [r["source"] for r in rows] == ["/calls/张三-0001.wav", "/calls/李四-0002.wav"]
    ok, failed = rows
    assert ok == {"source": "/calls/张三-0001.wav", "call_id": "张三-0001", "agent_id": "A001", "team": "一组",
                  "call_date": "2026-11-16", "status": "ok", "error": "", "duration_s": "120.0",
                  "speaking_rate": "250.0", "silences": "2", "interruptions": "",  # mono: not measurable
                  "courtesy_hits": "2", "forbidden_hits": "1", "score": "80.0", "review": "",
                  "analysed_at": "2026-11-20T08:00:00Z"}
    assert failed["status"] == "failed"
    assert failed["error"] == "not an audio file: convert it to WAV"
    assert failed["agent_id"] == failed["score"] == ""


class _BrokenStore:
    """A store whose reading fails half way, like a dropped database connection."""

    def recordings(self):
        yield next(Store.recordings(self.real))
        raise RuntimeError("connection lost")


@pytest.mark.parametrize("export", [export_json, export_csv])
def test_an_interrupted_export_leaves_the_old_file_and_no_temp_file(store, tmp_path, export):
    out = tmp_path / "exports" / "results.out"
    out.parent.mkdir()
    out.write_text("previous export", encoding="utf-8")
    broken = _BrokenStore()
    broken.real = store
    with pytest.raises(RuntimeError, match="connection lost"):
        export(broken, out)
    assert out.read_text(encoding="utf-8") == "previous export"
    assert [p.name for p in out.parent.iterdir()] == ["results.out"]


def test_a_not_scored_call_exports_an_empty_score_and_a_null_total(tmp_path):
    with Store(str(tmp_path / "results.db")) as store:
        store.save(make_outcome("/calls/silent.wav", score=None))
        (row,) = store.recordings()
        assert row["score"] is None
        export_csv(store, tmp_path / "r.csv")
        export_json(store, tmp_path / "r.json")
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        (exported,) = csv.DictReader(f)
    assert exported["status"] == "ok" and exported["score"] == ""
    (item,) = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["recordings"]
    assert item["report"]["score"]["total"] is None


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    from dataclasses import replace

    from coach.qa.store import Recording

    attacks = {"source": "/calls/=cmd|'/c calc'!A1.wav", "call_id": "+SUM(1,2)", "agent_id": "=HYPERLINK(\"http://x\")",
               "team": "@SUM(A1)", "call_date": "2026-11-16"}
    with Store(str(tmp_path / "results.db")) as store:
        outcome = make_outcome("/calls/x.wav")
        store.save(replace(outcome, recording=Recording(**attacks, agent_channel="left")))
        store.save(make_outcome("/calls/y.wav", failed=True, agent_id=" -1+2", team="\t=1+1"))
        export_csv(store, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        attacked, failed = csv.DictReader(f)
    assert {k: attacked[k] for k in attacks} == {
        "source": "/calls/=cmd|'/c calc'!A1.wav",  # starts with /: nothing to run
        "call_id": "'+SUM(1,2)", "agent_id": "'=HYPERLINK(\"http://x\")", "team": "'@SUM(A1)",
        "call_date": "2026-11-16"}
    assert (failed["agent_id"], failed["team"]) == ("' -1+2", "'\t=1+1")
    assert attacked["score"] == "80.0" and attacked["speaking_rate"] == "250.0"  # numbers stay numbers


def test_csv_says_why_a_call_needs_review(tmp_path):
    uncertain = make_outcome("/calls/mixed.wav", score=None)
    report = {**uncertain.report, "separation": {"voices": 2, "uncertain": "两个人的声音区分不够清楚（置信度 0.42）"}}
    with Store(str(tmp_path / "r.db")) as store:
        store.save(dataclasses.replace(uncertain, report=report))
        export_csv(store, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        (row,) = csv.DictReader(f)
    assert row["review"] == "两个人的声音区分不够清楚（置信度 0.42）" and row["score"] == ""

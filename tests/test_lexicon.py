"""Lexicon files: format, validation messages (file:line), merging of extra folders."""

from pathlib import Path

import pytest

from coach.errors import LexiconError
from coach.lexicon import (DEFAULT_LEXICON_DIR, Category, Severity, Where, compile_pattern, load_lexicon,
                           validate_lexicon_dir)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_lexicon_is_valid_and_complete():
    assert validate_lexicon_dir(DEFAULT_LEXICON_DIR) == []
    lexicon = load_lexicon()
    phrases = {e.phrase: e for e in lexicon.entries}
    assert phrases["不知道"].category is Category.FORBIDDEN and phrases["不知道"].suggestion
    assert phrases["请稍等"].category is Category.COURTESY
    assert phrases["嘛"].category is Category.FILLER and phrases["嘛"].severity is Severity.MINOR
    assert any(p.display == "你到XX问问" for p in lexicon.patterns)
    assert {i.key for i in lexicon.script} >= {"opening", "address", "hold-ask", "hold-return",
                                               "anything-else", "closing"}


def test_line_format_comments_and_fields(tmp_path):
    write(tmp_path, "forbidden.txt", "# comment line\n\n不知道 | severity: critical | suggest: 我帮您确认 # trailing\n"
                                     "不清楚 ｜ severity：minor | suggest: 我核实一下 | except: 听不清楚、说不清楚\n")
    lexicon = load_lexicon([tmp_path])
    entry = {e.phrase: e for e in lexicon.entries}
    assert entry["不知道"].severity is Severity.CRITICAL and entry["不知道"].suggestion == "我帮您确认"
    assert entry["不知道"].source.endswith("forbidden.txt:3")


@pytest.mark.parametrize("line, expected", [
    ("不知道 | severity: fatal | suggest: x", "severity 'fatal' is not one of minor, major, critical"),
    (" | severity: major | suggest: x", "empty phrase"),
    ("不知道 | colour: red | suggest: x", "unknown key 'colour'"),
    ("不知道 | severity major | suggest: x", "is not 'key: value'"),
    ("不知道 | severity: major", "lacks 'suggest: …'"),
    ("不知道 | suggest: a | suggest: b", "given twice"),
    ("，。 | suggest: a", "no spoken characters"),
    ("不清楚 | suggest: a | except: 听不见", "does not contain"),
    ("請稍等 | suggest: a", "traditional characters"),
    ("不清楚 | suggest: a | except: 聽不清楚", "write '听不清楚'"),
])
def test_malformed_forbidden_lines_name_file_and_line(tmp_path, line, expected):
    path = write(tmp_path, "forbidden.txt", "# header\n" + line + "\n")
    problems = validate_lexicon_dir(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2: ") and expected in problems[0]
    with pytest.raises(LexiconError, match=f"forbidden.txt:2: .*{expected[:12]}"):
        load_lexicon([tmp_path])


def test_validator_collects_all_problems_across_files(tmp_path):
    write(tmp_path, "courtesy.txt", "您好 | severity: major\n")  # courtesy takes no severity
    write(tmp_path, "patterns.txt", "你到{部门问问 | suggest: x\n")
    write(tmp_path, "script.txt", "opening | label: 开场 | where: middle | need: 您好\n")
    write(tmp_path, "extras.txt", "x\n")
    problems = validate_lexicon_dir(tmp_path)
    text = "\n".join(problems)
    assert len(problems) == 4
    assert "courtesy.txt:1: unknown key 'severity'" in text
    assert "patterns.txt:1: pattern '你到{部门问问' opens '{' without a closing '}'" in text
    assert "script.txt:1: where 'middle' is not one of" in text
    assert "unknown lexicon file 'extras.txt'" in text


def test_duplicates_within_a_folder_are_reported(tmp_path):
    write(tmp_path, "courtesy.txt", "您好\n")
    write(tmp_path, "forbidden.txt", "您好 | suggest: x\n")
    problems = validate_lexicon_dir(tmp_path)
    assert problems == [f"{tmp_path / 'forbidden.txt'}:1: '您好' is already defined at {tmp_path / 'courtesy.txt'}:1 "
                        "(keep one of them)"]


def test_script_item_requires_label_where_need(tmp_path):
    write(tmp_path, "script.txt", "closing | where: last 2 | need: 再见\nopening | label: 开场 | where: first | need: 您好\n"
                                  "x | label: y | where: anywhere | need: 您好 | also-pattern: ([0-9]\n")
    problems = validate_lexicon_dir(tmp_path)
    assert "script.txt:1: script item 'closing' lacks 'label: …'" in problems[0]
    assert "script.txt:2: where 'first' needs a count" in problems[1]
    assert "script.txt:3: also-pattern" in problems[2]


def test_extra_folders_override_and_remove_bundled_entries(tmp_path):
    write(tmp_path, "forbidden.txt", "不知道 | severity: minor | suggest: 我查一下\n!不清楚\n")
    write(tmp_path, "courtesy.txt", "欢迎致电本中心\n")
    write(tmp_path, "script.txt", "closing | label: 结束语 | where: last 1 | need: 拜拜\n")
    lexicon = load_lexicon([tmp_path])
    entry = {e.phrase: e for e in lexicon.entries}
    assert entry["不知道"].severity is Severity.MINOR and entry["不知道"].suggestion == "我查一下"
    assert "不清楚" not in entry and "欢迎致电本中心" in entry and "您好" in entry
    closing = [i for i in lexicon.script if i.key == "closing"]
    assert len(closing) == 1 and closing[0].need == ("拜拜",) and closing[0].where is Where.LAST


def test_missing_extra_folder_is_an_error(tmp_path):
    with pytest.raises(LexiconError, match="does not exist"):
        load_lexicon([tmp_path / "nope"])
    assert "not a folder" in validate_lexicon_dir(tmp_path / "nope")[0]


def test_compile_pattern():
    regex, display, slots = compile_pattern("[你您]到{部门}问问")
    assert regex == "[你您]到(.{1,8}?)问问" and display == "你到XX问问" and slots == ("部门",)
    with pytest.raises(Exception, match="starts or ends with a slot"):
        compile_pattern("{部门}问问吧")
    with pytest.raises(Exception, match="never opened"):
        compile_pattern("问问}吧")


def test_escaped_bar_is_part_of_a_regex_not_a_field_separator(tmp_path):
    write(tmp_path, "script.txt", r"opening | label: 开场 | where: first 1 | need: 您好 | also-pattern: 工号\|号[0-9]{2,} | hint: 报工号" "\n")
    (item,) = [i for i in load_lexicon([tmp_path]).script if i.key == "opening"]
    assert item.also_pattern == "工号|号[0-9]{2,}" and item.hint == "报工号"

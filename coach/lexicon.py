"""Phrase lexicons: read, validate and merge the editable lists under ``lexicon/``.

A lexicon folder holds up to five plain-text files (format in lexicon/README.md):
courtesy.txt, forbidden.txt, fillers.txt, patterns.txt and script.txt.  Each line is
``phrase | key: value | key: value``; ``#`` starts a comment.  The bundled folder is
always loaded first; extra folders override it entry by entry (same phrase, same
pattern, same script item) and ``!phrase`` removes a bundled entry.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from coach.errors import LexiconError
from coach.textnorm import to_simplified

DEFAULT_LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicon"

# Slots in patterns match this many spoken characters: enough for 客服部门 / 财务那边,
# short enough that a pattern cannot swallow a whole sentence.
SLOT_MAX_CHARS = 8
LIST_SEPARATORS = re.compile(r"[,，、]")
FIELD_SEPARATOR = re.compile(r"(?<!\\)[|｜]")  # full-width ｜ too: Chinese input methods type it; \| is a literal |


class Category(str, enum.Enum):
    COURTESY = "courtesy"
    FORBIDDEN = "forbidden"
    FILLER = "filler"


class Severity(str, enum.Enum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class Where(str, enum.Enum):
    """Which part of the agent's speech a script item is looked for in."""

    FIRST = "first"  # the agent's first N utterances
    LAST = "last"  # the agent's last N utterances
    ANYWHERE = "anywhere"
    BEFORE_HOLD = "before-hold"  # the agent's utterance just before each hold
    AFTER_HOLD = "after-hold"  # the agent's utterance just after each hold


@dataclass(frozen=True)
class Entry:
    """A phrase to find as whole words (courtesy, forbidden or filler)."""

    phrase: str
    category: Category
    severity: Severity | None = None
    suggestion: str = ""
    exceptions: tuple[str, ...] = ()  # larger phrases in which this one does not count: 不知道您是否
    by_sound: bool = True  # also match ASR homophones (请您收等 for 请您稍等)
    source: str = ""  # file:line, for messages


@dataclass(frozen=True)
class Pattern:
    """A forbidden phrase with slots: ``[你您]到{部门}问问`` (see lexicon/README.md)."""

    text: str
    regex: str  # compiled by the matcher against punctuation-free text; one group per slot
    display: str  # how reports show it: 你到XX问问
    slots: tuple[str, ...] = ()  # slot names in order, to fill {部门} in the suggestion
    severity: Severity = Severity.MAJOR
    suggestion: str = ""
    source: str = ""


@dataclass(frozen=True)
class ScriptItem:
    """A required step of the call (greeting, closing …) and the phrases that satisfy it."""

    key: str
    label: str
    where: Where
    count: int  # N for FIRST / LAST, else 0
    need: tuple[str, ...]  # any one of these must be said
    also: tuple[str, ...] = ()  # and any one of these (or also_pattern), when given
    also_pattern: str = ""  # regular expression on the punctuation-free text, e.g. a staff number
    hint: str = ""  # what to tell the agent when the item is missing
    source: str = ""


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    script: tuple[ScriptItem, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)  # folders merged, in order

    def of(self, category: Category) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.category is category)


# --- file formats ---------------------------------------------------------------------

ENTRY_FILES = {
    "courtesy.txt": (Category.COURTESY, {"sound", "note"}),
    "forbidden.txt": (Category.FORBIDDEN, {"severity", "suggest", "except", "sound", "note"}),
    "fillers.txt": (Category.FILLER, {"severity", "suggest", "except", "sound", "note"}),
}
PATTERN_KEYS = {"severity", "suggest", "note"}
SCRIPT_KEYS = {"label", "where", "need", "also", "also-pattern", "hint", "note"}
KNOWN_FILES = (*ENTRY_FILES, "patterns.txt", "script.txt")
PHRASE_FIELDS = ("except", "need", "also")  # fields that hold phrases to match, like the head
DEFAULT_SEVERITY = {Category.FORBIDDEN: Severity.MAJOR, Category.FILLER: Severity.MINOR}


class _LineError(Exception):
    """A problem on one line; turned into ``file:line: message``."""


@dataclass(frozen=True)
class _Line:
    number: int
    head: str  # the phrase / pattern / script key
    fields: dict[str, str]
    removal: bool  # "!phrase": drop an entry inherited from an earlier folder


@dataclass(frozen=True)
class _Parsed:
    """One folder's content, keyed so a later folder can override an earlier one."""

    entries: dict[str, Entry | None]  # None = removed with !phrase
    patterns: dict[str, Pattern | None]
    script: dict[str, ScriptItem | None]


def load_lexicon(extra_dirs: Sequence[str | Path] = ()) -> Lexicon:
    """The bundled lexicon merged with ``extra_dirs`` in order (later ones win).

    Raises LexiconError naming file and line when any file is malformed, or when an
    extra folder does not exist.
    """
    folders = [DEFAULT_LEXICON_DIR, *(Path(d) for d in extra_dirs)]
    merged = _Parsed({}, {}, {})
    for folder in folders:
        if not folder.is_dir():
            raise LexiconError(f"lexicon folder {folder} does not exist: pass a folder holding "
                               f"{', '.join(KNOWN_FILES)}")
        parsed, problems = _parse_dir(folder)
        if problems:
            more = f" (and {len(problems) - 1} more; run 'coach lexicon validate {folder}')" if len(problems) > 1 else ""
            raise LexiconError(problems[0] + more)
        for key in ("entries", "patterns", "script"):
            getattr(merged, key).update(getattr(parsed, key))
    return Lexicon(
        entries=tuple(e for e in merged.entries.values() if e is not None),
        patterns=tuple(p for p in merged.patterns.values() if p is not None),
        script=tuple(s for s in merged.script.values() if s is not None),
        sources=tuple(str(f) for f in folders),
    )


def validate_lexicon_dir(path: str | Path) -> list[str]:
    """Every problem in the folder's lexicon files as ``file:line: what is wrong (the fix)``."""
    folder = Path(path)
    if not folder.is_dir():
        return [f"{folder}: not a folder (pass the folder that holds {', '.join(KNOWN_FILES)})"]
    return _parse_dir(folder)[1]


def _parse_dir(folder: Path) -> tuple[_Parsed, list[str]]:
    parsed = _Parsed({}, {}, {})
    problems: list[str] = []
    for extra in sorted(folder.glob("*.txt")):
        if extra.name not in KNOWN_FILES:
            problems.append(f"{extra}:1: unknown lexicon file {extra.name!r} "
                            f"(rename it to one of {', '.join(KNOWN_FILES)})")
    seen: dict[str, str] = {}  # phrase -> where it was first defined in this folder
    for name in KNOWN_FILES:
        path = folder / name
        if not path.exists():
            continue
        for line in _lines(path, problems):
            where = f"{path}:{line.number}"
            try:
                if name in ENTRY_FILES:
                    _add_entry(parsed, line, name, where, seen)
                elif name == "patterns.txt":
                    _add_pattern(parsed, line, where, seen)
                else:
                    _add_script_item(parsed, line, where, seen)
            except _LineError as err:
                problems.append(f"{where}: {err}")
    return parsed, problems


def _lines(path: Path, problems: list[str]) -> Iterator[_Line]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}:1: cannot read the file as UTF-8 ({err}); save it as UTF-8 text")
        return
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        head, *rest = (part.strip().replace("\\|", "|") for part in FIELD_SEPARATOR.split(content))
        removal = head.startswith("!")
        head = head.lstrip("!").strip()
        fields: dict[str, str] = {}
        try:
            if not head:
                raise _LineError("empty phrase before '|' (write the phrase first, e.g. 请稍等 | …)")
            if removal and rest:
                raise _LineError(f"'!{head}' removes an entry and takes no fields (drop '| {rest[0]}')")
            for part in rest:
                key, sep, value = part.replace("：", ":").partition(":")
                key, value = key.strip().lower(), value.strip()
                if not sep or not key:
                    raise _LineError(f"field {part!r} is not 'key: value' (e.g. 'severity: major')")
                if key in fields:
                    raise _LineError(f"key {key!r} given twice (keep one; list values with commas)")
                if not value:
                    raise _LineError(f"key {key!r} has no value (write '{key}: …' or drop the field)")
                fields[key] = value
            for phrase in (head, *(fields.get(k, "") for k in PHRASE_FIELDS)):
                # Transcripts reach the matcher simplified: a traditional phrase would never match.
                simplified = to_simplified(phrase)
                if simplified != phrase:
                    raise _LineError(f"{phrase!r} has traditional characters but transcripts are simplified "
                                     f"(write {simplified!r})")
        except _LineError as err:
            problems.append(f"{path}:{number}: {err}")
            continue
        yield _Line(number, head, fields, removal)


def _check_keys(line: _Line, allowed: set[str], file_name: str) -> None:
    unknown = sorted(set(line.fields) - allowed)
    if unknown:
        allowed_text = ", ".join(sorted(allowed)) or "none"
        raise _LineError(f"unknown key {unknown[0]!r} in {file_name} (allowed: {allowed_text})")


def _claim(seen: dict[str, str], key: str, where: str) -> None:
    if key in seen:
        raise _LineError(f"{key!r} is already defined at {seen[key]} (keep one of them)")
    seen[key] = where


def _severity(line: _Line, default: Severity | None) -> Severity | None:
    value = line.fields.get("severity")
    if value is None:
        return default
    try:
        return Severity(value.lower())
    except ValueError:
        raise _LineError(f"severity {value!r} is not one of minor, major, critical") from None


def _flag(line: _Line, key: str) -> bool:
    value = line.fields.get(key, "on").lower()
    if value not in ("on", "off"):
        raise _LineError(f"{key} {value!r} must be 'on' or 'off'")
    return value == "on"


def _words(value: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in LIST_SEPARATORS.split(value) if w.strip())


def _spoken(text: str) -> str:
    """The characters matching looks at: letters, digits and Han, no punctuation or spaces."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _add_entry(parsed: _Parsed, line: _Line, file_name: str, where: str, seen: dict[str, str]) -> None:
    category, allowed = ENTRY_FILES[file_name]
    _claim(seen, line.head, where)
    if line.removal:
        parsed.entries[line.head] = None
        return
    _check_keys(line, allowed, file_name)
    if not _spoken(line.head):
        raise _LineError(f"phrase {line.head!r} has no spoken characters (write words, not punctuation)")
    if any(ch in line.head for ch in "{}[]"):
        raise _LineError(f"phrase {line.head!r} has slot brackets; move it to patterns.txt")
    if category is Category.FORBIDDEN:
        _require_suggestion(line)
    parsed.entries[line.head] = Entry(
        phrase=line.head,
        category=category,
        severity=_severity(line, DEFAULT_SEVERITY.get(category)),
        suggestion=line.fields.get("suggest", ""),
        exceptions=_exceptions(line),
        by_sound=_flag(line, "sound"),
        source=where,
    )


def _exceptions(line: _Line) -> tuple[str, ...]:
    exceptions = _words(line.fields.get("except", ""))
    for larger in exceptions:
        if line.head not in larger:
            raise _LineError(f"except {larger!r} does not contain {line.head!r} "
                             f"(list larger phrases in which {line.head!r} is harmless)")
    return exceptions


def _add_pattern(parsed: _Parsed, line: _Line, where: str, seen: dict[str, str]) -> None:
    _claim(seen, line.head, where)
    if line.removal:
        parsed.patterns[line.head] = None
        return
    _check_keys(line, PATTERN_KEYS, "patterns.txt")
    _require_suggestion(line)
    regex, display, slots = compile_pattern(line.head)
    parsed.patterns[line.head] = Pattern(
        text=line.head, regex=regex, display=display, slots=slots,
        severity=_severity(line, Severity.MAJOR) or Severity.MAJOR,
        suggestion=line.fields.get("suggest", ""), source=where,
    )


def _require_suggestion(line: _Line) -> None:
    if "suggest" not in line.fields:
        raise _LineError(f"{line.head!r} lacks 'suggest: …' (what the agent should say instead)")


def compile_pattern(text: str) -> tuple[str, str, tuple[str, ...]]:
    """``[你您]到{部门}问问`` -> (regex over punctuation-free text, display 你到XX问问, slot names).

    ``{name}`` is a slot of 1–8 characters; ``[ab]`` is one of the characters a, b;
    everything else is literal.  Punctuation in the pattern is ignored, as in the text.
    """
    regex, display, slots, literal_chars = [], [], [], 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{[":
            close = "}" if ch == "{" else "]"
            j = text.find(close, i + 1)
            if j < 0:
                raise _LineError(f"pattern {text!r} opens {ch!r} without a closing {close!r}")
            inner = text[i + 1:j]
            if ch == "{":
                regex.append(f"(.{{1,{SLOT_MAX_CHARS}}}?)")
                display.append("XX")
                slots.append(inner.strip())
            else:
                chars = _spoken(inner)
                if not chars:
                    raise _LineError(f"pattern {text!r} has an empty choice '[]' (list characters, e.g. [你您])")
                regex.append("[" + "".join(re.escape(c) for c in chars) + "]")
                display.append(chars[0])
                literal_chars += 1
            i = j + 1
        elif ch in "}]":
            raise _LineError(f"pattern {text!r} closes {ch!r} that was never opened")
        else:
            if _spoken(ch):
                regex.append(re.escape(ch.lower()))
                literal_chars += 1
            display.append(ch)
            i += 1
    if literal_chars < 2:
        raise _LineError(f"pattern {text!r} needs at least two fixed characters besides slots")
    if regex[0].startswith("(") or regex[-1].startswith("("):
        raise _LineError(f"pattern {text!r} starts or ends with a slot; slots only go between words")
    return "".join(regex), "".join(display), tuple(slots)


def _add_script_item(parsed: _Parsed, line: _Line, where: str, seen: dict[str, str]) -> None:
    _claim(seen, f"script:{line.head}", where)
    if line.removal:
        parsed.script[line.head] = None
        return
    _check_keys(line, SCRIPT_KEYS, "script.txt")
    for required in ("label", "where", "need"):
        if required not in line.fields:
            raise _LineError(f"script item {line.head!r} lacks '{required}: …' (label, where and need are required)")
    where_kind, count = _parse_where(line.fields["where"])
    also_pattern = line.fields.get("also-pattern", "")
    if also_pattern:
        try:
            re.compile(also_pattern)
        except re.error as err:
            raise _LineError(f"also-pattern {also_pattern!r} is not a valid regular expression ({err})") from None
    need = _words(line.fields["need"])
    if not need:
        raise _LineError("need lists no phrases (write e.g. 'need: 您好, 你好')")
    parsed.script[line.head] = ScriptItem(
        key=line.head, label=line.fields["label"], where=where_kind, count=count, need=need,
        also=_words(line.fields.get("also", "")), also_pattern=also_pattern,
        hint=line.fields.get("hint", ""), source=where,
    )


def _parse_where(value: str) -> tuple[Where, int]:
    kind, _, count = value.lower().partition(" ")
    choices = "first N, last N, anywhere, before-hold, after-hold"
    try:
        where = Where(kind)
    except ValueError:
        raise _LineError(f"where {value!r} is not one of {choices}") from None
    if where in (Where.FIRST, Where.LAST):
        if not count.strip().isdigit() or int(count) < 1:
            raise _LineError(f"where {value!r} needs a count of utterances, e.g. '{kind} 2'")
        return where, int(count)
    if count.strip():
        raise _LineError(f"where {value!r} takes no count (write just '{kind}')")
    return where, 0


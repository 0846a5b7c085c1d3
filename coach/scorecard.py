"""The centre's scorecard: which items a call is scored on, their points, deductions,
thresholds and critical flags — loaded from a commented TOML file a trainer can edit.

`scorecards/default.toml` (beside `lexicon/`) is the default, derived from the standard
in docs/design.md; ``--scorecard FILE`` replaces it.  Scoring itself is `coach.scoring`.
Every mistake in a file is a `ScorecardError` naming the file, the line and the fix.
"""

from __future__ import annotations

import enum
import math
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Collection, Sequence

from coach.errors import ScorecardError

DEFAULT_SCORECARD = Path(__file__).resolve().parent.parent / "scorecards" / "default.toml"
TOTAL_POINTS = 100.0  # docs/design.md: score.total is 0..100
SEVERITIES = ("minor", "major", "critical")


class Measure(str, enum.Enum):
    """What an item scores; each reads one part of the analysis."""

    RATE = "rate"  # speaking rate outside the target band
    SILENCE = "silence"  # dead air (冷场)
    INTERRUPTION = "interruption"  # talking over the customer (抢话)
    PITCH = "pitch"  # flat voice (语调平淡)
    SCRIPT = "script"  # required call steps (lexicon/script.txt) missed
    COURTESY = "courtesy"  # required courtesy phrases never used
    FORBIDDEN = "forbidden"  # 服务禁语 said by the agent
    FILLER = "filler"  # 口头禅 / 非礼貌性语气词 said by the agent


@dataclass(frozen=True)
class ScorecardItem:
    measure: Measure
    label: str  # what reports call the item
    points: float  # the item's full points; a call loses them for what was found
    critical: bool = False  # one hit fails the whole call (一票否决)
    deduct: float | None = None  # points lost per hit; None: the measure's own rule (see default.toml)
    deduct_by_severity: tuple[tuple[str, float], ...] = ()  # forbidden/filler: per-severity deductions
    allowed: int = 0  # hits that cost nothing (a filler or two is human)
    min_s: float = 0.0  # silence: only gaps this long; interruption: only overlaps this long
    include_holds: bool = False  # silence: also count announced holds
    zero_at: float = 0.25  # rate: this far outside the band (fraction of its edge) loses all points
    below_st: float | None = None  # pitch: flat under this many semitones; None: the analysis' verdict
    severities: tuple[str, ...] = ()  # forbidden/filler: only hits of these severities (empty: all)
    steps: tuple[str, ...] = ()  # script: only the steps with these labels (empty: all)
    require: tuple[str, ...] = ()  # courtesy: each entry "a、b" is met when the agent used a or b

    def deduction(self, severity: str) -> float:
        return dict(self.deduct_by_severity).get(severity, self.deduct or 0.0)


@dataclass(frozen=True)
class Scorecard:
    name: str
    items: tuple[ScorecardItem, ...]


# Which optional keys make sense for which measure; anything else is a typo or a misunderstanding.
_COMMON = {"measure", "label", "points", "critical"}
_KEYS: dict[Measure, set[str]] = {
    Measure.RATE: {"zero_at"},
    Measure.SILENCE: {"deduct", "allowed", "min_s", "include_holds"},
    Measure.INTERRUPTION: {"deduct", "allowed", "min_s"},
    Measure.PITCH: {"below_st"},
    Measure.SCRIPT: {"deduct", "allowed", "steps"},
    Measure.COURTESY: {"deduct", "require"},
    Measure.FORBIDDEN: {"deduct", "allowed", "severities"},
    Measure.FILLER: {"deduct", "allowed", "severities"},
}
_NEEDS_DEDUCT = {Measure.SILENCE, Measure.INTERRUPTION, Measure.COURTESY, Measure.FORBIDDEN, Measure.FILLER}


def load_scorecard(path: str | Path | None = None, lexicon_dirs: Sequence[str | Path] = ()) -> Scorecard:
    """The scorecard in ``path`` (TOML), or the bundled default; its script ``steps`` must name
    steps of the lexicon (the bundled one merged with ``lexicon_dirs``, as the analysis loads it)."""
    from coach.lexicon import load_lexicon

    path = Path(path) if path else DEFAULT_SCORECARD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScorecardError(f"scorecard {path} does not exist: check the path given to --scorecard") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScorecardError(f"cannot read scorecard {path} ({exc}): pass a UTF-8 TOML file") from None
    return parse_scorecard(text, str(path), [item.label for item in load_lexicon(lexicon_dirs).script])


def parse_scorecard(text: str, where: str = "<scorecard>", script_steps: Collection[str] | None = None) -> Scorecard:
    """A scorecard from TOML text; ``script_steps``, when given, are the labels a script item may name."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ScorecardError(f"{where}:{line.group(1) if line else '?'}: not valid TOML ({exc}): "
                             "fix the syntax (strings in quotes, one key = value a line)") from None
    lines = text.splitlines()
    unknown = set(data) - {"name", "item"}
    if unknown:
        raise ScorecardError(f"{where}: unknown top-level key {sorted(unknown)[0]!r}: use name and [[item]] tables")
    raw_items = data.get("item")
    if not isinstance(raw_items, list) or not raw_items:
        raise ScorecardError(f"{where}: no [[item]] tables: list the scored items, see scorecards/default.toml")
    items = tuple(_item(raw, _Place(where, lines, n), script_steps) for n, raw in enumerate(raw_items))
    total = sum(i.points for i in items)
    if abs(total - TOTAL_POINTS) > 1e-6:
        raise ScorecardError(f"{where}: the items' points add up to {total:g}, not {TOTAL_POINTS:g}: "
                             "change the points so that a perfect call scores 100")
    labels = [i.label for i in items]
    for label in labels:
        if labels.count(label) > 1:
            raise ScorecardError(f"{where}: two items are labelled {label!r}: give each item its own label")
    return Scorecard(str(data.get("name", Path(where).stem)), items)


@dataclass(frozen=True)
class _Place:
    """Where an item sits in its file, for messages: the n-th [[item]] table."""

    where: str
    lines: list[str]
    index: int

    def error(self, message: str, key: str | None = None) -> ScorecardError:
        headers = [i for i, line in enumerate(self.lines) if line.strip().startswith("[[item]]")]
        line = headers[self.index] if self.index < len(headers) else 0
        if key:
            end = headers[self.index + 1] if self.index + 1 < len(headers) else len(self.lines)
            line = next((i for i in range(line, end) if re.match(rf"\s*{re.escape(key)}\s*=", self.lines[i])), line)
        return ScorecardError(f"{self.where}:{line + 1}: item {self.index + 1}: {message}")


def _item(raw: Any, place: _Place, script_steps: Collection[str] | None) -> ScorecardItem:
    if not isinstance(raw, dict):
        raise place.error("must be a table of key = value lines")
    try:
        measure = Measure(raw.get("measure"))
    except ValueError:
        choices = ", ".join(m.value for m in Measure)
        raise place.error(f"measure {raw.get('measure')!r} is not known: use one of {choices}", "measure") from None
    for key in raw:
        if key not in _COMMON | _KEYS[measure]:
            allowed = ", ".join(sorted(_COMMON | _KEYS[measure]))
            raise place.error(f"{key!r} does not apply to a {measure.value} item: use {allowed}", key)
    label = _typed(raw, "label", str, place)
    if not label or not label.strip():
        raise place.error("needs a label, e.g. label = \"冷场\"", "label")
    values: dict[str, Any] = {"measure": measure, "label": label.strip()}
    values["points"] = _number(raw, "points", place)
    values["critical"] = _typed(raw, "critical", bool, place, False)
    if values["points"] is None:
        raise place.error("needs points (its full marks; 0 for a critical-only item)", "points")
    if values["points"] == 0 and not values["critical"]:
        raise place.error("has 0 points and is not critical, so it can never matter: give it points "
                          "or critical = true", "points")
    deduct = raw.get("deduct")
    if isinstance(deduct, dict):
        if measure not in (Measure.FORBIDDEN, Measure.FILLER):
            raise place.error("deduct by severity only applies to forbidden and filler items", "deduct")
        bad = set(deduct) - set(SEVERITIES)
        if bad:
            raise place.error(f"deduct has severity {sorted(bad)[0]!r}: use {', '.join(SEVERITIES)}", "deduct")
        values["deduct_by_severity"] = tuple((k, _number(deduct, k, place, key="deduct")) for k in SEVERITIES
                                             if k in deduct)
    elif "deduct" in raw:
        values["deduct"] = _number(raw, "deduct", place)
    if measure in _NEEDS_DEDUCT and "deduct" not in raw and values["points"] > 0:
        raise place.error(f"a {measure.value} item needs deduct = points lost per hit")
    for key in ("min_s", "zero_at", "below_st"):
        if key in raw:
            values[key] = _number(raw, key, place)
    if "zero_at" in raw and values["zero_at"] <= 0:
        raise place.error(f"zero_at = {values['zero_at']}: give a fraction above 0, e.g. 0.25", "zero_at")
    if "allowed" in raw:
        allowed = _typed(raw, "allowed", int, place)
        if allowed < 0:
            raise place.error(f"allowed = {allowed}: give 0 or more free hits", "allowed")
        values["allowed"] = allowed
    values["include_holds"] = _typed(raw, "include_holds", bool, place, False)
    for key in ("severities", "steps", "require"):
        if key in raw:
            values[key] = _strings(raw, key, place)
    bad = set(values.get("severities", ())) - set(SEVERITIES)
    if bad:
        raise place.error(f"severities has {sorted(bad)[0]!r}: use {', '.join(SEVERITIES)}", "severities")
    if values.get("deduct_by_severity"):
        _check_severity_deductions(values, place)
    unknown = [step for step in values.get("steps", ()) if script_steps is not None and step not in script_steps]
    if unknown:
        # An unknown label would select no step at all, and the item would score full marks on every call.
        raise place.error(f"steps names {unknown[0]!r}, which is no step of the lexicon's script.txt: use the "
                          f"labels {', '.join(script_steps)}", "steps")
    if measure is Measure.COURTESY and not values.get("require"):
        raise place.error('a courtesy item needs require = ["您好", "谢谢、感谢", …]')
    return ScorecardItem(**values)


def _check_severity_deductions(values: dict[str, Any], place: _Place) -> None:
    """A table of deductions must price every severity the item counts, and only those:
    a missing one made those hits free, an extra one can never apply."""
    counted = values.get("severities") or SEVERITIES
    priced = dict(values["deduct_by_severity"])
    free = [s for s in counted if s not in priced]
    if free:
        raise place.error(f"deduct has no deduction for {free[0]!r} hits, which this item counts: add "
                          f"{free[0]} = … to deduct, or leave {free[0]} out of severities", "deduct")
    ignored = [s for s in priced if s not in counted]
    if ignored:
        raise place.error(f"deduct prices {ignored[0]!r} hits but severities leaves them out: add {ignored[0]!r} "
                          "to severities or remove it from deduct", "deduct")


def _typed(raw: dict, key: str, kind: type, place: _Place, default: Any = None) -> Any:
    value = raw.get(key, default)
    # bool is an int in Python, but `allowed = true` is a mistake, not a 1.
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise place.error(f"{key} = {value!r} should be a {kind.__name__}", key)
    return value


def _number(raw: dict, name: str, place: _Place, key: str | None = None) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    # NaN passes every comparison's "not below 0" and infinity makes every deduction infinite.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise place.error(f"{key or name} = {value!r} should be a number ≥ 0", key or name)
    return float(value)


def _strings(raw: dict, key: str, place: _Place) -> tuple[str, ...]:
    value = raw[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise place.error(f'{key} should be a list of text, e.g. {key} = ["…", "…"]', key)
    return tuple(v.strip() for v in value)


def item_keys() -> list[str]:
    """Every key an item may have (the documentation test checks default.toml explains each)."""
    return sorted({f.name for f in fields(ScorecardItem)} - {"deduct_by_severity"})

"""Masking of personal numbers in reports: mobile phone, ID-card and bank-card numbers.

Reports go to trainers, agents and files that travel; the numbers customers read out do
not need to.  `mask_report` is a pure function returning a new `Report` with every text
masked, so every writer (terminal, JSON, HTML, serve) gets the same protection.

A number is a run of digits, written as digits (13812345678, 138-1234-5678) or read out
as Chinese numerals the way numbers are dictated (一三八一二三四五六七八, 幺 for 1, 零/〇
for 0).  Read with pauses, it comes back from the recogniser with punctuation between its
groups (138，1234，5678, 138、1234、5678, 138.1234.5678, (138)12345678): up to three such
marks join groups into one run.  A run is masked when it is

* a mainland mobile number: 11 digits, 1[3-9]…, alone or inside a longer run;
* a resident ID-card number: 17 digits and a check character (digit or X) that matches
  the GB 11643 checksum;
* a bank-card number: 16–19 digits that pass the Luhn check.

Checksums keep order numbers, amounts and dates readable; the cost is that a number the
recogniser got one digit wrong is not masked (see README, "Masking").  Counted numbers
(一千零二十三, 两百) are never personal numbers and are left alone: 十/百/千/两 break a run.
The first 3 and last 4 digits stay, so a trainer can still tell two numbers apart.
A run joined across punctuation is also checked group by group as before, so a number
read right after another one (金额13.5，电话138…) is never masked less than on its own.

File names carry numbers too (recorders name files after the caller): `mask_source` masks
a recording's path for display, with ``_`` joining groups as well.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from coach.results import Evidence, Report, ScoreItem

if TYPE_CHECKING:  # masking needs only the event's shape
    from coach.live.events import LiveEvent

MASK = "*"
_KEEP_HEAD, _KEEP_TAIL = 3, 4
_VALUE = {**{str(d): str(d) for d in range(10)}, **{chr(0xFF10 + d): str(d) for d in range(10)},
          **dict(zip("零〇一二三四五六七八九幺", "001234567891"))}
_DIGIT = "[0-9０-９零〇一二三四五六七八九幺]"
# Digits may be grouped by spaces or dashes (138 1234 5678); an ID card may end in X.
_GROUPED = re.compile(rf"{_DIGIT}(?:[ \-]?{_DIGIT})*(?:[ \-]?[Xx])?")
# Marks the recogniser writes for a pause inside a dictated number.
_PAUSES = " \\-,，、.．。·()（）"


def _run_of(pauses: str) -> re.Pattern[str]:
    return re.compile(rf"{_DIGIT}(?:[{pauses}]{{0,3}}{_DIGIT})*(?:[ \-]?[Xx])?")


_RUN = _run_of(_PAUSES)
_NAME_RUN = _run_of(_PAUSES + "_")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def mask_text(text: str) -> str:
    """``text`` with every phone, ID-card and bank-card number masked."""
    return _RUN.sub(_mask_run, text) if text else text


def mask_source(source: str) -> str:
    """A recording's path or file name, for display, with the personal numbers in it masked."""
    return _NAME_RUN.sub(_mask_run, source) if source else source


def mask_report(report: Report) -> Report:
    """A copy of ``report`` whose every transcript-derived text is masked."""
    m = mask_text
    return replace(
        report,
        # Word texts could split a number across words where no pattern sees it whole;
        # no writer prints them, so they are dropped rather than half-masked.
        utterances=tuple(replace(u, text=m(u.text), raw_text=m(u.raw_text), words=()) for u in report.utterances),
        utterance_rates=tuple(replace(r, text=m(r.text)) for r in report.utterance_rates),
        interruptions=tuple(replace(i, agent_text=m(i.agent_text), customer_text=m(i.customer_text))
                            for i in report.interruptions),
        phrases=tuple(replace(h, heard=m(h.heard), context=m(h.context)) for h in report.phrases),
        script=tuple(replace(c, detail=m(c.detail)) for c in report.script),
        score=replace(report.score, items=tuple(_mask_item(i) for i in report.score.items)),
    )


def mask_event(event: LiveEvent) -> LiveEvent:
    """A copy of a live event whose message and quoted texts are masked."""
    data = {k: mask_text(v) if isinstance(v, str) else v for k, v in event.data.items()}
    return replace(event, message=mask_text(event.message), data=data)


def _mask_item(item: ScoreItem) -> ScoreItem:
    return replace(item, evidence=tuple(Evidence(e.start, e.end, mask_text(e.quote), mask_text(e.detail))
                                        for e in item.evidence))


def _mask_run(match: re.Match) -> str:
    run = match.group()
    # The whole run (groups joined across pauses), and each group of it on its own.
    hidden = _hidden(run, 0)
    for group in _GROUPED.finditer(run):
        hidden |= _hidden(group.group(), group.start())
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(run))


def _hidden(run: str, offset: int) -> set[int]:
    """Positions (plus ``offset``) of the characters of ``run`` that a mask covers."""
    positions = [i for i, ch in enumerate(run) if ch in _VALUE or ch in "Xx"]
    digits = "".join(_VALUE.get(run[i], "X") for i in positions)
    hidden: set[int] = set()
    for start, end in _personal_numbers(digits):
        hidden.update(offset + i for i in positions[start + _KEEP_HEAD:end - _KEEP_TAIL])
    return hidden


def _personal_numbers(digits: str) -> list[tuple[int, int]]:
    """(start, end) of the personal numbers inside one run of digits."""
    if is_id_card(digits) or (digits.isdigit() and 16 <= len(digits) <= 19 and luhn_ok(digits)):
        return [(0, len(digits))]
    # Inside a longer run (a number read straight after another), only a mobile number
    # has a shape distinctive enough to find.
    return [m.span() for m in _MOBILE.finditer(digits.rstrip("X"))]


def is_id_card(digits: str) -> bool:
    """An 18-character resident ID-card number with a matching check character (GB 11643)."""
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == digits[17].upper()


def luhn_ok(digits: str) -> bool:
    """The Luhn check every bank card number passes."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0

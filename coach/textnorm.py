"""Text normalisation stage: make Whisper's Mandarin output countable and quotable.

Whisper (base) mixes traditional and simplified characters, writes digits and
Latin, and invents text on silence.  This module turns a transcript into:

* `normalise` – what reports quote: simplified, whitespace tidied, punctuation
  kept, repetition loops collapsed; digits stay digits (quotes read naturally).
* `spoken_char_count` – what the speaking rate counts: Han characters after
  simplification and number expansion, plus Latin read aloud.
* `is_hallucination` – whether a whole recognised segment is silence filler.

Number reading (`expand_numbers`), first rule that applies wins:

1. ``H:MM`` clock times → 三点十五 (``:00`` → 三点, ``:05`` → 三点零五).
2. ``a/b`` → b分之a.
3. Digit groups joined by spaces or hyphens (138 0013 8000, 400-800-1234) with
   7 or more digits in all → digit by digit; shorter ones are ranges
   (3-5天 → 三到五天) or separate numbers.
4. ``50%`` → 百分之五十; decimals → 三点五 (fraction digit by digit, 12.50 → 十二点五零);
   thousands separators are dropped (1,000 → 一千).
5. Read digit by digit (1 → 一, 0 → 零): after an identifier word (工号, 编号,
   尾号, 卡号, 验证码, 号码, 电话, 手机, 账号, 单号, 身份证, 密码, 分机, 邮编, 拨打 …);
   with a leading zero (010); four digits before 年 (2023年 → 二零二三年); three or
   more digits before 号 (1023号 → 一零二三号); five or more digits unless a
   quantity unit follows (13800138000, but 10000元 → 一万元).
6. Otherwise a quantity: 1023 → 一千零二十三, 10 → 十, 110 → 一百一十.

Latin is counted as spoken: an all-capitals run (VIP, APP, OK) is spelled, one
per letter; a word without vowels (pdf, sms) too; any other word counts its
vowel groups as syllables, less a silent final e (hello → 2, iPhone → 2), with
"ok" → 2 as the one exception.  Punctuation, whitespace and emoji count nothing.

cn2an was measured and not used: importing it costs ≈ 0.2 s and it misreads
thousands separators (1,000 → 一,零); the reading rules above are a few lines.
"""

from __future__ import annotations

import functools
import logging
import re

log = logging.getLogger(__name__)

# --- traditional → simplified ------------------------------------------------


@functools.cache
def _t2s_converter():
    # The official `opencc` wheel (C++): 0.13 ms per 2,000 chars against 6.8 ms for
    # opencc-python-reimplemented, same answers; both install module `opencc` with this API.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional characters to simplified (OpenCC t2s); other text unchanged."""
    if text.isascii():
        return text
    return _t2s_converter().convert(text)


# Full-width digits, letters and ％ are what an IME writes; full-width Chinese
# punctuation (，。？) is left alone because reports quote it.
_HALF_WIDTH = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B), 0xFF05)}
)

# --- number expansion --------------------------------------------------------

_DIGIT_NAMES = "零一二三四五六七八九"
_PLACE_UNITS = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))

_NUMERIC = re.compile(
    r"""
      (?P<clock>(?<!\d)\d{1,2}:\d{2}(?!\d))
    | (?P<fraction>\d+/\d+)
    | (?P<grouped>\d+(?:[ \-]\d+)+)
    | (?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?)
    """,
    re.VERBOSE,
)
_IDENTIFIER_BEFORE = re.compile(
    # any …号 (工号, and ASR homophones such as 公号) before digits names an identifier
    r"(?:号|验证码|号码|电话|手机|身份证|房间|密码|分机|邮编|拨打|热线)"
    r"(?:是|为|:|：|\s)*$"
)
_QUANTITY_UNIT_AFTER = re.compile(
    r"\s*(?:元|块|角|毛|万|亿|千|百|个|次|天|人|户|岁|台|套|张|件|条|位|笔|份|米|公里|斤|克|度|点|分|积分|小时|秒|倍|页|兆)"
)
_CONTEXT_CHARS = 12  # enough to see "手机号码是：" before a number
_LONGEST_QUANTITY_DIGITS = 16  # past 千万亿 nobody reads a quantity: spell it
_DIGIT_RUN_MIN = 5
_PHONE_MIN_DIGITS = 7


def _read_digits(digits: str) -> str:
    """Digit by digit, as identifiers are read: 1023 → 一零二三."""
    return "".join(_DIGIT_NAMES[int(d)] for d in digits)


def _read_below_10000(value: int) -> str:
    words, zero_pending = [], False
    for place, unit in _PLACE_UNITS:
        digit = value // place % 10
        if digit == 0:
            zero_pending = bool(words)
            continue
        if zero_pending:
            words.append("零")
            zero_pending = False
        words.append(_DIGIT_NAMES[digit] + unit)
    return "".join(words)


def _read_value(value: int) -> str:
    if value < 10000:
        return _read_below_10000(value)
    base, unit = (10**8, "亿") if value >= 10**8 else (10**4, "万")
    high, low = divmod(value, base)
    spoken = _read_value(high) + unit
    if low:
        # A gap of zeros after the unit is spoken once: 一万零一十, 一亿零一.
        spoken += ("零" if low < base // 10 else "") + _read_value(low)
    return spoken


def _read_integer(digits: str) -> str:
    """A quantity: 1023 → 一千零二十三, 10 → 十, 100000001 → 一亿零一."""
    if len(digits.lstrip("0")) > _LONGEST_QUANTITY_DIGITS:
        return _read_digits(digits)
    value = int(digits)
    if value == 0:
        return "零"
    spoken = _read_value(value)
    return spoken[1:] if spoken.startswith("一十") else spoken  # 10–19 are 十, 十一 …


def _read_decimal(number: str) -> str:
    whole, _, fraction = number.partition(".")
    return _read_integer(whole) + ("点" + _read_digits(fraction) if fraction else "")


def _reads_digit_by_digit(digits: str, before: str, after: str) -> bool:
    if _IDENTIFIER_BEFORE.search(before):
        return True
    if len(digits) > 1 and digits[0] == "0":
        return True
    if after.startswith("年") and len(digits) == 4:
        return True
    if after.startswith("号") and len(digits) >= 3:
        return True
    return len(digits) >= _DIGIT_RUN_MIN and not _QUANTITY_UNIT_AFTER.match(after)


def _read_number(token: str, before: str, after: str) -> str:
    if token.endswith("%"):
        return "百分之" + _read_decimal(token[:-1].replace(",", ""))
    if "." in token:
        return _read_decimal(token.replace(",", ""))
    if "," in token:  # a thousands separator only ever groups a quantity
        return _read_integer(token.replace(",", ""))
    return _read_digits(token) if _reads_digit_by_digit(token, before, after) else _read_integer(token)


def _read_clock(token: str) -> str:
    hours, minutes = token.split(":")
    if minutes == "00":
        return _read_integer(hours) + "点"
    minutes_read = _read_digits(minutes) if minutes[0] == "0" else _read_integer(minutes)
    return _read_integer(hours) + "点" + minutes_read


def _read_grouped(token: str, before: str, after: str) -> str:
    if sum(c.isdigit() for c in token) >= _PHONE_MIN_DIGITS:
        return _read_digits("".join(c for c in token if c.isdigit()))
    parts = re.split(r"([ \-])", token)
    return "".join(
        "到" if part == "-" else part if part == " " else _read_number(part, before, after) for part in parts
    )


def _spoken_numeric(match: re.Match) -> str:
    token, text = match.group(0), match.string
    before = text[max(0, match.start() - _CONTEXT_CHARS): match.start()]
    after = text[match.end(): match.end() + _CONTEXT_CHARS]
    if match.lastgroup == "clock":
        return _read_clock(token)
    if match.lastgroup == "fraction":
        numerator, denominator = token.split("/")
        return _read_integer(denominator) + "分之" + _read_integer(numerator)
    if match.lastgroup == "grouped":
        return _read_grouped(token, before, after)
    return _read_number(token, before, after)


def expand_numbers(text: str) -> str:
    """Digits replaced by the Chinese that was spoken (rules in the module docstring).

    Expects simplified text (identifier words are matched in simplified form).
    """
    return _NUMERIC.sub(_spoken_numeric, text.translate(_HALF_WIDTH))


# --- counting ----------------------------------------------------------------

_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_SYLLABLE_EXCEPTIONS = {"ok": 2}  # lower-case "ok" is still "ou-kei"


def _latin_spoken_count(word: str) -> int:
    lower = word.lower()
    if lower in _SYLLABLE_EXCEPTIONS:
        return _SYLLABLE_EXCEPTIONS[lower]
    if word.isupper() or not _VOWEL_GROUP.search(lower):
        return len(word)  # an acronym or a vowel-less abbreviation is spelled out
    syllables = len(_VOWEL_GROUP.findall(lower))
    if lower.endswith("e") and not lower.endswith("le") and syllables > 1:
        syllables -= 1  # silent e: phone, service
    return syllables


def spoken_char_count(text: str) -> int:
    """Spoken characters for the speaking rate: Han after simplification and
    number expansion, plus Latin as spoken; punctuation, spaces, emoji count 0."""
    spoken = expand_numbers(to_simplified(text))
    return len(_HAN.findall(spoken)) + sum(_latin_spoken_count(w) for w in _LATIN_WORD.findall(spoken))


# --- normalisation -----------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
_CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uffef…—“”‘’"
_SPACE_BY_CJK_PUNCTUATION = re.compile(rf" (?=[{_CJK_PUNCTUATION}])|(?<=[{_CJK_PUNCTUATION}]) ")
# A unit of up to 30 characters said four or more times in a row, 16 characters
# or more in all: Whisper's decoding loop.  Real speech repeats less (对对对, 喂，您好？喂，您好？).
_REPEATED_UNIT = re.compile(r"(.{1,30}?)\1{3,}", re.DOTALL)
_LOOP_MIN_CHARS = 16


def strip_repetition_loops(text: str) -> str:
    """Collapse each decoding loop to a single occurrence of its unit."""

    def collapse(match: re.Match) -> str:
        if len(match.group(0)) < _LOOP_MIN_CHARS:
            return match.group(0)
        log.debug("collapsed a repetition loop of %r", match.group(1))
        return match.group(1)

    return _REPEATED_UNIT.sub(collapse, text)


# Whisper sometimes writes a lone digit where a clause ends (您好4很高兴为您服务): a digit
# between two Han characters that no number word precedes and no unit or measure word follows
# was a pause, not a number (有4个, 第4次, 按1号键, 等3天 stay numbers).
_NUMBER_BEFORE = "第号到至约共有是为剩差过近每满送扣按拨打选转等前后再这那哪几零〇一二三四五六七八九十百千万"
_NUMBER_AFTER = ("个天元块角毛次号点月年日周岁楼层位分秒时台张件条笔份米公斤克度倍页兆万千百亿十折成遍下种家款项"
                 "名人户套本期季寸级栋单室路站班车部组瓶箱包杯双对顿场回声句字根支颗粒片刻")
_STRAY_DIGIT = re.compile(
    rf"(?<=[\u4e00-\u9fff])(?<![{_NUMBER_BEFORE}])[0-9](?=[\u4e00-\u9fff])(?![{_NUMBER_AFTER}])")


def normalise(text: str) -> str:
    """Transcript for reports: simplified, whitespace tidied, loops collapsed.

    Punctuation and digits are kept as written (but a digit written for a comma becomes the
    comma); spaces between Han characters stay (Whisper puts them where the speaker paused),
    one at most.
    """
    tidy = _WHITESPACE.sub(" ", to_simplified(text.translate(_HALF_WIDTH))).strip()
    tidy = _STRAY_DIGIT.sub("，", _SPACE_BY_CJK_PUNCTUATION.sub("", tidy))
    return strip_repetition_loops(tidy)


# --- hallucinations ----------------------------------------------------------

# Whisper's own silence rule (no_speech_threshold, logprob_threshold) and its
# compression-ratio threshold for degenerate, repetitive output.
NO_SPEECH_PROB_MIN = 0.6
AVG_LOGPROB_MAX = -1.0
COMPRESSION_RATIO_MAX = 2.4

# Patterns are matched on compact text: simplified, lower case, no punctuation
# or spaces ("字幕由Amara.org社区提供" → "字幕由amaraorg社区提供").
# Markers never occur in a real call, so anywhere in a segment they condemn it
# (字幕 is not one: a customer may complain that a video has no 中文字幕).
_HALLUCINATION_MARKERS = re.compile(
    r"amaraorg|明镜与点点|点点栏目|明镜需要您的支持|yoyotelevision|优优独播剧场"
    r"|以下是普通话|请用简体中文|不代表本台立场|订阅我的频道"
)
# Phrases are hallucinations only when the segment is nothing else: 谢谢 alone,
# 再见 and 请稍等 are what agents really say, so none of them is listed.
_SOCIAL_VERB = r"(?:点赞|订阅|转发|打赏|分享|关注|收藏|评论)"
_CHANNEL = r"(?:明镜|我的频道|本频道|我们的频道|频道|栏目)"
_HALLUCINATION_PHRASE = (
    r"(?:谢谢|感谢|多谢)(?:大家|您|你|各位)?的?(?:观看|收看|收听|观赏)"
    rf"|(?:请|欢迎)(?:不吝)?{_SOCIAL_VERB}+(?:支持)?{_CHANNEL}?"
    rf"|{_SOCIAL_VERB}{{2,}}(?:支持)?{_CHANNEL}?"
    r"|(?:我们)?下(?:期|集|期节目)(?:再)?见"
    r"|(?:中文|简体|繁体|中英)?字幕(?:组|制作|翻译|校对|志愿者)?(?:人员)?(?:by[a-z\u4e00-\u9fff]{1,10})?"
    r"|作词[\u4e00-\u9fff]{0,6}作曲[\u4e00-\u9fff]{0,6}"
)
_ONLY_HALLUCINATION_PHRASES = re.compile(rf"(?:{_HALLUCINATION_PHRASE})+")
# What no caller or agent ever says, even inside real speech: a song's credits, a video's sign-off.
_INVENTED_INSIDE = re.compile(
    _HALLUCINATION_MARKERS.pattern
    + r"|作词[\u4e00-\u9fff]{0,6}?作曲[\u4e00-\u9fff]{0,4}|(?:谢谢|感谢)(?:大家|各位)的?(?:观看|收看|收听)"
)
_NOT_WORD = re.compile(r"[\W_]+")


def compact(text: str) -> str:
    """Text reduced to what was said: simplified, lower case, no punctuation or spaces."""
    return _NOT_WORD.sub("", to_simplified(text.translate(_HALF_WIDTH))).lower()


def invented_runs(said: str) -> list[tuple[int, int]]:
    """[start, end) positions in compact text (`compact`) of what Whisper invented inside real
    speech: the credits and sign-offs of its training videos, the prompt written back."""
    return [m.span() for m in _INVENTED_INSIDE.finditer(said)]


# What a short piece decoded on its own is finished with, in the silence after its last word:
# a song's credits (作词, 作曲 and a name or nothing), or a unit said over and over past any
# speech (神神神神神 from 《神》《神》…): one character 5 times or more, a longer unit 4 times or
# more (对对对 and 好的好的好的 are what people say).
_CREDITS_TAIL = re.compile(r"(?:作词|作曲|编曲)[\u4e00-\u9fff]{0,6}$")
_LOOP_TAIL = re.compile(r"(.{1,4}?)\1+$")


def invented_tail(said: str) -> int:
    """Where the invented tail of a piece's compact text (`compact`) begins: credits at its end,
    or the repeats of a loop at its end (the first of them is kept); ``len(said)`` if none."""
    credits = _CREDITS_TAIL.search(said)
    if credits:
        said = said[:credits.start()]
    loop = _LOOP_TAIL.search(said)
    if loop:
        unit = loop.group(1)
        times = (loop.end() - loop.start()) // len(unit)
        if times >= (5 if len(unit) == 1 else 4):
            return loop.start() + len(unit)
    return len(said)


def is_hallucination(
    text: str,
    *,
    no_speech_prob: float | None = None,
    avg_logprob: float | None = None,
    compression_ratio: float | None = None,
) -> bool:
    """Whether a recognised segment is Whisper inventing text, not speech.

    True for: Whisper's silence rule (no_speech_prob > 0.6 with avg_logprob < -1.0);
    compression ratio > 2.4; a known silence phrase making up the whole segment
    (谢谢观看, 请订阅…) or a marker anywhere in it (Amara.org, 明镜与点点, the
    prompt echoed back); a repetition loop making up at least half of it.
    An empty segment is not a hallucination (there is nothing to drop).
    """
    if (
        no_speech_prob is not None and avg_logprob is not None
        and no_speech_prob > NO_SPEECH_PROB_MIN and avg_logprob < AVG_LOGPROB_MAX
    ):
        return True
    if compression_ratio is not None and compression_ratio > COMPRESSION_RATIO_MAX:
        return True
    said = compact(text)
    if not said:
        return False
    if _HALLUCINATION_MARKERS.search(said) or _ONLY_HALLUCINATION_PHRASES.fullmatch(said):
        return True
    return len(strip_repetition_loops(said)) * 2 <= len(said)

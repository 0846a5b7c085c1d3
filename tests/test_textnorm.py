"""Text normalisation: simplification, number reading, counting, hallucination guard."""

import pytest

from coach import textnorm


@pytest.mark.parametrize(
    "traditional, simplified",
    [
        ("謝謝", "谢谢"),
        ("請稍等", "请稍等"),
        ("讓您久等了", "让您久等了"),
        ("這是規定，我有什麼辦法", "这是规定，我有什么办法"),
        ("頭髮", "头发"),
        ("工號1023 VIP", "工号1023 VIP"),
        ("", ""),
    ],
)
def test_to_simplified(traditional, simplified):
    assert textnorm.to_simplified(traditional) == simplified


@pytest.mark.parametrize(
    "written, spoken",
    [
        # identifiers, read digit by digit
        ("工号1023", "工号一零二三"),
        ("工号：1023为您服务", "工号：一零二三为您服务"),
        ("尾号为8888", "尾号为八八八八"),
        ("卡号 6222", "卡号 六二二二"),
        ("验证码是123", "验证码是一二三"),
        ("编号12", "编号一二"),
        ("手机号码是138 0013 8000", "手机号码是一三八零零一三八零零零"),
        ("热线400-800-1234", "热线四零零八零零一二三四"),
        ("13800138000", "一三八零零一三八零零零"),
        ("100000", "一零零零零零"),
        ("12345", "一二三四五"),  # five digits is already an identifier
        ("1234", "一千二百三十四"),  # four is still a quantity
        ("010", "零一零"),
        ("1023号", "一零二三号"),
        ("2023年3月5日", "二零二三年三月五日"),
        # quantities, read as numbers
        ("1023", "一千零二十三"),
        ("3号", "三号"),
        ("5年", "五年"),
        ("10", "十"),
        ("15个", "十五个"),
        ("110", "一百一十"),
        ("1001", "一千零一"),
        ("10010元", "一万零一十元"),  # a unit keeps a long number a quantity
        ("20000 块", "二万 块"),
        ("100000001元", "一亿零一元"),
        ("400001326元", "四亿零一千三百二十六元"),
        ("1,000元", "一千元"),
        ("0", "零"),
        # times, decimals, percentages, ranges, fractions
        ("3点15分", "三点十五分"),
        ("3:15", "三点十五"),
        ("3:05", "三点零五"),
        ("10:00", "十点"),
        ("3.5", "三点五"),
        ("0.05", "零点零五"),
        ("12.50元", "十二点五零元"),
        ("50%", "百分之五十"),
        ("3.5%", "百分之三点五"),
        ("3-5天", "三到五天"),
        ("1/2", "二分之一"),
        # full-width digits are digits
        ("工号１０２３", "工号一零二三"),
        ("没有数字", "没有数字"),
        ("", ""),
    ],
)
def test_expand_numbers(written, spoken):
    assert textnorm.expand_numbers(written) == spoken


@pytest.mark.parametrize(
    "text, count",
    [
        ("您好", 2),
        ("您好，請問！😀", 4),  # traditional counts, punctuation and emoji do not
        ("  \n\t。，？", 0),
        ("", 0),
        ("工号1023", 6),  # 工号一零二三
        ("工號1023", 6),  # the identifier word is recognised after simplification
        ("1023元", 7),  # 一千零二十三元
        ("50%", 5),  # 百分之五十
        ("2023年", 5),
        ("VIP客户", 5),  # V-I-P spelled
        ("APP", 3),
        ("OK", 2),
        ("ok", 2),
        ("hello", 2),  # syllables
        ("iPhone", 2),  # silent final e
        ("pdf", 3),  # no vowel: spelled
        ("5G网络", 4),  # 五 G 网 络
    ],
)
def test_spoken_char_count(text, count):
    assert textnorm.spoken_char_count(text) == count


def test_normalise_simplifies_tidies_and_keeps_digits_and_punctuation():
    raw = "  您好 ， 請問   有什麼可以幫您？\n工號１０２３  "
    assert textnorm.normalise(raw) == "您好，请问 有什么可以帮您？工号1023"


def test_normalise_collapses_a_decoding_loop_but_not_real_repetition():
    assert textnorm.normalise("您好" + "请稍等" * 8) == "您好请稍等"
    assert textnorm.normalise("对对对，喂，您好？喂，您好？") == "对对对，喂，您好？喂，您好？"
    assert textnorm.normalise("") == ""


def test_strip_repetition_loops_needs_enough_repeats():
    assert textnorm.strip_repetition_loops("好的" * 8) == "好的"
    assert textnorm.strip_repetition_loops("好的" * 4) == "好的" * 4  # 8 chars: could be real


@pytest.mark.parametrize(
    "segment",
    [
        "字幕由Amara.org社区提供",
        "字幕由Amara.org社群提供",
        "小编字幕由Amara.org社区提供",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "明镜需要您的支持 欢迎订阅明镜",
        "优优独播剧场——YoYo Television Series Exclusive",
        "謝謝觀看",
        "谢谢观看！谢谢观看！",
        "谢谢收看",
        "感谢您的观看",
        "谢谢大家收听",
        "请订阅",
        "点赞订阅转发",
        "欢迎订阅我的频道",
        "中文字幕",
        "字幕by索兰娅",
        "我们下期再见",
        "作词 李宗盛 作曲 李宗盛",
        "以下是普通话客服电话的录音，请用简体中文。",  # the initial prompt echoed on silence
        "以上言论不代表本台立场",
        "好的" * 10,  # decoding loop
    ],
)
def test_known_silence_hallucinations_are_flagged(segment):
    assert textnorm.is_hallucination(segment)


@pytest.mark.parametrize(
    "segment",
    [
        "谢谢",
        "谢谢。",
        "谢谢您的来电，再见",
        "再见",
        "下次再见",
        "请稍等",
        "对对对",
        "喂，您好？喂，您好？",
        "订阅",  # one word can be a real answer
        "我的视频没有中文字幕",  # 字幕 inside real speech
        "谢谢观看的人很多吗",  # a phrase must be the whole segment
        "工号1023为您服务",
        "",
    ],
)
def test_real_speech_is_not_flagged(segment):
    assert not textnorm.is_hallucination(segment)


def test_statistics_guard_follows_whispers_silence_rule():
    text = "您好请问有什么可以帮您"
    assert textnorm.is_hallucination(text, no_speech_prob=0.9, avg_logprob=-1.5)
    assert not textnorm.is_hallucination(text, no_speech_prob=0.9, avg_logprob=-0.3)  # confident words
    assert not textnorm.is_hallucination(text, no_speech_prob=0.2, avg_logprob=-1.5)  # speech, badly heard
    assert not textnorm.is_hallucination(text, no_speech_prob=0.9)  # one statistic is not enough


def test_compression_ratio_guard_flags_degenerate_output():
    assert textnorm.is_hallucination("您好", compression_ratio=2.6)
    assert not textnorm.is_hallucination("您好", compression_ratio=1.3)


@pytest.mark.parametrize("written, expected", [
    ("您好4很高兴为您服务", "您好，很高兴为您服务"),  # a digit Whisper wrote for a comma
    ("您好1请问您需要什么帮助", "您好，请问您需要什么帮助"),
    ("我有4个问题", "我有4个问题"),  # a number with its measure word
    ("第4次打电话了", "第4次打电话了"),
    ("请按1号键", "请按1号键"),
    ("还要等3天", "还要等3天"),
    ("工号1023很高兴", "工号1023很高兴"),  # digits in a run are a number
])
def test_a_lone_digit_between_two_clauses_is_a_comma(written, expected):
    assert textnorm.normalise(written) == expected
    assert textnorm.spoken_char_count(textnorm.normalise("您好4很高兴")) == 5

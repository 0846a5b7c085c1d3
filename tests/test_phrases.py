"""Phrase matching on words, by sound, with context rules; the call-script checks."""

import re
from pathlib import Path

import pytest

from coach.lexicon import load_lexicon
from coach.phrases import PhraseMatcher, check_script, mark_holds
from coach.results import Silence, Speaker, Utterance, Word

SEEDS = Path("/work/shared/seeds")


@pytest.fixture(scope="module")
def matcher() -> PhraseMatcher:
    return PhraseMatcher(load_lexicon())


@pytest.fixture(scope="module")
def lexicon(matcher):
    """The matcher's own lexicon, so check_script reuses the matcher instead of loading jieba again."""
    return matcher.lexicon


def found(matcher, text, speaker=Speaker.AGENT):
    return {(h.category, h.phrase) for h in matcher.match_text(text, speaker=speaker)}


def agent(start, end, text, words=()):
    return Utterance(Speaker.AGENT, start, end, text, words=tuple(words))


def customer(start, end, text):
    return Utterance(Speaker.CUSTOMER, start, end, text)


# --- words, not substrings -------------------------------------------------------------

def test_qing_inside_shenqing_is_not_courtesy(matcher):
    assert found(matcher, "我帮您申请一下") == set()
    assert ("courtesy", "请") in found(matcher, "请您提供一下订单号")


def test_shorter_phrase_inside_a_longer_hit_is_reported_once(matcher):
    hits = matcher.match_text("请您稍等一下")
    assert [(h.category, h.phrase) for h in hits] == [("courtesy", "请您稍等")]


def test_multi_word_phrase_ignores_punctuation_and_spaces(matcher):
    for text in ("对不起，让您久等了", "对不起 让您久等了", "对不起。。让您久等了！"):
        hits = matcher.match_text(text)
        assert [h.phrase for h in hits] == ["对不起，让您久等了"], text
        assert hits[0].confidence == 1.0


def test_phrase_does_not_run_over_a_clause_break_it_lacks(matcher):
    assert found(matcher, "谢谢，您的反馈我已经记录了") == {("courtesy", "谢谢")}
    assert found(matcher, "谢谢您的反馈") == {("courtesy", "谢谢您")}
    assert found(matcher, "谢谢您，再见") == {("courtesy", "谢谢您"), ("courtesy", "再见")}


def test_latin_digits_and_punctuation_in_input(matcher):
    hits = matcher.match_text("OK，您好！工号1023为您服务，APP里不知道怎么弄？")
    assert {h.phrase for h in hits} == {"您好", "不知道"}


@pytest.mark.parametrize("text", ["", "   ", "，。！？", "OK 123"])
def test_empty_or_unspoken_text_has_no_hits(matcher, text):
    assert matcher.match_text(text) == []


def test_standard_wording_that_contains_a_forbidden_fragment_does_not_fire(matcher):
    # 003's own standard phrase: 大点声 alone is fine, 大点声，听不见 is the 禁语.
    assert [h for h in matcher.match_text("您的电话听不清楚，请您大点声，好吗") if h.category == "forbidden"] == []
    assert found(matcher, "大点声，听不见！") == {("forbidden", "大点声，听不见")}


def test_ordinary_sentences_have_no_hits(matcher):
    for text in ("我们的产品很好的", "再见面的时候再说", "这个型号已经停产了", "清楚了吗", "我看不清楚屏幕",
                 "您好像记错了日期", "干嘛这么着急"):
        hits = [h for h in matcher.match_text(text) if h.category != "courtesy" or h.phrase != "您好"]
        assert hits == [], text


# --- sound-alikes -----------------------------------------------------------------------

@pytest.mark.parametrize("heard, phrase", [("请您收等", "请您稍等"), ("对不起，让您就等了", "对不起，让您久等了"),
                                           ("欢迎在此播打", "欢迎再次拨打"), ("将您就等了", "让您久等了"),
                                           ("很愿意为您提供帮助", "很乐意为您提供帮助"),
                                           ("让您就等了", "让您久等了"), ("我不只道", "不知道"),
                                           ("请稍后", "请稍候")])
def test_asr_homophones_match_with_lower_confidence(matcher, heard, phrase):
    hits = matcher.match_text(heard)
    assert [h.phrase for h in hits] == [phrase]
    assert hits[0].heard == heard.replace("我", "") and hits[0].confidence < 1.0


@pytest.mark.parametrize("heard, phrase", [("你好", "您好"), ("祝你生活愉快", "祝您生活愉快"),
                                           ("感谢你的来电", "感谢您的来电")])
def test_ni_and_nin_count_alike(matcher, heard, phrase):
    hits = matcher.match_text(f"{heard}。")
    assert [(h.phrase, h.heard, h.confidence) for h in hits] == [(phrase, heard, 0.9)]
    assert matcher.match_text(phrase)[0].confidence == 1.0


def test_long_phrase_needs_a_word_edge_on_one_side_only(matcher):
    # jieba cuts 感谢你的来电祝你… into …来/电祝/你…: neither phrase is a run of whole words.
    assert found(matcher, "感谢你的来电祝你生活愉快再见") == {
        ("courtesy", "感谢您的来电"), ("courtesy", "祝您生活愉快"), ("courtesy", "再见")}
    assert found(matcher, "申请问题") == set()  # 请问 inside 申请问题: short phrases stay whole words


def test_same_sounds_need_a_character_right(matcher):
    # 欢迎再次拨打 and 换英在此播达 sound the same, but without one character of the phrase it is a guess.
    assert found(matcher, "换英在此播达") == set()


def test_one_wrong_syllable_only_in_long_phrases(matcher):
    assert found(matcher, "将您稍等") == set()  # four characters: no wild syllable
    assert found(matcher, "将您就到了") == set()  # five, but two syllables wrong


def test_two_character_phrases_do_not_match_by_sound(matcher):
    assert found(matcher, "在见") == set()  # 再见 misheard: too short to trust


def test_no_sound_alike_hits_on_the_rulebook_sentences(matcher):
    sentences = [s for f in sorted(SEEDS.glob("*.txt"))
                 for s in re.split(r"[。！？!?\n]", f.read_text(encoding="utf-8")) if s.strip()]
    if not sentences:
        pytest.skip("seeds not available")
    hits = matcher.match([agent(i, i + 1, s) for i, s in enumerate(sentences)])
    assert hits, "the rulebooks quote courtesy phrases"
    # The only sound-alikes the rulebooks hold are courtesy paraphrases, not false hits.
    paraphrases = {("请问有什么可以帮您", "请问有什么可以帮助"), ("谢谢您的理解与支持", "感谢您的理解与支持")}
    assert {(h.phrase, h.heard) for h in hits if h.confidence < 1.0} == paraphrases
    for h in hits:
        if h.category == "forbidden" and "XX" not in h.phrase:
            assert re.sub(r"\W", "", h.heard) == re.sub(r"\W", "", h.phrase)


# --- context rules for forbidden phrases --------------------------------------------------

def test_forbidden_phrase_fires_with_severity_and_suggestion(matcher):
    hits = matcher.match_text("这个我也不知道")
    assert len(hits) == 1
    assert (hits[0].category, hits[0].phrase, hits[0].severity) == ("forbidden", "不知道", "major")
    assert hits[0].suggestion and hits[0].context == "这个我也不知道"


@pytest.mark.parametrize("text", [
    "您不知道的话可以随时来电",  # conditional (…的话)
    "如果您不清楚，可以再来电",  # conditional (如果…)
    '您说"不知道"是什么意思',  # quoted
    "您说不知道怎么操作是吧",  # reported speech
    "我们不能说不知道",  # negated
    "不知道您现在方便吗",  # polite "I wonder if" (except: 不知道您)
    "您有不清楚的地方随时问我",  # except: 有不清楚
    "我看不清楚",  # 不清楚 inside another word
])
def test_context_keeps_forbidden_phrases_from_firing(matcher, text):
    assert [h for h in matcher.match_text(text) if h.category == "forbidden"] == []


def test_the_agent_quoting_themself_still_counts(matcher):
    assert found(matcher, "我说不知道") == {("forbidden", "不知道")}


def test_context_rules_stay_inside_their_clause(matcher):
    # 不知道，你到… : the comma ends the clause, so the exception 不知道你 does not apply.
    text = "对不起，让您就等了，这个我不知道，你到财务部门问问吧"
    assert {p for c, p in found(matcher, text) if c == "forbidden"} == {"不知道", "你到XX问问"}
    assert {p for c, p in found(matcher, "如果不行，我不知道") if c == "forbidden"} == {"不知道"}


def test_customer_speech_is_matched_and_labelled(matcher):
    hits = matcher.match_text("我不知道啊", speaker=Speaker.CUSTOMER)
    assert [(h.phrase, h.speaker) for h in hits] == [("不知道", Speaker.CUSTOMER)]


def test_patterns_fill_the_slot_into_the_suggestion(matcher):
    hits = matcher.match_text("这个你到财务部门问问吧")
    assert [(h.category, h.phrase, h.heard) for h in hits] == [("forbidden", "你到XX问问", "你到财务部门问问")]
    assert "财务部门" in hits[0].suggestion
    assert found(matcher, "您的问题我无法解决，找有关部门吧") >= {("forbidden", "找有关部门"),
                                                                ("forbidden", "您的问题我无法解决")}
    assert found(matcher, "如果你到财务部门问问就知道了") == set()


def test_fillers(matcher):
    assert found(matcher, "就这样喽") == {("filler", "喽")}
    assert found(matcher, "你干嘛") == set()


# --- times ------------------------------------------------------------------------------------

def test_hit_time_comes_from_the_words_it_covers(matcher):
    words = [Word(10.0, 10.4, "这个"), Word(10.4, 10.6, "我"), Word(10.6, 10.8, "也"), Word(10.8, 11.0, "不"),
             Word(11.0, 11.4, "知道")]
    hits = matcher.match([agent(10.0, 11.5, "这个我也不知道", words)])
    assert (hits[0].start, hits[0].end) == (10.8, 11.4)


def test_hit_time_falls_back_to_the_utterance_span(matcher):
    hits = matcher.match([agent(3.0, 5.0, "请您稍等")])
    assert (hits[0].start, hits[0].end) == (3.0, 5.0)


def test_hit_time_when_normalisation_changed_the_text_length(matcher):
    words = [Word(0.0, 0.5, "工号"), Word(0.5, 1.0, "12"), Word(1.0, 1.5, "请稍等")]
    hits = matcher.match([agent(0.0, 1.5, "工号一二请稍等", words)])
    assert [h.phrase for h in hits] == ["请稍等"] and 0.5 <= hits[0].start < hits[0].end <= 1.5


# --- the call script -----------------------------------------------------------------------------

GOOD_CALL = [
    agent(0.0, 4.0, "您好，工号1023，很高兴为您服务"),
    customer(4.5, 7.0, "你好，我查一下订单"),
    agent(7.5, 10.0, "好的王先生，请您稍等"),
    agent(18.0, 21.0, "让您就等了，您的订单已经发货"),
    customer(21.5, 23.0, "好的"),
    agent(23.5, 25.0, "请问还有什么可以帮您"),
    customer(25.5, 26.5, "没有了"),
    agent(27.0, 30.0, "感谢您的来电，再见"),
]
HOLD = Silence(10.0, 18.0, Speaker.AGENT)


def test_a_call_that_follows_the_script_passes_every_item(lexicon):
    checks = check_script(GOOD_CALL, lexicon, silences=[HOLD])
    assert [c.item for c in checks if not c.ok] == []
    assert len(checks) == 6
    opening = checks[0]
    assert opening.item == "开场问候并报工号" and "您好" in opening.detail and opening.start == 0.0


def test_missing_items_are_reported_with_hints(lexicon):
    call = [agent(0.0, 3.0, "喂，什么事"), agent(3.2, 4.0, "嗯"), customer(4.5, 8.0, "我查一下订单"),
            agent(16.0, 19.0, "订单已经发货了"), agent(19.5, 20.0, "拜拜")]
    checks = {c.item: c for c in check_script(call, lexicon, silences=[Silence(8.0, 16.0, Speaker.CUSTOMER)])}
    assert not any(c.ok for c in checks.values()) and len(checks) == 6
    assert "请您稍等" in checks["等待前先征询（请您稍等）"].detail and checks["等待前先征询（请您稍等）"].start == 8.0
    assert "0:08" in checks["等待后致歉（让您久等了）"].detail


def test_greeting_without_staff_number_is_not_enough(lexicon):
    call = [agent(0.0, 2.0, "您好，请问有什么可以帮您"), agent(3.0, 4.0, "再见")]
    checks = {c.item: c for c in check_script(call, lexicon)}
    assert checks["开场问候并报工号"].ok is False
    assert checks["标准结束语（感谢来电、再见）"].ok is True


@pytest.mark.parametrize("heard", ["您好，公好1023，很高兴为您服务", "您好，1023号为您服务", "您好，工号幺零二三"])
def test_staff_number_counts_as_whisper_writes_it(lexicon, heard):
    checks = {c.item: c for c in check_script([agent(0.0, 3.0, heard), agent(3.5, 4.0, "再见")], lexicon)}
    assert checks["开场问候并报工号"].ok is True, heard


def test_a_good_without_a_number_is_no_staff_number(lexicon):
    checks = {c.item: c for c in check_script([agent(0.0, 3.0, "您好，好的，很高兴为您服务")], lexicon)}
    assert checks["开场问候并报工号"].ok is False


def test_hold_items_are_omitted_when_nobody_waited(lexicon):
    checks = check_script(GOOD_CALL, lexicon, silences=[])
    assert len(checks) == 4 and all(c.ok for c in checks)


def test_customer_left_waiting_is_a_hold_even_without_the_agents_words(lexicon):
    call = [agent(0.0, 3.0, "您好，工号1023"), customer(3.5, 5.0, "我查订单"), agent(12.0, 14.0, "订单发货了")]
    checks = {c.item: c for c in check_script(call, lexicon, silences=[Silence(5.0, 12.0, Speaker.CUSTOMER)])}
    assert checks["等待前先征询（请您稍等）"].ok is False and checks["等待后致歉（让您久等了）"].ok is False


def test_hold_is_a_silence_announced_and_closed_even_through_asr_errors(lexicon):
    gap = Silence(2.0, 10.0, Speaker.AGENT)
    closed = [agent(0.0, 2.0, "好的，请收等"), agent(10.0, 12.0, "让您就等了")]  # 请稍等, 让您久等了 misheard
    assert mark_holds([gap], closed, lexicon)[0].hold
    unannounced = [agent(0.0, 2.0, "好的"), agent(10.0, 12.0, "让您久等了")]
    assert not mark_holds([gap], unannounced, lexicon)[0].hold
    unclosed = [agent(0.0, 2.0, "请您稍等"), agent(10.0, 12.0, "订单已经发货了")]
    assert not mark_holds([gap], unclosed, lexicon)[0].hold

"""The evaluation scorer (unit) and a small subset of the evaluation set run with the small model in CI
(floors that catch regressions in retrieval, language and refusals)."""

import json
from pathlib import Path


from bot.engine import Answer, is_summary_request
from bot.evaluation import answer_right, contains_any, gold_chunk, load_items, mentions_any, run_eval, summarize, summary_ok

EVAL_SET = Path(__file__).resolve().parent / "eval" / "eval_set.json"


def test_matching_ignores_arabic_spelling_variants_and_digits():
    assert contains_any("التقى الرئيسان في فلادِيفُوسْتُوك", ["فلاديفوستوك"])
    assert contains_any("زار خمسة مصانع", ["خمسه"])
    assert contains_any("في عام ٢٠١٩", ["2019"])
    assert contains_any("إلى فيتنام", ["الى فيتنام"])
    assert contains_any("على هامش المنتدى", ["علي"])
    assert contains_any("They met in VLADIVOSTOK.", ["Vladivostok"])
    assert contains_any("سيلتقيان في منتدى الاقتصادي الشرقي", ["المنتدى الاقتصادي الشرقي"]), "with or without «ال»"
    assert not contains_any("المنتدى الاقتصادي الغربي", ["المنتدى الاقتصادي الشرقي"])
    assert contains_any("It is also the allies' forum", ["also the allies"]), "Latin «al» is not an article"
    assert not contains_any("They met in Moscow.", ["Vladivostok", "فلاديفوستوك"])


def test_a_wrong_fact_beside_the_right_one_makes_the_answer_wrong():
    assert mentions_any("The summit was held in August/September 2019. [17]", ["2019"])
    assert mentions_any("عقدت في تموز الماضي", ["تموز"]) and mentions_any("وتموز", ["تموز"]), "«و» attached"
    assert not mentions_any("نتائج الانتخابات", ["آب"]), "whole words, not a substring"
    assert not mentions_any("in 20190", ["2019"])
    summit = Answer("The summit was held in August/September 2019. [17]", "en", "answer")
    assert not answer_right(summit, ["August"], ["2019", "July"])
    assert answer_right(Answer("It was held last August. [17]", "en", "answer"), ["August"], ["2019", "July"])
    assert not answer_right(Answer("I could not confirm ... «في أغسطس»", "en", "unconfirmed"), ["أغسطس"], [])
    quoted = Answer("July [3]\n«It was held last August.»", "en", "answer", short="July")
    assert not answer_right(quoted, ["August"], []), "the evidence sentence under a wrong answer does not count"


def test_summary_checks():
    item = {"lang": "en", "expected_facts": [["Putin"], ["Kim"], ["Vladivostok"]], "min_facts": 2, "max_words": 20}
    assert all(summary_ok(Answer("- Putin and Kim will meet.", "en", "summary"), item).values())
    assert not summary_ok(Answer("- Nothing relevant here.", "en", "summary"), item)["facts"]
    assert not summary_ok(Answer("word " * 30 + "Putin Kim", "en", "summary"), item)["length"]
    assert not summary_ok(Answer("- بوتين وكيم", "en", "summary"), item)["language"]


def test_summary_requests_are_recognised():
    assert is_summary_request("Summarise the article in three sentences.")
    assert is_summary_request("ما ملخص المقال؟")
    assert is_summary_request("لخّص المقال")
    assert not is_summary_request("Where are Putin and Kim expected to meet?")


def test_eval_set_is_complete_and_every_gold_passage_exists(engine):
    items = json.loads(EVAL_SET.read_text(encoding="utf-8"))
    assert len(items) >= 70
    kinds = {(i["type"], i["lang"]) for i in items}
    assert {("fact", "ar"), ("fact", "en"), ("refusal", "ar"), ("refusal", "en"), ("followup", "ar"),
            ("followup", "en"), ("summary", "ar"), ("summary", "en")} <= kinds
    for item in items:
        for turn in item.get("turns", [item]):
            if "gold" in turn:
                assert gold_chunk(engine, turn["gold"]) is not None, turn["gold"]
                assert not mentions_any(turn["gold"], turn.get("wrong", [])), "the gold passage's own words are right"
            assert not set(turn.get("wrong", [])) & set(turn.get("expected", [])), item["id"]


def test_small_model_subset_keeps_its_floor(engine):
    """Retrieval, language and refusal of questions outside the article's subject hold whatever the model.
    Questions on the article's subject that it does not answer ("How many missiles ...?") are refused only
    as far as the model is sure (neither bundled model separates them from answerable ones by its sentinel
    probability): the benchmark measures that, not a floor here."""
    items = load_items(EVAL_SET, {"fact", "refusal"})
    subset = items[::5] + [item for item in items if item.get("scope") == "off_topic"]
    results = run_eval(engine, subset)
    summary = summarize(results)
    assert summary["recall@5_ar"] >= 0.9
    assert summary["recall@5_en"] >= 0.8
    assert summary["answer_language_match"] >= 0.8
    off_topic = {item["id"] for item in subset if item.get("scope") == "off_topic"}
    assert len(off_topic) == 4 and all(r.correct for r in results if r.id in off_topic), "off-topic questions refused"


def test_follow_ups_are_counted_by_chain_and_by_turn():
    """A chain is right when its last turn is; the turn rate counts every turn of every chain."""
    from bot.evaluation import ItemResult

    def chain(turns: list[bool]) -> ItemResult:
        return ItemResult("c", "followup", "en", turns[-1], True, True, 1.0, "", {"turns_correct": turns})

    summary = summarize([chain([True, False, True]), chain([True, False])])
    assert summary["followup_accuracy"] == 0.5
    assert summary["followup_turn_accuracy"] == 0.6
    assert summarize([])["followup_turn_accuracy"] is None

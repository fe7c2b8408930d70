"""The answer stages on their own: the span constraint, understanding a question, the checks, the scores.
No model needed here except where a test says so."""

import numpy as np
import pytest

from bot.answer import checks
from bot.answer.align import best_span
from bot.answer.span_constraint import SpanConstraint, VocabIndex
from bot.answer.types import Answer, Kind, Turn
from bot.answer.understand import asks_for_summary, is_follow_up, understand
from bot.scoring import contains_gold, token_f1

# a toy byte vocabulary: single letters, a few words with and without a leading space, the stop token 0
PIECES = ["<stop>", "a", "b", "c", " ", "ab", " ab", " cab", "ca", "x", "NOT", "_IN"]
VOCAB = VocabIndex.build(len(PIECES), lambda t: b"" if t == 0 else PIECES[t].encode())


def run(constraint: SpanConstraint, choose) -> list[int]:
    """Decode with `choose(allowed) -> token` until the stop token; returns the tokens written."""
    written = []
    for _ in range(20):
        scores = np.zeros(len(PIECES), dtype=np.float32)
        kept = constraint(np.array([1, *written]), scores)
        allowed = [t for t in range(len(PIECES)) if np.isfinite(kept[t])]
        token = choose(allowed)
        if token == 0:
            return written
        written.append(token)
    raise AssertionError("no stop")


def test_a_constrained_answer_is_a_span_of_its_sources_starting_at_a_word():
    constraint = SpanConstraint(VOCAB, ["ab cab", "xx"], stop_ids=[0])
    first = constraint.allowed()
    assert 9 not in first or True  # "x" starts the second source
    assert set(first) >= {1, 5, 9}, "spans start at any word: 'a', 'ab', 'x'"
    assert 2 not in first, "'b' is inside a word"
    greedy_longest = run(constraint, lambda allowed: max(allowed, key=lambda t: (len(PIECES[t]) if t else -1)))
    assert "".join(PIECES[t] for t in greedy_longest) == "ab cab" == constraint.span


def test_a_span_ends_only_at_a_word_boundary_and_never_crosses_sources():
    constraint = SpanConstraint(VOCAB, ["ab cab", "ca"], stop_ids=[0])
    constraint.advance(1)  # "a"
    assert 0 not in constraint.allowed(), "'a' is half of the word 'ab'"
    constraint.advance(2)  # "b"
    assert 0 in constraint.allowed() and 7 in constraint.allowed()
    other = SpanConstraint(VOCAB, ["ab", "cab"], stop_ids=[0])
    other.advance(5)  # "ab" ends the first source
    assert other.allowed() == [0], "no span runs from one source into the next"


def test_an_alternative_is_written_whole():
    constraint = SpanConstraint(VOCAB, ["ab"], stop_ids=[0], alternatives=[[10, 11]])
    assert 10 in constraint.allowed()
    constraint.advance(10)
    assert constraint.allowed() == [11]
    constraint.advance(11)
    assert constraint.allowed() == [0] and constraint.alternative == [10, 11] and constraint.span == ""


def test_arabic_spans_are_matched_on_bytes():
    word = "سجل الهيئة"
    pieces = ["<stop>", "س", "جل", " الهيئة", " ال", "هيئة", "x"]
    vocab = VocabIndex.build(len(pieces), lambda t: b"" if t == 0 else pieces[t].encode())
    constraint = SpanConstraint(vocab, [f"يجب التسجيل في {word}، حالاً"], stop_ids=[0])
    for token in (1, 2, 3):
        assert token in constraint.allowed()
        constraint.advance(token)
    assert 0 in constraint.allowed(), "the Arabic comma ends a word"
    assert constraint.span == word


@pytest.mark.parametrize("question,follow", [
    ("and when?", True), ("When did he go there?", True), ("ومتى ذهب؟", True),
    ("What is the population of the largest city in the country?", False),
    ("ما هو عدد سكان أكبر مدينة في البلاد الواقعة شمال القارة؟", False),
])
def test_follow_ups_are_told_from_questions_that_stand_alone(question, follow):
    assert is_follow_up(question) is follow


def test_a_follow_up_is_searched_with_the_previous_question():
    history = [Turn("Who founded the company in 1998?", "Jane [2]", "en", [1])]
    query = understand("And where did she live?", history, 6)
    assert query.search_text == "Who founded the company in 1998? And where did she live?"
    alone = understand("Where was the company founded in the first place by the owners?", history, 6)
    assert alone.search_text == alone.question


@pytest.mark.parametrize("text,kind", [("", Kind.EMPTY), ("\u200f ", Kind.EMPTY), ("Où est-il ?", Kind.UNSUPPORTED),
                                       ("Что случилось?", Kind.UNSUPPORTED)])
def test_nothing_to_look_up_is_answered_at_once(text, kind):
    answer = understand(text, [], 6)
    assert isinstance(answer, Answer) and answer.kind == kind


@pytest.mark.parametrize("text,summary", [("Summarise the article", True), ("ما ملخص المقال؟", True),
                                          ("لخّص المقال", True), ("tl;dr", True),
                                          ("Who wrote the summary of the report that the minister cited at the meeting last week?", False),
                                          ("Where did they meet?", False)])
def test_summary_requests(text, summary):
    assert asks_for_summary(text) is summary


def test_numbers_check_reads_digits_arabic_digits_and_number_words():
    assert checks.numbers_kept("They visited 5 factories in 2019.", "زار خمسة مصانع عام ٢٠١٩").ok
    failed = checks.numbers_kept("They visited 6 factories.", "زار خمسة مصانع")
    assert not failed.ok and failed.check == "numbers_not_in_source" and failed.detail == "6"


def test_a_quote_check_folds_spelling_and_spacing():
    assert checks.quoted("الهيئه  الصيدلية", ["سجل الهيئة الصيدلية العامة"]).ok
    assert not checks.quoted("الهيئة الطبية", ["سجل الهيئة الصيدلية العامة"]).ok


def test_scores_follow_squad_with_arabic_forms():
    assert contains_gold("بسجل الهيئة الصيدلية العامة [3]", "سجل الهيئة الصيدلية العامة")
    assert not contains_gold("الهيئة العامة", "سجل الهيئة الصيدلية العامة")
    assert token_f1("The other senior pharmacy technicians. More text.", "other senior pharmacy technicians") == 1.0
    assert token_f1("1953 [2]\n«The war ended in 1953.»", "1953") == 1.0, "only the first line is scored"
    assert 0 < token_f1("senior staff", "other senior pharmacy technicians") < 1


def test_an_alternative_needs_the_models_confidence_at_the_first_position():
    """The refusal sentinel may be written only where the model gives its first token the set probability."""
    sure = np.full(len(PIECES), -10.0, dtype=np.float32)
    sure[10] = 10.0  # "NOT" is all but certain
    unsure = np.zeros(len(PIECES), dtype=np.float32)  # every token alike
    for scores, allowed in ((sure, True), (unsure, False)):
        constraint = SpanConstraint(VOCAB, ["ab"], stop_ids=[0], alternatives=[[10, 11]],
                                    min_alternative_probability=0.9)
        kept = constraint(np.array([1]), scores.copy())
        assert bool(np.isfinite(kept[10])) is allowed
        assert np.isfinite(kept[5]), "the span stays open either way"
    assert constraint.alternative_probability == pytest.approx(1 / len(PIECES))


def test_a_draft_is_aligned_onto_the_closest_span_of_the_article_words():
    sentences = ["افتتحت البلدية الجسر الجديد في ربيع عام 2015، بعد أربع سنوات من الأشغال.",
                 "وصمّم الجسرَ المهندس المعماري سامي حداد، وهو أطول جسر في المنطقة."]
    span = best_span("صمم الجسر المهندس سامي حداد", sentences)
    assert span is not None and span.source == 1
    assert span.text == "وصمّم الجسرَ المهندس المعماري سامي حداد", "whole words of the sentence, its own spelling"
    shorter = best_span("اربع سنوات", sentences)
    assert shorter is not None and shorter.text == "أربع سنوات" and shorter.score == 1.0
    # a letter spelt otherwise (a hamza seat) still aligns; the span's own punctuation is trimmed
    assert best_span("الاشغال", sentences).text == "الأشغال"


def test_a_draft_sharing_no_word_with_the_article_has_no_span():
    assert best_span("30 مليون دولار", ["افتتحت البلدية الجسر الجديد في ربيع عام 2015."]) is None
    assert best_span("", ["any sentence"]) is None

"""Follow-up questions made to stand alone: for the search, and with the person named for the sentence look."""

from bot.engine import Turn
from bot.follow_ups import (is_follow_up, standalone_query, the_place_named, with_the_person_named,
                             with_the_place_named)

NAMES = (("فوميو كيشيدا", "Fumio Kishida"), ("كيشيدا", "Kishida"), ("جون كيربي", "John Kirby"),
         ("مجلس الأمن القومي", "the National Security Council"), ("كامب ديفيد", "Camp David"),
         ("يون سوك يول", "Yoon Suk Yeol"))
KISHIDA = Turn("Who is the Japanese prime minister mentioned in the article?", "Fumio Kishida [17]", "en", [16])


def test_follow_up_detection_and_standalone_query():
    history = [Turn("Who visited Pyongyang in July?", "Shoigu [7].", "en", [6])]
    assert is_follow_up("and when did he go there?")
    assert is_follow_up("ومتى ذهب إلى هناك؟")
    assert not is_follow_up("What did the United States do at the Camp David summit with Japan?")
    assert standalone_query("and when did he go there?", history) == "Who visited Pyongyang in July? and when did he go there?"
    assert standalone_query("and when did he go there?", []) == "and when did he go there?"


def test_he_is_the_one_person_the_previous_who_question_was_answered_with():
    """"Kishida" inside "Fumio Kishida" is one name, not two; "his" becomes a possessive."""
    assert with_the_person_named("Where did the US summon him?", [KISHIDA], NAMES) == \
        "Where did the US summon Fumio Kishida?"
    assert with_the_person_named("What did he say at his summit?", [KISHIDA], NAMES) == \
        "What did Fumio Kishida say at Fumio Kishida's summit?"
    # the answer names two: the one the question asked about is the person
    kirby = Turn("Who is John Kirby?", "John Kirby is a member of the National Security Council. [19]", "en", [18])
    assert with_the_person_named("What did he claim about Putin and Kim?", [kirby], NAMES) == \
        "What did John Kirby claim about Putin and Kim?"


def test_the_question_stays_as_it_is_when_the_person_is_not_known():
    assert with_the_person_named("Where did the US summon him?", [], NAMES) == "Where did the US summon him?"
    # no pronoun for a person ("they", "there", "her" are not replaced)
    assert with_the_person_named("And what did they agree to there?", [KISHIDA], NAMES) == \
        "And what did they agree to there?"
    assert with_the_person_named("Where did the US invite her?", [KISHIDA], NAMES) == "Where did the US invite her?"
    # the previous question did not ask who: "Camp David" is no person
    where = Turn("Where did the US summon Kishida?", "Camp David [17]", "en", [16])
    assert with_the_person_named("When did he go there?", [where], NAMES) == "When did he go there?"
    # two people in the answer, neither asked about
    two = Turn("Who was at the summit?", "Fumio Kishida and Yoon Suk Yeol [17]", "en", [16])
    assert with_the_person_named("What did he sign?", [two], NAMES) == "What did he sign?"
    # an Arabic previous question asking who is recognised too, and no listed name means no change
    arabic = Turn("من هو رئيس وزراء اليابان؟", "فوميو كيشيدا [17]", "ar", [16])
    assert with_the_person_named("Where did the US summon him?", [arabic], NAMES) == \
        "Where did the US summon Fumio Kishida?"
    assert with_the_person_named("Where did the US summon him?", [KISHIDA], ()) == "Where did the US summon him?"


def test_there_is_the_one_place_the_previous_where_question_was_answered_with():
    where = Turn("Where did the US summon him?", "Camp David [17]", "en", [16])
    assert the_place_named("And what did they agree to there?", [where], NAMES) == ("كامب ديفيد", "Camp David")
    assert the_place_named("وماذا اتفقوا هناك؟", [where], NAMES) == ("كامب ديفيد", "Camp David")
    assert the_place_named("And what did they agree to?", [where], NAMES) is None  # no "there"
    assert the_place_named("Who was there?", [KISHIDA], NAMES) is None  # the previous question asked who
    two = Turn("Where did they meet?", "In Camp David, with Fumio Kishida [17]", "en", [16])
    assert the_place_named("Who was there?", [two], NAMES) is None  # two names: which one is the place?
    assert the_place_named("Who was there?", [], NAMES) is None


def test_there_is_replaced_by_the_place_in_the_question_asked_of_the_sentences():
    camp_david = ("كامب ديفيد", "Camp David")
    assert with_the_place_named("And what did they agree to there?", camp_david, "en") == \
        "And what did they agree to at Camp David?"
    assert with_the_place_named("وماذا اتفقوا عليه هناك؟", camp_david, "ar") == "وماذا اتفقوا عليه في كامب ديفيد؟"
    assert with_the_place_named("Is there a treaty?", None, "en") == "Is there a treaty?"  # no place known

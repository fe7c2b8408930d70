import pytest

from bot.faithfulness import unsupported_numbers

ARTICLE = "قبل أربع سنوات (2019)، زار ٥ مصانع في يوليو/ تموز الماضي."


def test_numbers_absent_from_the_article_are_flagged():
    assert unsupported_numbers("They met in 2019 [2].", ARTICLE) == set()
    assert unsupported_numbers("He visited 5 factories.", ARTICLE) == set()
    assert unsupported_numbers("On July 20/21, 2019.", ARTICLE) == {"20", "21"}
    assert unsupported_numbers("عدد السكان ٢٥ مليون", ARTICLE) == {"25"}


def test_english_names_outside_the_names_list_are_flagged():
    from bot.faithfulness import unsupported_names

    names = ["Vladimir Putin", "Kim Jong Un", "Vladivostok", "the Eastern Economic Forum", "Sergei Shoigu",
             "Pyongyang", "Russia"]
    ok = ["The two leaders will meet at the Eastern Economic Forum in Vladivostok, Russia. [2]",
          "According to the article, Sergei Shoigu, the Russian Defence Minister, visited Pyongyang in July.",
          "Kim's train might arrive on Monday.", "- Putin and Kim met in Vladivostok."]
    for answer in ok:
        assert unsupported_names(answer, names, "Where will they meet?") == set(), answer
    assert unsupported_names("They meet in Fladofostok on Sunday.", names, "Where?") == {"Fladofostok"}
    assert unsupported_names("Kim met Donald Trump there.", names, "Where?") == {"Donald", "Trump"}
    assert unsupported_names("Adrian Watson said so.", names, "What did Adrian Watson say?") == set(), \
        "names the user wrote are the user's"


def test_long_answer_sharing_no_content_word_with_the_question_is_flagged():
    from bot.faithfulness import off_question

    copied = "في المقابل، يمكن أن تتوسع موسكو في تصدير الحبوب والنفط والتكنولوجيا العسكرية المتقدمة إلى بيونغ يانغ"
    assert off_question(copied, "كم جندياً يملك الجيش الكوري الشمالي؟")
    assert not off_question(copied, "ماذا يمكن أن تصدر موسكو إلى بيونغ يانغ؟")
    assert not off_question("فلاديفوستوك. [2]", "أين يتوقع أن يلتقي بوتين وكيم؟"), "short answers are never flagged"
    assert not off_question("The two leaders will meet at the Eastern Economic Forum in Vladivostok, in the far east.",
                            "At which forum will the two leaders meet?")


def test_sharing_only_the_articles_topic_words_does_not_tie_an_answer_to_the_question(engine):
    """The Camp David sentence shares only «كوريا» with a question about Shoigu's companion: «كوريا» is in
    a third of the passages, so it says nothing; the right answer shares «شويغو» and passes."""
    from bot.faithfulness import common_words, off_question

    common = common_words([c.text for c in engine.index.chunks])
    assert {"كوريا", "روسي"} <= common and "شويغو" not in common and "كريفوروتشكو" not in common
    question = "من رافق شويغو في زيارته إلى كوريا؟"
    camp_david = ("وكانت الولايات المتحدة قد استدعت في أغسطس/ آب الماضي كلاً من رئيس وزراء اليابان فوميو كيشيدا، "
                  "ورئيس كوريا الجنوبية يون سوك يول إلى قمة ثلاثية في منتجع كامب ديفيد")
    right = "رافق شويغو في زيارته الجنرال أليكسي كريفوروتشكو، نائب وزير الدفاع الروسي المسؤول عن المشتريات العسكرية."
    assert not off_question(camp_david, question), "without the article's topic words «كوريا» counts"
    assert off_question(camp_david, question, common)
    assert not off_question(right, question, common)
    assert common_words(["كوريا", "كوريا"]) == frozenset(), "too few passages to tell topic words"


def test_sharing_only_listed_names_can_count_as_sharing_nothing(engine):
    """A second look's answer about the 2019 meeting shares only «بوتين» and «وكيم» with a question about a
    treaty the article never mentions; with the names' word forms counted as saying nothing, it is off the
    question. A name written with a conjunction or preposition («وكيم», «لبوتين») is still the name."""
    from bot.faithfulness import name_words, off_question

    names = name_words(engine.article.names)
    assert {"بوتين", "وكيم", "لبوتين", "putin", "shoigu"} <= names and "معاهده" not in names
    question = "في أي تاريخ سيوقع بوتين وكيم معاهدة؟"
    met_before = "في عام 2019، عندما التقى بوتين وكيم سابقاً في مدينة فلاديفوستوك أيضاً قبل أربع سنوات (2019). [9]"
    assert not off_question(met_before, question), "the names alone tie it to the question"
    assert off_question(met_before, question, names)
    assert not off_question(met_before, "متى التقى بوتين وكيم سابقاً؟", names), "«التقى» is what was asked"


def test_english_answer_pasting_arabic_text_is_caught():
    from bot.faithfulness import copied_arabic_run

    pasted = ('North Korea has a large army. The passage states: "وكان الرئيسان بوتين وكيم قد التقيا سابقاً '
              'في مدينة فلاديفوستوك"')
    assert copied_arabic_run(pasted)
    assert not copied_arabic_run("They meet in Vladivostok (فلاديفوستوك) on Monday. [2]"), "a name in Arabic is fine"
    assert not copied_arabic_run("Sergei Shoigu (سيرغي شويغو) visited Pyongyang.")


def test_numbered_list_markers_are_not_claimed_numbers():
    from bot.faithfulness import unsupported_numbers

    article = "زار كيم خمسة مصانع عام 2019."
    assert unsupported_numbers("التقنيات:\n1. أقمار الاستطلاع\n2. الغواصات\n3. الطائرات", article) == set()
    assert unsupported_numbers("1. He came on July 20, 2019", article) == {"20"}, "numbers inside items count"


def test_question_words_match_across_attached_pronouns():
    from bot.faithfulness import off_question

    answer = ('في ختام زيارته تلك "بتعزيز التعاون" بين البلدين، كما صرّح الأسبوع الماضي بأن موسكو تدرس ضمّ كوريا '
              'الديمقراطيّة إلى مناورات بحريّة مشتركة مع الصين. [8]')
    assert not off_question(answer, "وبماذا تعهد في ختامها؟"), "ختامها and ختام are the same word"


def test_an_unrelated_copied_opening_sentence_is_dropped():
    from bot.faithfulness import without_off_question_opening

    opener = ("في المقابل، يمكن أن تتوسع موسكو في تصدير الحبوب والنفط والتكنولوجيا العسكرية المتقدمة إلى بيونغ يانغ، "
              "فضلاً عن إمكانية الدّفع لها بالعملات الصعبة.")
    answer = "ودشن كيم غواصة قادرة على إطلاق صواريخ محملة برؤوس نووية. [4]"
    question = "ما الذي دشنه كيم خلال جولته على المصانع؟"
    assert without_off_question_opening(f"{opener}\n{answer}", question) == answer
    assert without_off_question_opening(answer, question) == answer, "one sentence: nothing to drop"
    unrelated = "وكانت الولايات المتحدة قد استدعت رئيس وزراء اليابان إلى قمة ثلاثية في منتجع كامب ديفيد."
    assert without_off_question_opening(f"{opener}\n{unrelated}", question) == f"{opener}\n{unrelated}", \
        "kept whole when the rest is off the question too (the off-question check then decides)"


def test_short_answers_made_of_article_words_are_recognised():
    from bot.faithfulness import content_words, short_answer_from_article

    vocabulary = content_words("التقى كيم دونالد ترامب في فيتنام Donald Trump")
    assert short_answer_from_article("Donald Trump [6]", vocabulary)
    assert short_answer_from_article("فيتنام.", vocabulary)
    assert not short_answer_from_article("Emmanuel Macron.", vocabulary), "words the article lacks"
    assert not short_answer_from_article("Kim met Donald Trump in Vietnam.", vocabulary), "longer than three words"


def test_a_count_question_needs_a_number_in_its_answer():
    from bot.faithfulness import count_without_number

    assert count_without_number("هذه المعلومات تشير إلى أن كوريا شحنت صواريخ إلى فاغنر. [16]", "كم صاروخاً شحنت كوريا إلى فاغنر؟")
    assert not count_without_number("زار كيم خمسة مصانع. [4]", "كم مصنعاً زار كيم؟")
    assert not count_without_number("زار كيم 5 مصانع.", "كم مصنعاً زار كيم؟")
    assert not count_without_number("He visited five factories.", "How many factories did Kim visit?")
    assert count_without_number("He visited several factories.", "How many factories did Kim visit?")
    assert not count_without_number("في فلاديفوستوك.", "أين يلتقيان؟"), "only count questions"
    monday = "وقد يصل القطار الرئاسي إلى فلاديفوستوك يوم الإثنين أو الثلاثاء. [6]"
    assert count_without_number(monday, "كم مصنعاً زار كيم؟"), "Monday («الإثنين») is not two («اثنين»)"
    assert count_without_number("وصل في الاثنين.", "كم مصنعاً زار كيم؟")
    assert not count_without_number("زار اثنين من المصانع.", "كم مصنعاً زار كيم؟")


def test_a_follow_up_answer_that_only_says_the_previous_answer_again_is_caught():
    from bot.faithfulness import repeats_the_previous_answer

    shoigu = "وزير الدفاع الروسي الذي زار كوريا هو سيرغي شويغو. [8][7]"
    assert repeats_the_previous_answer(shoigu, shoigu)
    assert repeats_the_previous_answer("وزير الدفاع الروسي الذي زار كوريا هو شويغو.", shoigu), "near copies too"
    assert not repeats_the_previous_answer("رافقه الجنرال أليكسي كريفوروتشكو. [8]", shoigu)
    assert not repeats_the_previous_answer("Camp David [17]", "Camp David [17]"), "a short answer may be said again"
    quoted = ("I could not confirm an answer to that from the article, so I will not guess. The closest the article "
              "comes, in its own words (passage [19]):\n«حثّه الجانب الكوري على وقف مفاوضات الأسلحة مع روسيا.»")
    assert not repeats_the_previous_answer("حثّه الجانب الكوري على وقف مفاوضات الأسلحة مع روسيا. [19]", quoted), \
        "the refusal's own words are not the answer's"
    summary = ("- كيم سيلتقي بوتين في فلاديفوستوك. [3]\n- زار شويغو بيونغ يانغ في يوليو. [7]\n"
               "- عقدت قمة ثلاثية في كامب ديفيد في أغسطس. [17]")
    assert not repeats_the_previous_answer("زار شويغو بيونغ يانغ في يوليو. [7]", summary), "one line of a summary"


def test_unconfirmed_reason_names_the_failing_check():
    from bot.faithfulness import content_words, unconfirmed_reason

    article = "التقى كيم دونالد ترامب في فيتنام عام 2019 وزار خمسة مصانع."
    names = [("كيم جونغ أون", "Kim Jong Un"), ("دونالد ترامب", "Donald Trump"), ("فيتنام", "Vietnam")]
    vocabulary = content_words(article + " " + " ".join(english for _, english in names))

    def reason(answer: str, question: str, lang: str = "en", support: float = 0.6) -> str | None:
        return unconfirmed_reason(answer, lang, question, article, names, support, 0.30, vocabulary)

    assert reason("Kim met Donald Trump in Vietnam in 2019.", "Whom did Kim meet in Vietnam?") is None
    assert reason("Kim met Donald Trump in 2018.", "Whom did Kim meet?").startswith("numbers_not_in_article")
    assert reason("Kim met Emmanuel Macron.", "Whom did Kim meet?").startswith("names_not_in_article")
    assert reason("He visited several factories.", "How many factories did Kim visit?") == \
        "no_number_for_a_count_question"
    assert reason("Kim met Donald Trump in Vietnam.", "Whom did Kim meet?", support=0.2).startswith("weak_support")
    assert reason("Donald Trump", "Whom did Kim meet in Vietnam?", support=0.2) is None, "short, from the article"


def test_a_follow_up_is_a_count_question_only_when_it_asks_one():
    from bot.faithfulness import unconfirmed_reason

    article = "زار كيم خمسة مصانع تنتج الصواريخ والدرونات."
    answer = "مصانع تنتج الصواريخ والدرونات. [4]"
    searched = "كم مصنعاً زار كيم؟ وماذا تنتج هذه المصانع؟"  # the previous question rides along
    assert unconfirmed_reason(answer, "ar", searched, article, [], 0.6, 0.3, set(),
                              asked="وماذا تنتج هذه المصانع؟") is None


def test_listed_names_glued_into_an_unlisted_one_are_flagged():
    from bot.faithfulness import unlisted_name_runs

    names = ["Vladimir Putin", "Kim Jong Un", "Kim", "Sergei Shoigu", "Shoigu", "Moon Jae-in", "Donald Trump",
             "the Eastern Economic Forum", "Vladivostok", "South Korea", "Yoon Suk Yeol"]
    ok = ["President Kim Jong Un met Vladimir Putin in Vladivostok.", "Moon Jae-in and Donald Trump met Kim.",
          "South Korea's President Yoon Suk Yeol attended.", "At the Eastern Economic Forum, Putin spoke.",
          "Kim Jong Un's train arrived; Shoigu, Kim and Putin met. [3]"]
    for answer in ok:
        assert unlisted_name_runs(answer, names, "Who?") == set(), answer
    assert unlisted_name_runs("The submarine is the Kim Shoigu. [7]", names, "What is it called?") == {"Kim Shoigu"}
    assert unlisted_name_runs("Donald Putin said so.", names, "Who?") == {"Donald Putin"}
    assert unlisted_name_runs("Ivan Petrov said so.", names, "What did Ivan Petrov say?") == set(), "the user's"


def test_a_name_question_needs_a_name_the_question_does_not_already_hold():
    from bot.faithfulness import name_question_without_a_name

    listed = ["كيم", "Kim", "فاغنر", "Wagner", "كامب ديفيد", "Camp David"]
    question_ar, question_en = "ما اسم الغواصة التي دشنها كيم؟", "What is the name of the submarine Kim launched?"
    assert name_question_without_a_name("غواصة قادرة على إطلاق صواريخ نووية دشنها كيم. [5]", question_ar, listed)
    assert name_question_without_a_name("It can launch nuclear missiles, Kim said.", question_en, listed)
    assert not name_question_without_a_name("اسمها كامب ديفيد. [5]", question_ar, listed)
    assert not name_question_without_a_name("It is called Wagner.", question_en, listed)
    assert not name_question_without_a_name("غواصة نووية.", "ماذا دشن كيم؟", listed), "not a name question"
    assert not name_question_without_a_name("غواصة نووية.", question_ar, []), "no names list: nothing to judge by"


def test_an_answer_that_only_repeats_the_question_is_flagged():
    from bot.faithfulness import only_repeats_the_question

    assert only_repeats_the_question("فيتنام. [6]", "من التقى كيم في فيتنام عام 2019؟")
    assert only_repeats_the_question("Kim, in Vietnam.", "Whom did Kim meet in Vietnam?")
    assert not only_repeats_the_question("دونالد ترامب. [6]", "من التقى كيم في فيتنام عام 2019؟")
    assert only_repeats_the_question("الصواريخ الجديدة يمكن أن تحملها صواريخ الغواصة الجديدة. [5]",
                                     "ما نوع الرؤوس التي يمكن أن تحملها صواريخ الغواصة الجديدة؟"), "«ال» on a word"
    assert not only_repeats_the_question("صواريخ برؤوس نووية. [4]",
                                         "ما نوع الرؤوس التي يمكن أن تحملها صواريخ الغواصة الجديدة؟")
    assert not only_repeats_the_question("Putin.", "Who spoke first, Putin or Kim?"), "a choice is answered from it"
    assert not only_repeats_the_question("[6]", "Whom did Kim meet?"), "no words: other checks decide"


def test_a_listed_name_must_come_from_the_retrieved_passages_or_the_question():
    from bot.faithfulness import names_outside_sources, unconfirmed_reason

    names = [("فلاديفوستوك", "Vladivostok"), ("سيئول", "Seoul"), ("بوتين", "Putin"), ("كيم", "Kim"),
             ("مجلس الأمن القومي", "the National Security Council")]
    passages = "يلتقي بوتين وكيم في فلاديفوستوك."
    question = "Where will Putin and Kim meet?"
    assert names_outside_sources("Putin and Kim meet in Vladivostok. [2]", names, passages, question) == set()
    assert names_outside_sources("Putin and Kim meet in Seoul. [2]", names, passages, question) == {"Seoul"}
    assert names_outside_sources("هو عضو في مجلس الأمن القومي.", names, passages, "ما منصبه؟") == \
        {"the National Security Council"}
    assert names_outside_sources("They meet in Seoul.", names, passages, "Why not in Seoul?") == set(), "asked"

    article = passages + " سيئول"
    reason = unconfirmed_reason("Putin and Kim meet in Seoul.", "en", question, article, names, 0.6, 0.3, set(),
                                sources=passages)
    assert reason == "names_not_in_the_passages names=['Seoul']"
    assert unconfirmed_reason("Putin and Kim meet in Seoul.", "en", question, article, names, 0.6, 0.3,
                              set()) is None, "no passages given: not checked"


def test_a_full_name_counts_as_present_where_its_listed_short_form_is():
    from bot.faithfulness import names_outside_sources

    names = [("سيرغي شويغو", "Sergei Shoigu"), ("شويغو", "Shoigu"), ("كيم جونغ أون", "Kim Jong Un"), ("كيم", "Kim"),
             ("كوريا الجنوبية", "South Korea")]
    passages = "وقال شويغو إن كيم سيزور روسيا."
    assert names_outside_sources("Sergei Shoigu went with him.", names, passages, "Who went?") == set()
    assert names_outside_sources("Kim Jong Un went.", names, passages, "Who went?") == set()
    assert names_outside_sources("سيرغي شويغو رافقه.", names, passages, "من رافقه؟") == set()
    # a longer name is not present where only a name sharing one of its words is
    assert names_outside_sources("He went to South Korea.", names, "زار كوريا الشمالية", "Where?") == {"South Korea"}
    assert names_outside_sources("Shoigu went.", names, "زار سيرغي لافروف", "Who?") == {"Shoigu"}


def test_lasting_reason_fires_only_for_what_more_text_cannot_undo():
    from bot.faithfulness import _names_reason, lasting_reason

    article = "التقى بوتين وكيم في فلاديفوستوك عام 2019 على هامش المنتدى."
    names = [("فلاديفوستوك", "Vladivostok"), ("بوتين", "Putin"), ("كيم", "Kim"), ("سيول", "Seoul")]
    sources = "التقى بوتين وكيم في فلاديفوستوك"
    assert lasting_reason("They met in 2019 in Vladivostok.", "en", "When?", article, names, sources) is None
    assert lasting_reason("They met in 1999.", "en", "When?", article, names, sources).startswith("numbers_not_in_article")
    assert _names_reason("They met in 1999.", "en", "When?", names, sources) is None, "only the number is wrong"
    assert lasting_reason("They met in Fladivostok.", "en", "Where?", article, names, sources) \
        == "names_not_in_article names=['Fladivostok']"
    assert lasting_reason("They met in Seoul.", "en", "Where?", article, names, sources) \
        == "names_not_in_the_passages names=['Seoul']"
    assert lasting_reason("التقيا في سيول.", "ar", "أين؟", article, names, sources).startswith("names_not_in_the_passages")
    assert lasting_reason("The answer is not given.", "en", "How many?", article, names, sources) is None, \
        "a count question without a number may still get one: not a lasting reason"


def test_a_date_joined_from_parts_the_article_writes_apart_is_unsupported():
    from bot.faithfulness import dates_in, invented_numbers_reason, unsupported_dates
    article = "توقفت الحرب عام 1953. وعقدت القمة في أغسطس/ آب الماضي. وفي تموز 2019 زار الوزير المدينة."
    assert dates_in("The summit was held in August/September 2019.") == {(8, "2019")}
    assert dates_in("عقدت في أغسطس/ آب عام 2023") == {(8, "2023")}, "Arabic month names, «عام» between"
    assert dates_in("Kim may visit Russia in 2019") == set(), "English «may» is the verb"
    assert dates_in("The summit was on August 1, 2019.") == {(8, "2019")}, "a day between month and year"
    assert dates_in("held on August 20/21, 2023") == {(8, "2023")}
    assert dates_in("In July, Shoigu visited Pyongyang; they met in 2019") == set(), "too far apart to be one date"
    assert unsupported_dates("The ceasefire came in August 1953. [14]", article) == {"08/1953"}
    assert unsupported_dates("The minister visited in July 2019.", article) == set(), "the article writes it"
    assert unsupported_dates("The war stopped in 1953; the summit was in August.", article) == set()
    assert invented_numbers_reason("The ceasefire came in August 1953.", article) == "dates_not_in_article dates=['08/1953']"
    assert invented_numbers_reason("It came in 1954.", article).startswith("numbers_not_in_article"), "numbers first"


def test_an_answer_copied_from_part_of_a_sentence_on_the_question_is_on_it(engine):
    """«من رافق شويغو ...» answered with the name and title only: the answer shares no word with the question,
    but the article sentence it is cut from («... أن شويغو اصطحب معه إلى هذه الزيارة الجنرال ...») does. The
    sentence that most rejected Arabic answers copied shares none, so it stays off the question."""
    from bot.faithfulness import copies_the_article, enclosing_sentence, off_question

    article = engine.article.text
    question = "من رافق شويغو في زيارته إلى كوريا؟"
    title = "أليكسي كريفوروتشكو، نائب وزير الدفاع الروسي المسؤول عن المشتريات العسكرية. [8]"
    attractor = ("في المقابل، يمكن أن تتوسع موسكو في تصدير الحبوب والنفط والتكنولوجيا العسكرية المتقدمة إلى بيونغ "
                 "يانغ، فضلاً عن إمكانية الدّفع لها بالعملات الصعبة. [12]")
    assert "شويغو اصطحب معه" in (enclosing_sentence(title, article) or "")
    assert off_question(title, question), "without the article, the answer alone decides"
    assert not off_question(title, question, article_text=article)
    assert off_question(attractor, question, article_text=article)
    assert enclosing_sentence("أليكسي كريفوروتشكو، نائب وزير الدفاع الياباني", article) is None
    assert copies_the_article(attractor, article) and not copies_the_article("The US held a summit there.", article)


def test_numbers_written_as_words_count_as_written():
    """«خمسة مصانع» is the "5 factories" of an English answer; «الاثنين» (Monday) and «العشرين» (twentieth)
    are not numbers."""
    from bot.faithfulness import written_numbers

    assert written_numbers("شملت خمسة مصانع قبل أربع سنوات (2019)") == {"5", "4", "2019"}
    assert written_numbers("يوم الاثنين في القرن العشرين") == set()
    assert unsupported_numbers("Kim visited 5 factories.", "شملت خمسة مصانع") == set()
    assert unsupported_numbers("4", "شحنت أسلحة إلى فاغنر") == {"4"}


@pytest.mark.parametrize("answer,question,flagged", [
    ("أقصى شرق روسيا", "في أي تاريخ سيوقع بوتين وكيم معاهدة؟", True),
    ("أقصى شرق روسيا [2]", "متى سيجتمع بوتين وكيم؟", True),
    ("Vladivostok", "When will they meet?", True),
    ("على هامش المنتدى الاقتصادي الشرقي", "متى سيجتمع بوتين وكيم؟", False),
    ("يوم الإثنين أو الثلاثاء", "ومتى يصل القطار؟", False),
    ("في أغسطس/ آب الماضي", "ومتى عقدت؟", False),
    ("They met in 2019.", "When did they meet before?", False),
    ("last August", "What date was the summit?", False),
    ("Vladivostok", "Where will they meet?", False),
])
def test_a_when_question_needs_a_time_in_its_answer(answer, question, flagged):
    from bot.faithfulness import when_without_a_time

    assert when_without_a_time(answer, question) is flagged


def test_words_outside_lists_the_arabic_words_the_text_never_writes():
    """An answer read off quoted sentences must be made of their words, in any of their forms."""
    from bot.faithfulness import words_outside

    sentence = "وقد يصل القطار الرئاسي للزعيم كيم إلى فلاديفوستوك يوم الإثنين"
    assert words_outside("القطار الرئاسي [6]", sentence) == set()
    assert words_outside("بالقطار الرئاسي.", sentence) == set()  # an attached letter
    assert words_outside("سيصل كيم إلى فلاديفوستوك عبر طوكيو.", sentence) == {"طوكيو"}  # «يصل», «عبر» a link
    assert words_outside("السافر عبر القطار الرئاسي.", f"{sentence} بأي وسيلة سيسافر كيم؟") == set()
    assert words_outside("بالطائرة", sentence) == {"بالطائرة"}
    assert words_outside("Kim's train", sentence) == set()  # English words are not judged against Arabic


def test_a_decimal_is_not_supported_by_a_number_word_for_its_whole_part():
    """«أسبوع واحد» writes 1; "1.2 billion dollars" (an invented GDP) is still not in the article."""
    text = "خلال أسبوع واحد عام 2019"
    assert unsupported_numbers("GDP is 1.2 billion dollars.", text) == {"1.2"}
    assert unsupported_numbers("In 2019.5 terms", text) == set()
    assert unsupported_numbers("1 week", text) == set()


def test_a_month_the_article_never_names_is_unsupported():
    """«أغسطس/ آب» is August twice; "August/September" invents a month."""
    from bot.faithfulness import invented_numbers_reason, unsupported_months

    article = "استدعت في أغسطس/ آب الماضي كلاً من ... وزار في يوليو/ تموز الماضي"
    assert unsupported_months("August/September [17]", article) == {"september"}
    assert unsupported_months("في أغسطس/ آب الماضي، ثم في تموز", article) == set()
    assert unsupported_months("Last August; they may meet again.", article) == set()  # "may" is not May
    assert invented_numbers_reason("In October.", article) == "months_not_in_article months=['october']"


def test_a_figure_beside_money_or_a_magnitude_needs_the_articles_digits():
    """The article's «أسبوع واحد» and «خمسة مصانع» support "1 week" and "5 factories", not "$1. 5 billion"."""
    text = "خلال أسبوع واحد زار خمسة مصانع"
    assert unsupported_numbers("Russia will pay $1. 5 billion.", text) == {"1", "5"}
    assert unsupported_numbers("5 factories in 1 week [3]", text) == set()
    assert unsupported_numbers("بقيمة 5 مليار دولار", text) == {"5"}
    assert unsupported_numbers("زار 5 مصانع قبل قمة التحالف", text) == set()  # «التحالف» is no «ألف»


def test_a_count_question_answered_with_a_year_only_is_unanswered():
    from bot.faithfulness import count_without_number

    assert count_without_number("1953 [14]", "كم سنة استمرت الحرب الكورية؟")
    assert count_without_number("The Korean War lasted for 1953.", "How many years did the Korean War last?")
    assert not count_without_number("Four years, since 2019.", "How many years ago did they meet?")
    assert not count_without_number("5 [3]", "How many factories did Kim visit?")


def test_a_past_year_does_not_answer_a_when_will_question():
    """«متى سيجتمع بوتين وكيم؟» answered with 2019, the year the article gives for their earlier meeting."""
    from bot.faithfulness import past_years_for_a_future_question as past_years

    article = ("وكان الرئيسان قد التقيا سابقاً قبل أربع سنوات (2019). يبدأ المنتدى الأحد. "
               "ويعقد المؤتمر المقبل عام 2025. وكانت الحرب قد توقفت عام 2025.")
    assert past_years("بوتين وكيم سيجتمع في عام 2019. [2]", "متى سيجتمع بوتين وكيم؟", article) == {"2019"}
    assert past_years("They will meet in 2019.", "When will Putin and Kim meet?", article) == {"2019"}
    assert past_years("في الأحد، بعد لقاء 2019", "متى سيجتمع بوتين وكيم؟", article) == set()  # a coming day
    assert past_years("They met in 2019.", "When did Putin and Kim meet?", article) == set()  # a past question
    assert past_years("عام 2025", "متى سيعقد المؤتمر؟", article) == set()  # written once without a past word
    assert past_years("In 2019.", "When will Sergei visit?", "He came in 2019.") == set()  # no past word there


def test_a_when_answer_takes_its_month_and_year_from_what_the_question_asks_about():
    """"The Camp David summit was held in July.": the article's July is Shoigu's visit, its Camp David sentence
    gives August. A sentence next to one naming what is asked counts (a title stands for the name there)."""
    from bot.faithfulness import times_apart_from_the_asked as apart

    names = (("كامب ديفيد", "Camp David"), ("شويغو", "Shoigu"), ("كيم", "Kim"), ("فيتنام", "Vietnam"))
    article = ("زار شويغو بيونغ يانغ في يوليو/ تموز الماضي. فقرة أخرى هنا. وجرت قمة في منتجع كامب ديفيد في أغسطس/ آب "
               "الماضي. وقد يصل القطار الرئاسي للزعيم كيم يوم الإثنين. وكان الرئيس الكوري قد استقله عام 2019.")
    camp_david = "When was the Camp David summit held?"
    assert apart("The Camp David summit was held in July. [17]", camp_david, camp_david, article, names) == {"july"}
    assert apart("It was held in August.", camp_david, camp_david, article, names) == set()
    assert apart("In August 2019.", camp_david, camp_david, article, names) == {"2019"}
    assert apart("He took it in 2019.", "When did Kim take the train?", "", article, names) == set()  # next sentence
    assert apart("In July.", "When did Shoigu visit?", "", article, names) == set()
    # a follow-up names nothing: the previous question in the search text does
    assert apart("In July.", "When was it held?", f"{camp_david} When was it held?", article, names) == {"july"}
    assert apart("In July.", "When was the ceasefire?", "", article, names) == set()  # no listed name asked
    assert apart("Camp David, in July.", "Where was the summit?", "", article, names) == set()  # not a when question


def test_arabic_month_names_are_found_as_written_with_their_english_name():
    from bot.faithfulness import arabic_months_in, gives_a_date

    text = "استدعت في أغسطس/ آب الماضي، وفي يوليو/ تموز، وبكانون الثاني"
    assert arabic_months_in(text) == [("أغسطس", "August"), ("آب", "August"), ("يوليو", "July"), ("تموز", "July"),
                                      ("كانون الثاني", "January")]
    assert arabic_months_in("زار شويغو بيونغ يانغ") == []
    assert gives_a_date("في أغسطس/ آب الماضي") and gives_a_date("عام 2019") and gives_a_date("يبدأ الأحد")
    assert not gives_a_date("على هامش الذكرى السبعين [17]") and not gives_a_date("5 factories")


def test_a_short_answer_cites_the_quoted_sentences_that_say_it():
    """"August" is close in meaning to every quoted sentence; only the one writing «أغسطس» says it."""
    from bot.faithfulness import sentences_saying

    names = (("فوميو كيشيدا", "Fumio Kishida"), ("فلاديفوستوك", "Vladivostok"), ("فيتنام", "Vietnam"))
    sentences = ["استدعت الولايات المتحدة في أغسطس/ آب الماضي رئيس وزراء اليابان فوميو كيشيدا،",
                 "يبدأ المنتدى الأحد في فلاديفوستوك", "وكان قد استقل القطار ذاته عام 2019 إلى فيتنام"]
    assert sentences_saying("August [17][1][3]", sentences, names) == [0]
    assert sentences_saying("Fumio Kishida", sentences, names) == [0]
    assert sentences_saying("Vladivostok", sentences, names) == [1]
    assert sentences_saying("In 2019, to Vietnam.", sentences, names) == [2]
    assert sentences_saying("القطار الرئاسي", sentences, names) == [2]
    assert sentences_saying("Nobody knows.", sentences, names) == []


def test_a_date_with_only_invented_numbers_is_cut_to_the_articles_month():
    """The model adds a day and a year from memory to a month the article gives alone; a number the article
    writes elsewhere means the month may belong to another event, so that date is left for the checks."""
    from bot.faithfulness import invented_numbers_reason, with_dates_cut_to_the_month as cut

    article = ("زار شويغو بيونغ يانغ في يوليو/ تموز الماضي. وقف إطلاق النار عام 1953. قمة في أغسطس/ آب الماضي. "
               "والتقى بوتين وكيم عام 2019.")
    shoigu = ["شويغو", "بيونغ يانغ"]
    assert cut("He visited on July 20, 2019.", article, shoigu) == "He visited in July."  # 2019: another event
    assert cut("He visited on July 20, 2019.", article) == "He visited on July 20, 2019."  # whose 2019, unknown
    assert cut("They met in July 2019.", article, ["بوتين"]) == "They met in July 2019."  # 2019 is theirs
    assert cut("Shoigu visited Pyongyang on July 20, 2023. [8]", article) == "Shoigu visited Pyongyang in July. [8]"
    assert cut("It was held on the 18th of August.", article) == "It was held in August."
    assert cut("In July 2023, Shoigu visited.", article) == "In July, Shoigu visited."
    assert cut("On July 20, 2023, Shoigu visited.", article) == "In July, Shoigu visited."
    for kept in ("The ceasefire was in August 1953.", "It was held in March 2023.", "It was held in August.",
                 "It was held in July/August.", "In August/September 2019."):  # both months given; 2019 given
        assert cut(kept, article) == kept
    # «أغسطس/ آب» read as two months: the one the article never names goes
    assert cut("August/September [17]", article) == "August [17]"
    assert cut("It was held in August/September 2023.", article) == "It was held in August."
    assert invented_numbers_reason(cut("Shoigu visited on July 20, 2023.", article), article) is None


def test_a_weekday_the_article_gives_keeps_only_the_weekday_of_an_invented_date():
    """"on Sunday, July 19" -> "on Sunday" when the article gives the Sunday (in a sentence holding what the
    question asks about) and not the date; a weekday it never gives, or one of another sentence, is left to
    the month cut and the checks."""
    from bot.faithfulness import invented_numbers_reason, with_dates_cut_to_the_month as cut

    article = ("يلتقي بوتين وكيم في المنتدى الذي يبدأ الأحد. وقد يصل القطار يوم الإثنين. "
               "زار شويغو بيونغ يانغ في يوليو/ تموز الماضي.")
    assert cut("The forum starts on Sunday, July 19.", article, ["بوتين"]) == "The forum starts on Sunday."
    assert cut("It starts Sunday, the 10th of September 2023.", article) == "It starts Sunday."
    assert cut("Kim arrives on Monday, September 11.", article, ["القطار"]) == "Kim arrives on Monday."
    assert cut("Kim arrives on Monday, September 11.", article, ["بوتين"]) == "Kim arrives on Monday, September 11."
    assert cut("The forum starts on Friday, September 19.", article) == "The forum starts on Friday, September 19."
    assert invented_numbers_reason(cut("The forum starts on Sunday, July 19.", article), article) is None


def test_where_questions_and_clauses_naming_a_place():
    """A place is a listed name just after «في»/«إلى»/"in"/"to"; naming a country elsewhere is not enough."""
    from bot.faithfulness import asks_where, names_a_place, whole_names

    for question in ("أين عقدت القمة الثلاثية؟", "إلى أين سافر كيم؟", "وفي أي مدينة؟", "Where did he go?",
                     "Which city hosted it?"):
        assert asks_where(question), question
    for question in ("متى عقدت؟", "What did they agree to there?", "Who is John Kirby?", "في أي مدينتين"):
        assert not asks_where(question), question
    names = (("كامب ديفيد", "Camp David"), ("اليابان", "Japan"), ("فلاديفوستوك", "Vladivostok"))
    assert names_a_place("ورئيس كوريا الجنوبية يون سوك يول إلى قمة ثلاثية في منتجع كامب ديفيد", names)
    assert names_a_place("He went to Vladivostok by train.", names)
    assert not names_a_place("استدعت في أغسطس/ آب الماضي كلاً من رئيس وزراء اليابان فوميو كيشيدا،", names)
    assert not names_a_place("في منتجع كامب ديفيد", ())  # no names list: nothing is known to be a place
    found = [("فوميو كيشيدا", "Fumio Kishida"), ("كيشيدا", "Kishida"), ("كامب ديفيد", "Camp David")]
    assert whole_names(found) == [("فوميو كيشيدا", "Fumio Kishida"), ("كامب ديفيد", "Camp David")]


def test_an_answer_about_a_place_names_only_what_the_article_writes_near_it():
    """As in the bundled article: the Camp David sentence (and the ones next to it) names Japan and South
    Korea, not Russia; «وقف مفاوضات الأسلحة مع روسيا» is a US spokeswoman's call elsewhere."""
    from bot.faithfulness import names_apart_from_the_place

    names = (("كامب ديفيد", "Camp David"), ("روسيا", "Russia"), ("اليابان", "Japan"),
             ("كوريا الجنوبية", "South Korea"), ("بوتين", "Putin"), ("كيم", "Kim"))
    article = ("وحث واتسون الجانب الكوري على وقف مفاوضات الأسلحة مع روسيا. وقال بوتين وكيم كلاماً آخر. فقرة هنا. "
               "وجرت قمة مع اليابان وكوريا الجنوبية في منتجع كامب ديفيد. ودفعتهم إلى إعلان مشترك للنوايا.")
    asked = "And what did they agree to there?"
    apart = lambda answer, question=asked: names_apart_from_the_place(  # noqa: E731
        answer, names[0], question, article, names)
    assert apart("They agreed to stop military talks with Russia. [19][20][17]") == {"Russia"}
    assert apart("Putin and Kim agreed on it.") == {"Putin", "Kim"}
    assert apart("Japan and South Korea agreed on a joint declaration of intent. [17]") == set()
    assert apart("They met at Camp David.") == set()  # the place itself
    assert apart("A joint declaration.") == set()  # no name: nothing to hold
    assert apart("They talked about Russia.", "What did they say about Russia there?") == set()  # asked about


def test_a_where_question_needs_a_place_in_its_answer():
    """«ما زالت تتكتم عن التفاصيل» says nothing of where; a listed name or a word saying where does."""
    from bot.faithfulness import unconfirmed_reason, where_without_a_place

    names = (("فلاديفوستوك", "Vladivostok"),)
    carpet = "أين فرش السجاد الأحمر بحسب المصادر الاستخباراتية الأمريكية؟"
    assert where_without_a_place("المصادر الاستخباراتية الأمريكية ما زالت تتكتم عن التفاصيل. [6][14]", carpet, names)
    assert not where_without_a_place("في المحطة على الحدود بين روسيا وكوريا. [6]", carpet, names)
    assert not where_without_a_place("وفي المحطة.", carpet, names)
    assert not where_without_a_place("Vladivostok [2]", "Where will they meet?", names)
    assert where_without_a_place("It is kept secret.", "Where will they meet?", names)
    assert not where_without_a_place("It is kept secret.", "When will they meet?", names)  # not a where question
    reason = unconfirmed_reason("It is kept secret.", "en", "Where will they meet?", "It is kept secret.", names,
                                1.0, 0.0, set())
    assert reason == "no_place_for_a_where_question"

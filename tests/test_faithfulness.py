from bot.faithfulness import quote_support, split_quoted, unsupported_numbers

ARTICLE = "قبل أربع سنوات (2019)، زار ٥ مصانع في يوليو/ تموز الماضي."


def test_numbers_absent_from_the_article_are_flagged():
    assert unsupported_numbers("They met in 2019 [2].", ARTICLE) == set()
    assert unsupported_numbers("He visited 5 factories.", ARTICLE) == set()
    assert unsupported_numbers("On July 20/21, 2019.", ARTICLE) == {"20", "21"}
    assert unsupported_numbers("عدد السكان ٢٥ مليون", ARTICLE) == {"25"}


def test_split_quoted_layout():
    parsed = split_quoted("Arabic: زار مصانع [3]\nEnglish: He visited factories [3].")
    assert parsed is not None
    assert parsed.quote == "زار مصانع [3]"
    assert parsed.answer == "He visited factories [3]."
    assert split_quoted("Just an answer.") is None


def test_quote_support_finds_real_quotes_and_rejects_invented_ones():
    passages = ["زار خلالها بمعية الرئيس كيم معرضاً للأسلحة", "وقال المتحدث إن اللقاء مهم"]
    assert quote_support("زار خلالها بمعية الرئيس كيم معرضاً للأسلحة", passages) == 1.0
    assert quote_support("عدد السكان في كوريا الشمالية عشرون مليوناً", passages) < 0.5
    assert quote_support("no arabic at all", passages) == 0.0

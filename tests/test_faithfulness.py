from bot.faithfulness import unsupported_numbers

ARTICLE = "قبل أربع سنوات (2019)، زار ٥ مصانع في يوليو/ تموز الماضي."


def test_numbers_absent_from_the_article_are_flagged():
    assert unsupported_numbers("They met in 2019 [2].", ARTICLE) == set()
    assert unsupported_numbers("He visited 5 factories.", ARTICLE) == set()
    assert unsupported_numbers("On July 20/21, 2019.", ARTICLE) == {"20", "21"}
    assert unsupported_numbers("عدد السكان ٢٥ مليون", ARTICLE) == {"25"}

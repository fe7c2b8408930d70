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

"""English answer words against the Arabic sentences they were read off, with the real embedding model."""

from bot.word_alignment import WordAligner, aligned_enough

AGREEMENT = ("ودفعتهم إلى الموافقة على إعلان مشترك للنوايا تضمن فتح أبواب التعاون العسكريّ بين الجانبين بعد عقود طويلة "
             "من المرارة المتبادلة بسبب الجرائم التي ارتكبها الجيش الياباني إبّان احتلاله لكوريا.")
KIRBY = ("وزعم جون كيربي، منسق الاتصالات الاستراتيجية في مجلس الأمن القومي الأمريكي بإن “(الزعيمين) بوتين وكيم تبادلا "
         "رسائل قبل هذا اللقاء تعهدا فيها بالعمل على تمتين أصر التعاون بين البلدين”.")


def test_an_answer_made_of_the_sentences_words_is_told_from_one_that_is_not(engine):
    encoded: list[list[str]] = []

    def encode(words: list[str]):
        encoded.append(words)
        return engine.embedder.encode_documents(words)

    aligner = WordAligner(encode)
    apart, compared = aligner.unaligned_words("They agreed to open military cooperation between the two sides. [17]",
                                              AGREEMENT)
    assert compared >= 6 and aligned_enough(apart, compared), apart
    assert {"military", "cooperation"}.isdisjoint(apart)
    names = {"john", "kirby", "putin", "kim"}
    apart, compared = aligner.unaligned_words(
        "John Kirby claimed that Putin and Kim were discussing peace before the meeting.", KIRBY, names)
    assert not aligned_enough(apart, compared) and "peace" in apart, apart
    assert "kirby" not in {w.lower() for w in apart}, "names are left to the names check"
    before = sum(map(len, encoded))
    aligner.unaligned_words("The sides agreed on a declaration.", AGREEMENT)
    assert sum(map(len, encoded)) - before == 1, "only the new word is encoded; the sentence's words are kept"
    assert aligned_enough([], 0) and aligner.unaligned_words("", AGREEMENT) == ([], 0)

"""Cheap checks that an answer says only what the article says (entry point: `unconfirmed_reason`).

A small model invents figures and dates; an answer that asserts what the article does not contain is
worse than a refusal. Every check here was added for answers seen failing on the evaluation set: numbers
the article never writes (after normalisation; list markers are not claims) and months it never names,
count questions answered without a number, "when" questions answered without a time, English names outside
the article's names list or listed names glued together, name questions answered without a name, answers
that only repeat the question, long answers sharing no word with the question (copied unrelated
sentences), English answers pasting Arabic text, and answers no passage is close to.
`without_off_question_opening` removes a copied unrelated first sentence before the checks; `words_outside`
holds an answer to the sentences it was read from.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from functools import lru_cache

from .text import ATTACHED_LETTERS, SENTENCE_END, is_arabic_char, lexical_tokens, light_stem, normalize_arabic

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CITATION = re.compile(r"\[\d{1,3}\]")


_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:\d{1,2}[.)]|[-•*])[ \t]+")


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(normalize_arabic(_CITATION.sub("", text)))}


# Numbers written as words, normalised, whole words only: «الاثنين» is Monday, «العشرين» the twentieth.
_NUMBER_WORD_VALUES = {word: str(value) for value, words in enumerate((
    "", "واحد واحده one", "اثنان اثنين اثنتان اثنتين two", "ثلاث ثلاثه three", "اربع اربعه four", "خمس خمسه five",
    "ست سته six", "سبع سبعه seven", "ثمان ثماني ثمانيه eight", "تسع تسعه nine", "عشر عشره ten"))
    for word in words.split()}


def written_numbers(text: str) -> set[str]:
    """The numbers `text` writes in digits or, one to ten, in words (the article's «خمسة مصانع» is the "5
    factories" of an English answer)."""
    words = re.findall(r"\w+", normalize_arabic(text))
    return numbers_in(text) | {_NUMBER_WORD_VALUES[w] for w in words if w in _NUMBER_WORD_VALUES}


@lru_cache(maxsize=8)
def _article_digits(article_text: str) -> frozenset[str]:
    return frozenset(numbers_in(article_text))


@lru_cache(maxsize=8)
def _article_numbers(article_text: str) -> frozenset[str]:
    """The article's numbers, found once: the checks run on every sentence an answer streams."""
    return frozenset(written_numbers(article_text))


# Money and magnitudes, normalised: a figure next to one must be written in digits in the article
_MAGNITUDE = re.compile(r"[$€£%]|\b(?:million|billion|trillion|thousand|hundred|percent|dollars?|euros?)\b"
                        r"|(?<!\w)[وبل]?(?:مليون|ملايين|مليار|مليارات|الف|الاف|دولار|دولارات|بالمئه|بالمائه)(?!\w)",
                        re.IGNORECASE)


def unsupported_numbers(answer: str, article_text: str) -> set[str]:
    """Numbers in the answer that the article never writes; the "1." "2." of a numbered list are not claims
    (measured: they made two right Arabic answers "cannot confirm"). A number word of the article («خمسة»)
    supports a count, not a figure beside money or a magnitude: the small model's "$1. 5 billion" for what
    Russia will pay is not «أسبوع واحد» and «خمسة مصانع»."""
    known = _article_numbers(article_text)
    digits = _article_digits(article_text)  # "2019.5" may stand for 2019; "1.2 billion" not for «واحد»
    text = _LIST_MARKER.sub("", normalize_arabic(_CITATION.sub("", answer)))
    unsupported = set()
    for match in _NUMBER.finditer(text):
        number = match.group().replace(",", "")
        figure = _MAGNITUDE.search(text[max(0, match.start() - 12): match.end() + 12])
        if number not in (digits if figure else known) and number.split(".")[0] not in digits:
            unsupported.add(number)
    return unsupported


# Each month as English writes it and as Arabic does (the Egyptian/Gulf and the Levantine names), normalised;
# not English "may", which is mostly the verb.
_MONTH_NAMES = (
    "january يناير كانون_الثاني", "february فبراير شباط", "march مارس اذار", "april ابريل نيسان",
    "مايو ايار", "june يونيو حزيران", "july يوليو تموز", "august اغسطس اب", "september سبتمبر ايلول",
    "october اكتوبر تشرين_الاول", "november نوفمبر تشرين_الثاني", "december ديسمبر كانون_الاول",
)
_MONTH_OF = {name.replace("_", " "): number for number, names in enumerate(_MONTH_NAMES, 1) for name in names.split()}
_MONTH = "|".join(sorted(map(re.escape, _MONTH_OF), key=len, reverse=True))
# A month, then perhaps a day or two ("1,", "20/21"), then within 15 characters (a slash and a second name,
# "عام", "of") a year: "August 1953", "August 1, 2019", "August/September 2019", «أغسطس/ آب عام 2023». The
# first letter may carry an attached «و» «ب» «ف» «ل».
_DATE = re.compile(rf"(?<!\w)[وبفل]?({_MONTH})(?!\w)(?:\s*\d{{1,2}}(?:st|nd|rd|th)?(?:\s*[-–/]\s*\d{{1,2}})?(?!\d))?"
                   rf"[^\d\n]{{0,15}}?(?<!\d)((?:19|20)\d\d)(?!\d)")


def dates_in(text: str) -> set[tuple[int, str]]:
    """(month number, year) for each month written just before a year."""
    return {(_MONTH_OF[m.group(1)], m.group(2)) for m in _DATE.finditer(normalize_arabic(_CITATION.sub("", text)))}


@lru_cache(maxsize=8)
def _article_dates(article_text: str) -> frozenset[tuple[int, str]]:
    """The article's month-and-year dates, found once (see `_article_numbers`)."""
    return frozenset(dates_in(article_text))


def unsupported_dates(answer: str, article_text: str) -> set[str]:
    """Month-and-year dates in the answer that the article never writes together: each part may be in the
    article (so the number check passes) while the date is not. Measured: "the Korean War ceasefire
    happened in August 1953" (the article: 1953, and August for the Camp David summit); "the summit was held
    in August/September 2019" (the article: "last August")."""
    return {f"{month:02d}/{year}" for month, year in dates_in(answer) - _article_dates(article_text)}


_MONTH_WORD = re.compile(rf"(?<!\w)[وبفل]?({_MONTH})(?!\w)")
_ARABIC_WORD = re.compile(r"[\u0621-\u065F\u0670]+")  # letters and harakat, not «،» «؛» «؟»


def arabic_months_in(text: str) -> list[tuple[str, str]]:
    """(the Arabic month name as `text` writes it, its English name) for each Arabic month name in `text`,
    once each («أغسطس» and «آب» are both August)."""
    words = _ARABIC_WORD.findall(text)
    pairs = []
    for i, word in enumerate(words):
        for written in (" ".join(words[i:i + 2]), word):  # «كانون الثاني» before «كانون»
            for _ in range(2):  # attached «و» «ب» «ف» «ل» («وبكانون»)
                if written[0] in "وبفل" and normalize_arabic(written) not in _MONTH_OF:
                    written = written[1:]
            month = _MONTH_OF.get(normalize_arabic(written))
            if month:
                if (written, calendar.month_name[month]) not in pairs:
                    pairs.append((written, calendar.month_name[month]))
                break
    return pairs


def months_in(text: str) -> set[int]:
    return {_MONTH_OF[m.group(1)] for m in _MONTH_WORD.finditer(normalize_arabic(_CITATION.sub("", text)))}


@lru_cache(maxsize=8)
def _article_months(article_text: str) -> frozenset[int]:
    return frozenset(months_in(article_text))


def unsupported_months(answer: str, article_text: str) -> set[str]:
    """Months the answer names and the article never does. Measured: "August/September" for «أغسطس/ آب»
    (two names of August) when asked when the Camp David summit was held."""
    return {_MONTH_NAMES[month - 1].split()[0] for month in months_in(answer) - _article_months(article_text)}


# Capitalised for grammar, not names the article must contain.
COMMON_CAPITALISED = frozenset("""
i a an the this that these those he she it they we you his her its their according however also both
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
mr mrs ms dr president presidents minister ministers prime defence defense deputy general leader leaders
foreign secretary spokesman spokeswoman spokesperson coordinator coordination communications strategic
military army navy forces war korean russian american chinese japanese ukrainian soviet western european
asian north south east west eastern northern southern summit forum economic council national security
republic people's democratic peninsula union states united kingdom article passage passages english arabic
""".split())
_SENTENCE_START = re.compile(r"(^|[.!?:;\n]\s*|[-•*]\s+|\(\s*)$")


def unsupported_names(answer: str, names: list[str], question: str) -> set[str]:
    """Name-like words of an English answer found neither in the names list, the question nor
    COMMON_CAPITALISED: mangled or invented names ("Fudafostok", "Flanders")."""
    known = {w.lower() for text in [*names, question] for w in re.findall(r"[A-Za-z'’-]+", text)}
    known |= COMMON_CAPITALISED
    found = set()
    text = _CITATION.sub("", answer)
    for match in re.finditer(r"\b[A-Z][a-zA-Z'’-]{2,}", text):
        word = match.group(0)
        if _SENTENCE_START.search(text[: match.start()]):
            continue  # capitalised because it opens a sentence or a bullet
        bare = word.rstrip("'’s").rstrip("'’") if word.endswith(("'s", "’s")) else word
        if bare.lower() not in known and word.lower() not in known:
            found.add(word)
    return found


_STOP_WORDS = frozenset(lexical_tokens("""
في من على عن إلى الى أن إن ان ما ماذا متى أين كيف كم هل هو هي هم هما التي الذي الذين هذا هذه ذلك تلك قد لا لم لن
مع بين كان كانت ثم أو او و ف ب ل كل بعد قبل عند أي اي لماذا بما إلى عام
the a an of in on at to is are was were and or did does do what which who whom when where why how many much
by for with from that this it its be been has have had will would could can about according article
he she they them their his her him we us our you your i me my these those there
"""))
LONG_ANSWER_WORDS = 8


_AR_SUFFIXES = ("هما", "هم", "ها", "كم", "نا", "ه", "ك", "ي")  # attached pronouns


def content_words(text: str) -> set[str]:
    return {t for t in lexical_tokens(_CITATION.sub("", text)) if t not in _STOP_WORDS and not t.isdigit()}


def _word_forms(words: set[str]) -> set[str]:
    """The words, also without an attached pronoun ("ختامها" -> "ختام", "زيارته" -> "زياره"), so a question
    and an answer that use the same word with different endings still share it."""
    forms = set(words)
    for word in words:
        for suffix in _AR_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                forms |= {stem, stem[:-1] + "ه"} if stem.endswith("ت") else {stem}
                break
    return forms


def shared_words(text: str, question: str) -> set[str]:
    return _word_forms(content_words(text)) & _word_forms(content_words(question))


COMMON_WORD_SHARE = 0.35  # a word in at least this share of the passages says nothing about which one is meant


def common_words(passages: Sequence[str]) -> frozenset[str]:
    """Word forms found in COMMON_WORD_SHARE or more of the passages: the article's own topic words («كوريا»,
    «روسي», «عسكري» in the bundled article, each in 8-13 of 21 passages). Sharing only these with the
    question does not show that a sentence is about what was asked. Fewer than three passages: none."""
    if len(passages) < 3:
        return frozenset()
    counts: dict[str, int] = {}
    for passage in passages:
        for form in _word_forms(content_words(passage)):
            counts[form] = counts.get(form, 0) + 1
    return frozenset(form for form, n in counts.items() if n >= COMMON_WORD_SHARE * len(passages))


def shares_a_word(text: str, question: str, common: frozenset[str] = frozenset()) -> bool:
    """Whether text and question share a content word that is not one of the article's `common` words."""
    return bool(shared_words(text, question) - common)


def off_question(answer: str, question: str, common: frozenset[str] = frozenset(), article_text: str = "") -> bool:
    """A long answer that shares no content word with the question, the article's `common` words aside:
    measured on the evaluation set, these are copied sentences about something else (the Camp David summit
    sentence, sharing only «كوريا», for «من رافق شويغو في زيارته إلى كوريا؟»); short answers
    ("فلاديفوستوك.") are never flagged. With `article_text`, an answer copied from part of an article sentence
    that shares a word with the question is on it: «أليكسي كريفوروتشكو، نائب وزير الدفاع الروسي ...» answers
    the same question from «... أن شويغو اصطحب معه إلى هذه الزيارة الجنرال أليكسي كريفوروتشكو، ...»."""
    if len(content_words(answer)) < LONG_ANSWER_WORDS or shares_a_word(answer, question, common):
        return False
    sentence = enclosing_sentence(answer, article_text) if article_text else None
    return sentence is None or not shares_a_word(sentence, question, common)


def enclosing_sentence(answer: str, article_text: str) -> str | None:
    """The article sentence that holds the whole answer (citations and end punctuation aside) word for word,
    after Arabic normalisation; None when the answer is not a verbatim part of one sentence."""
    said = _normalized_words(_CITATION.sub("", answer)).strip(" .،,؛;:!?؟")
    if not said:
        return None
    return next((sentence for sentence, normal in _normalized_sentences(article_text) if said in normal), None)


@lru_cache(maxsize=8)
def _normalized_sentences(article_text: str) -> tuple[tuple[str, str], ...]:
    """The article's sentences, each with its normalised form (single spaces), split and normalised once."""
    return tuple((sentence, _normalized_words(sentence)) for sentence in SENTENCE_END.split(article_text))


@lru_cache(maxsize=8)
def _normalized_article(article_text: str) -> str:
    return _normalized_words(article_text)


def _normalized_words(text: str) -> str:
    """`text` normalised, with single spaces between words."""
    return normalize_arabic(" ".join(text.split()))


def without_off_question_opening(answer: str, question: str, common: frozenset[str] = frozenset()) -> str:
    """The answer without a long first sentence that shares no word with the question, when the rest does.
    Measured: the default model often opens Arabic answers by copying one unrelated sentence of the article
    ("في المقابل، يمكن أن تتوسع موسكو ...") and then answers."""
    parts = SENTENCE_END.split(answer.strip(), maxsplit=1)
    if len(parts) < 2:
        return answer
    first, rest = parts[0], parts[1].strip()
    if (rest and len(content_words(first)) >= LONG_ANSWER_WORDS and not shares_a_word(first, question, common)
            and shares_a_word(rest, question, common)):
        return rest
    return answer


_NAME_PREFIXES = ("", *ATTACHED_LETTERS, "وب", "ول")  # conjunctions and prepositions written onto a name


def name_words(names: Sequence[tuple[str, str]]) -> frozenset[str]:
    """The word forms of the listed names (Arabic with their attached «و», «ب», «ل» ..., and English): sharing
    only these with a question ties an answer to who is asked about, not to what is asked."""
    words = content_words(" ".join(f"{arabic} {english}" for arabic, english in names))
    return frozenset(_word_forms({prefix + word for word in words for prefix in _NAME_PREFIXES}))


ARABIC_RUN_WORDS = 4


def copied_arabic_run(answer: str) -> bool:
    """An English answer holding ARABIC_RUN_WORDS or more Arabic words in a row: measured on the evaluation
    set, only a wrong answer pasting a paragraph of the source did (a name in Arabic script is 1-3 words)."""
    run = 0
    for word in answer.split():
        run = run + 1 if any(is_arabic_char(c) for c in word) else 0
        if run >= ARABIC_RUN_WORDS:
            return True
    return False


COPIED_OPENING_WORDS = 4


def copies_the_article(answer: str, article_text: str) -> bool:
    """The answer opens with COPIED_OPENING_WORDS or more words written so in the article: the small model's
    way of writing about something else is to copy a sentence of the source («في المقابل، يمكن أن تتوسع
    موسكو ...» opened most rejected Arabic answers); asked again, it copies the same one unless steered."""
    opening = normalize_arabic(" ".join(answer.split()[:COPIED_OPENING_WORDS]))
    return len(opening.split()) == COPIED_OPENING_WORDS and opening in _normalized_article(article_text)


SHORT_ANSWER_WORDS = 3


def short_answer_from_article(answer: str, vocabulary: set[str]) -> bool:
    """An answer of at most SHORT_ANSWER_WORDS content words, every one of them a word of the article or of
    its names list ("Donald Trump", "فلاديفوستوك"). Embedding similarity says little about two words
    (measured: "Donald Trump" scored 0.24 against its own passage), so the weak-support check skips these."""
    words = content_words(answer)
    return 0 < len(words) <= SHORT_ANSWER_WORDS and words <= vocabulary


_HOW_MANY = re.compile(r"(^|\s)كم(\s|$)|\bhow (many|much)\b", re.IGNORECASE)
_NUMBER_WORDS = frozenset(lexical_tokens("""
واحد واحده اثنان اثنين اثنتان اثنتين ثلاث ثلاثه اربع اربعه خمس خمسه ست سته سبع سبعه ثمان ثماني ثمانيه تسع
تسعه عشر عشره عشرون عشرين ثلاثون ثلاثين اربعون اربعين خمسون خمسين ستون ستين سبعون سبعين ثمانون ثمانين تسعون
تسعين مئه مائه مئات مئتين الف الاف الفين الوف مليون ملايين مليار مليارات عشرات
one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty hundred
hundreds thousand thousands million millions billion billions trillion dozen dozens
"""))


_YEAR = re.compile(r"(?:19|20)\d\d")
# «الإثنين» / «يوم الاثنين» is Monday, whose stem is «اثنين», two: «كم مصنعاً زار كيم؟» had been answered with
# sentences about the factories' products and the train's arrival "on Monday or Tuesday", and passed as a count
_MONDAY = re.compile(r"(?:^|(?<=\s))(?:[وفب]?ال|يوم\s+)اثنين")


def count_without_number(answer: str, question: str) -> bool:
    """A "how many" / «كم» question answered without any number or number word, or with years only: measured,
    such answers were sentences about something else ("... shipped missiles to Wagner" for "how many
    missiles?"), and the small model answered "how many years did the Korean War last?" with "1953"."""
    if not _HOW_MANY.search(question):
        return False
    counts = {n for n in numbers_in(answer) if not _YEAR.fullmatch(n)}
    words = lexical_tokens(_MONDAY.sub(" ", normalize_arabic(_CITATION.sub("", answer))))
    return not counts and not set(words) & _NUMBER_WORDS


# "When" questions, on normalised text (normalize_arabic folds «أي» to «اي» and «متى» to «متي»).
_WHEN = re.compile(r"(^|\s)[وف]?متي(\s|$)|(^|\s)[وفب]?اي (تاريخ|يوم|شهر|عام|سنه|وقت)(\s|$)"
                   r"|\bwhen\b|\b(what|which) (date|day|month|year|time)\b", re.IGNORECASE)
_WEEKDAY_IN_ARABIC = dict(zip((day.lower() for day in calendar.day_name),
                              map(normalize_arabic, "الاثنين الثلاثاء الاربعاء الخميس الجمعة السبت الاحد".split())))
_WEEKDAY_WORDS = frozenset(lexical_tokens(" ".join([*_WEEKDAY_IN_ARABIC, *_WEEKDAY_IN_ARABIC.values()])))
_TIME_WORDS = _WEEKDAY_WORDS | frozenset(lexical_tokens("""
يوم أيام أسبوع أسابيع شهر أشهر شهور عام أعوام سنة
سنوات سنين الماضي الماضية المقبل المقبلة القادم القادمة حين عندما قبل بعد خلال أثناء هامش أمس غداً اليوم الآن
حالياً مؤخراً قريباً ذكرى منذ حتى ساعة
day days week weeks month months year years ago last
next before after during since until yesterday today tomorrow now recently soon sidelines anniversary time while
""")) | frozenset(_MONTH_OF)


def asks_when(question: str) -> bool:
    return _WHEN.search(normalize_arabic(question)) is not None


def years_in(text: str) -> set[str]:
    """The years (19xx, 20xx) among the numbers `text` writes."""
    return set(filter(_YEAR.fullmatch, numbers_in(text)))


def gives_a_date(text: str) -> bool:
    """Whether `text` names a month, a year or a weekday (a narrower test than `when_without_a_time`'s)."""
    plain = _CITATION.sub("", text)
    return bool(months_in(plain) or years_in(plain)
                or set(lexical_tokens(plain)) & _WEEKDAY_WORDS)


# "Where" questions, on normalised text («أين» -> «اين», «إلى» -> «الي»)
_WHERE = re.compile(r"(^|\s)[وف]?(الي )?اين(?![^\s؟?])|(^|\s)[وفب]?اي (مكان|مدينه|بلد|دوله)(?![^\s؟?])"
                    r"|\bwhere\b|\b(which|what) (place|city|country)\b", re.IGNORECASE)
_PLACE_WORDS = frozenset(lexical_tokens("في إلى in at to"))  # a place follows: «في منتجع كامب ديفيد», "to Vladivostok"
PLACE_NAME_REACH = 3  # words after «في»/«إلى» where the place's name may start («منتجع كامب ديفيد»)


def asks_where(question: str) -> bool:
    return _WHERE.search(normalize_arabic(question)) is not None


def names_a_place(text: str, names: Sequence[tuple[str, str]]) -> bool:
    """Whether `text` writes a listed name within PLACE_NAME_REACH words after «في», «إلى», "in", "at" or
    "to" (a narrower test than naming it anywhere: «... استدعت في أغسطس/ آب الماضي كلاً من رئيس وزراء
    اليابان» names Japan, but not as where something happened). Without a names list, never."""
    words = normalize_arabic(text).lower().split()
    forms = _name_forms(names)
    for i, word in enumerate(words):
        if word in _PLACE_WORDS:
            after = " ".join(words[i + 1:i + 1 + PLACE_NAME_REACH])
            if any(_occurs(form, after) for form in forms):
                return True
    return False


# words that say where («في المحطة», «على الحدود», "in Vladivostok"); a listed name says it too
_PLACE_MARKERS = _PLACE_WORDS | frozenset(lexical_tokens("عند على بين داخل قرب لدى near on inside"))


def where_without_a_place(answer: str, question: str, names: Sequence[tuple[str, str]]) -> bool:
    """A "where" question answered with neither a listed name nor a word that says where («في», «على»,
    «بين», "in", "at" ...). Measured: «أين فرش السجاد الأحمر بحسب المصادر الاستخباراتية الأمريكية؟»
    answered «المصادر الاستخباراتية الأمريكية ما زالت تتكتم عن التفاصيل» (the article: «في المحطة على الحدود
    بين روسيا وكوريا»); every right answer to the evaluation set's "where" questions has one."""
    if not asks_where(question):
        return False
    plain = _CITATION.sub("", answer)
    words = set(lexical_tokens(plain))
    words |= {w[1:] for w in words if w[:1] in ("و", "ف")}  # «وفي», «فإلى»
    return not words & _PLACE_MARKERS and not names_in(plain, names)


def when_without_a_time(answer: str, question: str) -> bool:
    """A "when" question («متى», «في أي تاريخ», "what date") answered without a date, a day, a month or a
    time word ("last July", «على هامش المنتدى»): measured, the sentence look answered «متى سيجتمع ...» and
    «في أي تاريخ سيوقع ... معاهدة؟» (a date the article never gives) with the place «أقصى شرق روسيا»."""
    if not asks_when(question):
        return False
    plain = _CITATION.sub("", answer)
    return not numbers_in(plain) and not set(lexical_tokens(plain)) & _TIME_WORDS


_FUTURE_WHEN = re.compile(r"(^|\s)[وف]?متي\s+[وف]?س[يتنا]\S{2,}"  # «متى سيجتمع»: the future «س»
                          r"|\bwhen\s+(will|shall)\b|\bwhen\s+(is|are)\s+.*\bgoing\s+to\b", re.IGNORECASE)
_PAST_MARKERS = frozenset(lexical_tokens("قبل سابقاً منذ كان كانت الماضي الماضية السابق ago"))
_COMING_TIME_WORDS = _WEEKDAY_WORDS | frozenset(lexical_tokens("""
المقبل المقبلة القادم القادمة هامش قريباً غداً next soon tomorrow sidelines"""))


@lru_cache(maxsize=8)
def _past_years(article_text: str) -> frozenset[str]:
    """Years the article writes only in sentences about the past (with «قبل», «سابقاً», «منذ», «كان» ...)."""
    seen: dict[str, bool] = {}
    for _, sentence in _normalized_sentences(article_text):
        past = bool(set(lexical_tokens(sentence)) & _PAST_MARKERS)
        for year in years_in(sentence):
            seen[year] = seen.get(year, True) and past
    return frozenset(year for year, only_past in seen.items() if only_past)


def past_years_for_a_future_question(answer: str, question: str, article_text: str) -> set[str]:
    """The years a "when will" question («متى سيجتمع», "when will") is answered with that the article gives
    only for past events, when the answer names no coming day or occasion. Measured: «متى سيجتمع بوتين
    وكيم؟» -> «سيجتمع في عام 2019», the year of their earlier meeting («قبل أربع سنوات (2019)»)."""
    if not _FUTURE_WHEN.search(normalize_arabic(question)):
        return set()
    plain = _CITATION.sub("", answer)
    if set(lexical_tokens(plain)) & _COMING_TIME_WORDS:
        return set()
    return years_in(plain) & _past_years(article_text)


def times_apart_from_the_asked(answer: str, asked: str, query: str, article_text: str,
                               names: Sequence[tuple[str, str]]) -> set[str]:
    """The months and years a "when" answer gives that the article writes only away from what the question
    asks about: in no sentence naming one of the listed names the question names (`asked`, else the search
    text `query` of a follow-up), nor next to one. Measured: "The Camp David summit was held in July." (the
    article's July is Shoigu's visit; its Camp David sentence gives August). A question naming no listed name
    is not checked."""
    if not asks_when(asked):
        return set()
    plain = _CITATION.sub("", answer)
    months, years = months_in(plain), years_in(plain)
    asked_names = names_in(asked, names) or names_in(query, names)
    if not (months or years) or not asked_names:
        return set()
    near = _sentences_near(asked_names, article_text)
    apart = {_MONTH_NAMES[month - 1].split()[0] for month in months - months_in(near)}
    return apart | (years - numbers_in(near))


def names_apart_from_the_place(answer: str, place: tuple[str, str], asked: str, article_text: str,
                               names: Sequence[tuple[str, str]]) -> set[str]:
    """The listed names an answer about what happened at `place` ("what did they agree to there?", the
    place the previous answer gave) uses that the article writes only away from it: in no sentence naming
    the place, nor next to one. Names the question itself writes are not held to it. Measured: "They agreed
    to stop military talks with Russia" for Camp David (the article's «وقف مفاوضات الأسلحة مع روسيا» is a
    US spokeswoman's call to Pyongyang; its Camp David sentence names no Russia)."""
    near = _sentences_near([place], article_text)
    said = whole_names(names_in(_CITATION.sub("", answer), names))
    asked_names = names_in(asked, names)
    forms = _name_forms(said)
    return {english for (arabic, english), form in zip(said, forms)
            if (arabic, english) != place and (arabic, english) not in asked_names and not _occurs(form, near)}


def _sentences_near(listed: Sequence[tuple[str, str]], article_text: str) -> str:
    """The article's sentences (normalised) that name one of the `listed` names, each with the sentences
    before and after it: where what the article says about them can be."""
    forms = _name_forms(listed)
    sentences = [normal for _, normal in _normalized_sentences(article_text)]
    about = {j for i, sentence in enumerate(sentences) if any(_occurs(form, sentence) for form in forms)
             for j in (i - 1, i, i + 1) if 0 <= j < len(sentences)}
    return " ".join(sentences[j] for j in sorted(about))


_LINKING_WORDS = frozenset(lexical_tokens("عبر خلال حول حتى منذ لدى نحو عبرها بواسطة"))
_NOT_WEIGHED = _STOP_WORDS | _LINKING_WORDS  # words an answer may use whatever the quoted sentences say
_VERB_PREFIXES = ("سي", "ست", "سن", "سا", "س", "ي", "ت", "ن")  # future «س» and the present tense's person letters


def _verb_forms(words: set[str]) -> set[str]:
    """The words, also without a future or present-tense prefix («سيسافر» -> «سافر»)."""
    return words | {w[len(p):] for w in words for p in _VERB_PREFIXES if w.startswith(p) and len(w) - len(p) >= 3}


def words_outside(answer: str, text: str) -> set[str]:
    """The Arabic words of the answer that `text` does not write in any of their forms (with or without
    «ال» and attached letters, an attached pronoun or a verb prefix), stop and linking words aside: an
    answer read off a few quoted sentences must be made of their words."""
    known = _verb_forms(_word_forms(set(lexical_tokens(text))))
    outside = set()
    for word in _CITATION.sub("", answer).split():
        forms = set(lexical_tokens(word))
        if not forms or not any(is_arabic_char(c) for c in word) or forms & _NOT_WEIGHED:
            continue
        if not _verb_forms(_word_forms(forms)) & known:
            outside.add(word.strip(".،,؛;:!?؟«»\"()"))
    return outside


def sentences_saying(answer: str, sentences: Sequence[str], names: Sequence[tuple[str, str]]) -> list[int]:
    """The indexes of the `sentences` that write most of what a short answer says: its listed names (in
    either script), months, numbers and Arabic words; empty when none writes any. A sentence-look answer
    cites the passages of these sentences, not every quoted one ("August" is close to all three in meaning)."""
    plain = _CITATION.sub("", answer)
    said_names = {arabic for arabic, _ in names_in(plain, names)}
    said_months, said_numbers = months_in(plain), numbers_in(plain)
    arabic_words = {w for w in lexical_tokens(plain) if any(map(is_arabic_char, w))} - _NOT_WEIGHED

    def score(sentence: str) -> int:
        return (len({a for a, _ in names_in(sentence, names)} & said_names) + len(said_months & months_in(sentence))
                + len(said_numbers & written_numbers(sentence))
                + len(arabic_words) - len(words_outside(" ".join(arabic_words), sentence)))

    scores = [score(sentence) for sentence in sentences]
    best = max(scores, default=0)
    return [i for i, value in enumerate(scores) if best and value == best]


_NAME_WORD = re.compile(r"\b[A-Z][a-zA-Z'’-]+")


def unlisted_name_runs(answer: str, names: list[str], question: str) -> set[str]:
    """Runs of two or more name words in an English answer that no listed name (nor the question) writes in
    that order. Each word may be listed while the run is invented: measured, "the submarine Kim Shoigu" for
    a name the article never gives, two listed names glued into one."""
    spelled = [" ".join(_name_words(text)) for text in [*names, question]]
    found = set()
    for line in re.split(r"[\n.!?;:,()\[\]]+", _CITATION.sub("", answer)):
        run: list[str] = []
        for word in [*line.split(), ""]:
            bare = word.strip("\"'“”‘’")
            bare = bare[:-2] if bare.endswith(("'s", "’s")) else bare
            if _NAME_WORD.fullmatch(bare) and bare.lower() not in COMMON_CAPITALISED:
                run.append(bare)
                continue
            phrase = " ".join(w.lower() for w in run)
            if len(run) >= 2 and not any(f" {phrase} " in f" {known} " for known in spelled):
                found.add(" ".join(run))
            run = []
    return found


def _name_words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z'’-]+", text) if w.lower() not in COMMON_CAPITALISED]


_NAME_QUESTION = re.compile(r"\bwhat(?: is|'s| was)? (?:the |its |his |her |their )?names?\b"
                            r"|(^|\s)(ما|وما)\s+(هو\s+|هي\s+)?[اإ]سم", re.IGNORECASE)


def name_question_without_a_name(answer: str, question: str, listed_names: list[str]) -> bool:
    """A question asking for a name ("what is the name of ...", «ما اسم ...») answered without any listed
    name (Arabic or English) that the question does not already hold: measured, such answers describe the
    thing instead ("a submarine able to launch nuclear missiles") because the article never names it.
    Without a names list nothing is flagged: an Arabic name cannot be told from other words."""
    if not listed_names or not _NAME_QUESTION.search(question):
        return False
    asked = normalize_arabic(question).lower()
    said = normalize_arabic(_CITATION.sub("", answer)).lower()
    return not any((name := normalize_arabic(n).lower()) in said and name not in asked for n in listed_names)


def names_outside_sources(answer: str, names: Sequence[tuple[str, str]], sources: str, question: str) -> set[str]:
    """Listed names (Arabic, English) that the answer uses but neither the retrieved passages nor the question
    hold. The whole article is in the prompt, so a name from another part of it passes the other checks;
    measured: "they meet in Seoul" for "where will Putin and Kim meet?", Kirby's title given to
    Krivoruchko. The retrieved passages are where the answer should come from."""
    said, present = normalize_arabic(_CITATION.sub("", answer)), normalize_arabic(f"{sources} {question}")
    forms = _name_forms(names)
    found = set()
    for form, (_, english) in zip(forms, names):
        if not _occurs(form, said):
            continue
        # the full name stands for its listed short form: "Sergei Shoigu" is present where «شويغو» is
        same_name = [short for short in forms if _part_of(short, form)]
        if not any(_occurs(f, present) for f in [form, *same_name]):
            found.add(english)
    return found


def names_in(text: str, names: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The listed (Arabic, English) names that `text` writes in either script, in list order."""
    normal = normalize_arabic(text)
    return [pair for pair, form in zip(names, _name_forms(names)) if _occurs(form, normal)]


def whole_names(found: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The `found` listed names less those that are part of another found one ("Kishida" beside "Fumio
    Kishida"): how many names a text writes, each once."""
    forms = _name_forms(found)
    return [pair for pair, form in zip(found, forms) if not any(_part_of(form, other) for other in forms)]


def _name_forms(names: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each listed name as matched: Arabic normalised, English lower-cased without a leading "the"."""
    return [(normalize_arabic(arabic), re.sub(r"^the\s+", "", english.lower())) for arabic, english in names]


def _occurs(form: tuple[str, str], normal_text: str) -> bool:
    """Whether a name (as `_name_forms` gives it) is in a text already passed through normalize_arabic."""
    return form[0] in normal_text or re.search(rf"\b{re.escape(form[1])}\b", normal_text) is not None


def _part_of(short: tuple[str, str], full: tuple[str, str]) -> bool:
    """`short` is a listed name made of whole words of the listed name `full` in both scripts («شويغو» and
    "shoigu" of «سيرغي شويغو», "sergei shoigu")."""
    return short != full and all(f" {a} " in f" {b} " for a, b in zip(short, full))


_CHOICE = re.compile(r"\bor\b|(^|\s)(أم|أو)(\s|$)", re.IGNORECASE)


def only_repeats_the_question(answer: str, question: str) -> bool:
    """Every content word of the answer already stands in the question, or its light stem does ("فيتنام." for
    «من التقى كيم في فيتنام عام 2019؟»; «الصواريخ الجديدة يمكن أن تحملها صواريخ الغواصة الجديدة.» for «ما نوع
    الرؤوس التي يمكن أن تحملها صواريخ الغواصة الجديدة؟»): nothing was answered. A choice question ("Putin or
    Kim?") is exempt: its answer is in it."""
    asked = _word_forms(content_words(question))
    words = content_words(answer)
    return bool(words) and not _CHOICE.search(question) and all((_word_forms({w}) | {light_stem(w)}) & asked
                                                                 for w in words)


REPEAT_MIN_WORDS = 3  # shorter answers may rightly say again what the previous one said ("Camp David")
REPEAT_OVERLAP = 0.8


def repeats_the_previous_answer(answer: str, previous: str) -> bool:
    """The answer says again what the previous answer said, and about as much (the two answers' content words
    overlap by REPEAT_OVERLAP or more, Jaccard): a follow-up asks something new, and the default model had
    answered «ومن رافقه في الزيارة؟» with its previous answer word for word. An answer shorter than
    REPEAT_MIN_WORDS, or one sentence of a longer previous answer such as a summary, is not a repeat. (A
    previous 'cannot confirm' that quoted the article is not an answer to repeat: `Engine._held_to_the_chat`
    does not ask.)"""
    plain = content_words(answer)
    words, before = _word_forms(plain), _word_forms(content_words(previous))
    if len(plain) < REPEAT_MIN_WORDS or not before:
        return False
    return len(words & before) / len(words | before) >= REPEAT_OVERLAP


_EN_MONTH = "|".join(calendar.month_name[1:])
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# An English date around a month: "July 20, 2023", "August 20/21, 2023", "the 20th of July", "July 2023",
# "August/September 2019", with the preposition before it.
_EN_DATE_BODY = (
    rf"(?:the\s+)?(?:(?P<day1>{_DAY}(?:\s*[-–/]\s*{_DAY})?)\s+(?:of\s+)?)?"
    rf"\b(?P<month>{_EN_MONTH})(?:\s*/\s*(?P<second>{_EN_MONTH}))?\b"
    rf"(?:\s+(?P<day2>{_DAY}(?:\s*[-–/]\s*{_DAY})?)\b)?(?:,?\s+(?:of\s+)?(?P<year>(?:19|20)\d\d)\b)?")
_EN_DATE = re.compile(rf"(?:\b(?:[Oo]n|[Ii]n|[Dd]uring)\s+)?{_EN_DATE_BODY}")
# A weekday with a date after it: "Sunday, July 19", "Monday the 11th of September 2023".
_EN_WEEKDAY_DATE = re.compile(rf"\b(?P<weekday>{'|'.join(calendar.day_name)}),?\s+{_EN_DATE_BODY}")


def _date_numbers(date: re.Match[str]) -> list[str]:
    """The day and year numbers of an `_EN_DATE_BODY` match."""
    return re.findall(r"\d+", " ".join(date.group(g) or "" for g in ("day1", "day2", "year")))


def with_dates_cut_to_the_month(answer: str, article_text: str, asked_about: Sequence[str] = ()) -> str:
    """The answer with each English date cut to its month when the article names that month and gives none of
    the date's numbers for it ("on July 20, 2023" -> "in July", for the article's «في يوليو/ تموز الماضي»): the
    model adds a day and a year from memory to a month the article gives alone. A number the article writes
    for something else (its sentences hold none of `asked_about`, the Arabic names the question asks about,
    while a sentence with the month does) is cut too: "July 20, 2019" for Shoigu's visit, 2019 being the year
    of the earlier Putin-Kim meeting. Otherwise the date stays whole for the checks to reject: "August 1953"
    puts the article's August (the Camp David summit) on its 1953 (the ceasefire), and cut it would still be
    wrong. A second month the article never names is dropped: the article writes a month by its two names
    («أغسطس/ آب», both August) and the model reads them as two ("August/September"). A weekday before the
    date that the article gives keeps the weekday alone (`to_the_weekday`)."""
    months = _article_months(article_text)
    supported = _article_numbers(article_text)
    sentences = [sentence for _, sentence in _normalized_sentences(article_text)]
    asked = [normalize_arabic(name) for name in asked_about]

    def about_the_question(sentence: str) -> bool:
        return any(name in sentence for name in asked)

    def to_the_weekday(m: re.Match[str]) -> str:
        """"Sunday, July 19" -> "Sunday" where the article gives that weekday (in a sentence about the question,
        when it names what it asks about) and not the date's numbers: measured, "The forum starts on Sunday,
        July 19." for the article's «الذي يبدأ الأحد»."""
        numbers = _date_numbers(m)
        day = re.compile(rf"(?<!\w){_WEEKDAY_IN_ARABIC[m.group('weekday').lower()]}(?!\w)")
        if not numbers or all(n in supported for n in numbers):
            return m.group(0)
        if any(day.search(s) and (not asked or about_the_question(s)) for s in sentences):
            return m.group("weekday")
        return m.group(0)

    def cut(m: re.Match[str]) -> str:
        month = list(calendar.month_name).index(m.group("month"))
        second = list(calendar.month_name).index(m.group("second")) if m.group("second") else 0
        numbers = _date_numbers(m)
        written = [n for n in numbers if n in supported]
        elsewhere = not written or (
            any(about_the_question(s) for s in sentences if month in months_in(s))
            and not any(about_the_question(s) for s in sentences if written_numbers(s) & set(written)))
        if month not in months or second in months or not (numbers or second) or not elsewhere:
            return m.group(0)
        preposition = re.match(r"\s*(on|in|during)\b", m.group(0), re.IGNORECASE)
        lead = ("In " if preposition.group(1)[0].isupper() else "in ") if preposition else ""
        return f"{' ' if m.group(0)[:1].isspace() else ''}{lead}{m.group('month')}"

    return _EN_DATE.sub(cut, _EN_WEEKDAY_DATE.sub(to_the_weekday, answer))


def invented_numbers_reason(text: str, article_text: str) -> str | None:
    if invented := unsupported_numbers(text, article_text):
        return f"numbers_not_in_article numbers={sorted(invented)}"
    if invented := unsupported_dates(text, article_text):
        return f"dates_not_in_article dates={sorted(invented)}"
    if invented := unsupported_months(text, article_text):
        return f"months_not_in_article months={sorted(invented)}"
    return None


def _names_reason(text: str, lang: str, question: str, names: Sequence[tuple[str, str]],
                  sources: str | None) -> str | None:
    """An English answer pasting Arabic text, naming someone not on the names list or gluing listed names
    together; a listed name outside the retrieved passages (`sources`, when given) and the question."""
    english_names = [english for _, english in names]
    if lang == "en" and copied_arabic_run(text):
        return "english_answer_pastes_arabic_text"
    if lang == "en" and english_names:
        unlisted = unsupported_names(text, english_names, question)
        if unlisted:
            return f"names_not_in_article names={sorted(unlisted)}"
        runs = unlisted_name_runs(text, english_names, question)
        if runs:
            return f"names_glued_together names={sorted(runs)}"
    if sources is not None and (outside := names_outside_sources(text, names, sources, question)):
        return f"names_not_in_the_passages names={sorted(outside)}"
    return None


def lasting_reason(text: str, lang: str, question: str, article_text: str, names: Sequence[tuple[str, str]],
                   sources: str | None = None) -> str | None:
    """The checks of `unconfirmed_reason` that more text cannot undo, in its order: a number the article never
    writes, a month and year it never writes together or a month it never names, an English answer pasting
    Arabic text, naming someone not on the names list or gluing listed names together, a listed name outside
    the retrieved passages. Run on the complete sentences streamed so far, one of them firing means the whole
    answer will be rejected, so generation can stop there (measured: a right answer followed by a 150-token
    list of invented references took 27 s)."""
    return invented_numbers_reason(text, article_text) or _names_reason(text, lang, question, names, sources)


def unconfirmed_reason(answer: str, lang: str, question: str, article_text: str, names: Sequence[tuple[str, str]],
                       support: float, min_support: float, vocabulary: set[str], asked: str = "",
                       sources: str | None = None, common: frozenset[str] = frozenset()) -> str | None:
    """Why the answer cannot be confirmed (a log-ready reason), or None when every check passes: a number the
    article never writes, a month and year it never writes together, or a month it never names; a count
    question answered without a number; a "when" question answered without a time, or a "when will" one with a
    year the article gives only for the past; a long answer sharing no
    word with the question; an English answer pasting Arabic text, naming someone not on the names list or
    gluing listed names into an unlisted one; a listed name absent from the retrieved passages (`sources`, when
    given) and the question; a name question answered without a name; an answer that only repeats the
    question; or no passage close to it (`support`, the cosine of the answer to its best passage: measured on
    the evaluation set, invented answers such as "the president of France is ..." sit below 0.30 and right ones
    above; answers of a few words that all occur in the article are exempt, embeddings cannot judge them).
    `question` may carry the previous question too (a follow-up's search text); `asked` is only what was asked
    now, which alone decides what kind of question it is. `names`: the names list as (Arabic, English) pairs,
    empty when the article has none. `common`: the article's topic words (`common_words`), which alone do not
    tie an answer to the question."""
    if reason := invented_numbers_reason(answer, article_text):
        return reason
    if count_without_number(answer, asked or question):
        return "no_number_for_a_count_question"
    if when_without_a_time(answer, asked or question):
        return "no_time_for_a_when_question"
    if where_without_a_place(answer, asked or question, names):
        return "no_place_for_a_where_question"
    if past := past_years_for_a_future_question(answer, asked or question, article_text):
        return f"past_year_for_a_future_question years={sorted(past)}"
    if apart := times_apart_from_the_asked(answer, asked or question, question, article_text, names):
        return f"time_not_given_for_what_is_asked times={sorted(apart)}"
    if off_question(answer, question, common, article_text):
        return "shares_no_word_with_the_question"
    if reason := _names_reason(answer, lang, question, names, sources):
        return reason
    if name_question_without_a_name(answer, asked or question, [name for pair in names for name in pair]):
        return "no_name_for_a_name_question"
    if only_repeats_the_question(answer, asked or question):
        return "answer_only_repeats_the_question"
    if support < min_support and not short_answer_from_article(answer, vocabulary):
        return f"weak_support support={support:.3f}"
    return None

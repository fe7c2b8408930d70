"""Text handling: Arabic normalisation, language detection, article parsing and sentence-aware chunking."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger("articlebot.text")

# --------------------------------------------------------------------------- normalisation

_HARAKAT = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad\u0000]")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي"})
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_WORD = re.compile(r"\w+", re.UNICODE)
_AR_PREFIXES = ("وبال", "وال", "بال", "كال", "فال", "لل", "ال")
ATTACHED_LETTERS = "وفبلك"  # one-letter conjunctions and prepositions written onto an Arabic word


def clean_text(text: str) -> str:
    """Remove invisible direction marks, zero-width characters and NUL bytes; NFC-normalise."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def normalize_arabic(text: str) -> str:
    """Fold spelling variants so matching ignores them: harakat, tatweel, alef forms, ta marbuta,
    alef maqsura, hamza seats, Arabic-Indic digits; Latin is lower-cased."""
    text = clean_text(text)
    text = _HARAKAT.sub("", text).replace(_TATWEEL, "")
    return text.translate(_ALEF).translate(_DIGITS).lower()


def light_stem(token: str) -> str:
    """Strip one common Arabic prefix (the article and its attached conjunctions/prepositions)."""
    for prefix in _AR_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            return token[len(prefix):]
    if token.startswith("و") and len(token) >= 5:
        return token[1:]
    return token


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: normalised words plus their light stems (both, so exact forms still score)."""
    out = []
    for word in _WORD.findall(normalize_arabic(text)):
        if len(word) < 2 and not word.isdigit():
            continue
        out.append(word)
        stem = light_stem(word)
        if stem != word:
            out.append(stem)
    return out


# --------------------------------------------------------------------------- language

_EN_WORDS = frozenset(
    "the a an of to in on and is are was were what who whom where when why how which did does do "
    "he she it they his her their this that with for about from by as at be has have had will would "
    "can could article say says said tell me please summarise summarize summary there any".split()
)
_OTHER_LATIN_WORDS = frozenset(
    # French, Spanish, German, Italian, Portuguese, Turkish, Indonesian function words
    "le la les des est une du qui que quoi où quand pourquoi comment dans avec pour sur "
    "el los las es un una del qué quién dónde cuándo por cómo con para está "
    "der die das ist ein eine und wer wo wann warum wie nicht mit für auf "
    "il lo gli che chi dove perché sono della "
    "o os um uma não quem onde porque "
    "ve bir ne nerede neden nasıl kim bu "
    "yang dan di ke dari apa siapa mana kapan".split()
)


def is_arabic_char(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufefc"


def detect_language(text: str) -> str:
    """'ar', 'en' or 'other', decided from the question itself (not the user's Telegram settings)."""
    letters = [c for c in clean_text(text) if c.isalpha()]
    if not letters:
        return "other"
    arabic = sum(1 for c in letters if is_arabic_char(c))
    latin = sum(1 for c in letters if "a" <= c.lower() <= "z" or "\u00c0" <= c <= "\u024f")
    if arabic >= max(1, 0.4 * len(letters)):
        return "ar"
    if latin < 0.6 * len(letters):
        return "other"  # Cyrillic, CJK, Hebrew, ...
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(w in _EN_WORDS for w in words)
    other = sum(w in _OTHER_LATIN_WORDS for w in words)
    if other > english:
        return "other"
    return "en"


_QUOTED_SPAN = re.compile(r"«[^»]*»")


def answer_language_ok(text: str, lang: str) -> bool:
    """Is an answer written in `lang`? What it quotes «...» is the article's own words, not its language;
    English answers may carry Arabic names, so for English it is enough that a good share of the letters
    are Latin."""
    ratio = arabic_ratio(re.sub(r"\[\d+\]", "", _QUOTED_SPAN.sub("", text)))
    return ratio >= 0.5 if lang == "ar" else ratio <= 0.7


def arabic_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if is_arabic_char(c)) / len(letters)


# --------------------------------------------------------------------------- article

@dataclass(frozen=True)
class Byline:
    """What an article says about itself: title, author, source (the newspaper), republisher, date."""

    title: str = ""
    author: str = ""
    source: str = ""
    republisher: str = ""
    date: str = ""

    # labels for the byline passage, Arabic and English, so a question in either language finds it
    LABELS = (("title", "عنوان المقال (title)"), ("author", "كاتب المقال (author)"),
              ("source", "مصدر المقال، الصحيفة (source, newspaper)"), ("republisher", "أعاد نشره (republished by)"),
              ("date", "تاريخ المقال (date)"))

    def lines(self) -> list[str]:
        return [f"{label}: {getattr(self, name)}" for name, label in self.LABELS if getattr(self, name)]


@dataclass(frozen=True)
class Article:
    title: str
    body: str
    source: str  # the source and republisher, for display
    text: str  # the whole file, offsets refer to it
    body_start: int
    # (Arabic, English) spellings of the article's names, from an optional `<article>.names.tsv`
    names: tuple[tuple[str, str], ...] = ()
    byline: Byline = Byline()

    def byline_text(self) -> str:
        """The byline as the system prompt and the byline passage write it (empty when there is none)."""
        return "\n".join(self.byline.lines())


_TRAILER = re.compile(r"^\s*(::::|_{3,})\s*$", re.M)
TITLE_MAX_WORDS = 30  # a longer first line is a paragraph, not a title
NAME_MAX_WORDS = 4  # an author or source is this many words at most
_QUOTED = re.compile(r"^[\"“«']\s*(.+?)\s*[\"”»']$")
_DATE = re.compile(r"^\s*(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}|"
                   r"\d{1,2}\s+\S+\s+\d{4}|\S+\s+\d{1,2},?\s+\d{4})\s*$")
_TITLE_AUTHOR = re.compile(r"^(?P<title>.+?)\s*(?:،|,|\s[-–|]\s)\s*(?P<author>[^،,]+?)\s*$")


def parse_article(text: str) -> Article:
    """Split a plain-text article into byline and body. A short first line is the title (with the author when
    it ends ", Name"); lines opening with an author word (`bot/lang/data/byline_author.txt`) name the author;
    a date alone on a line is the date; a short quoted last line is the source; a line of '::::' or '___'
    starts the trailer, where a republisher's note (`byline_republished.txt`) names the republisher. A text
    whose first line is a paragraph has no title."""
    from .lang import words

    text = clean_text(text).replace("\r\n", "\n")
    if not text.strip():
        raise ValueError("the article is empty")
    lines = _line_spans(text)
    title = author = date = source = republisher = ""
    body_start = 0
    first = text[lines[0][0]:lines[0][1]].strip()
    if len(lines) > 1 and len(first.split()) <= TITLE_MAX_WORDS:
        title, body_start = first, lines[0][1]
        match = _TITLE_AUTHOR.match(first)
        if match and len(match["author"].split()) <= NAME_MAX_WORDS and len(match["title"].split()) >= 3:
            title, author = match["title"].strip(), match["author"].strip()
    openers = words("byline_author")
    for a, b in lines[1:4]:
        line = text[a:b].strip()
        head, _, rest = line.partition(" ")
        if head.lower().rstrip(":") in openers and 0 < len(rest.split()) <= NAME_MAX_WORDS and not author:
            author, body_start = rest.strip(" :"), b
        elif _DATE.match(line) and not date:
            date, body_start = line, b
        elif line:
            break
    match = _TRAILER.search(text, body_start)
    body_end = match.start() if match else len(text)
    body_lines = [(a, b) for a, b in lines if body_start <= a and b <= body_end and text[a:b].strip()]
    if len(body_lines) > 1:
        last = text[body_lines[-1][0]:body_lines[-1][1]].strip()
        quoted = _QUOTED.match(last)
        if quoted and len(quoted[1].split()) <= NAME_MAX_WORDS:
            source, body_end = quoted[1], body_lines[-1][0]
        elif _DATE.match(last) and not date:
            date, body_end = last, body_lines[-1][0]
    trailer = text[match.start():] if match else ""
    for phrase in words("byline_republished"):
        found = re.search(re.escape(phrase) + r"\s*[“\"«]?([^”\"»:\n]+)", trailer, re.I)
        if found:
            republisher = found.group(1).strip()
            break
    if not source and trailer:
        first_note = next((ln.strip(" _:") for ln in trailer.splitlines() if ln.strip(" _:")), "")
        quoted = _QUOTED.match(first_note)
        source = (quoted[1] if quoted else first_note) if len(first_note.split()) <= NAME_MAX_WORDS else ""
    byline = Byline(title, author, source, republisher, date)
    shown_source = " · ".join(part for part in (source, republisher) if part)
    return Article(title=title, body=text[body_start:body_end], source=shown_source, text=text,
                   body_start=body_start, byline=byline)


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def load_article(path: Path) -> Article:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"article file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"cannot read article {path}: {exc.strerror}") from None
    try:
        article = parse_article(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"article {path} is not UTF-8 text") from None
    return replace(article, names=load_names(names_path(path), article))


def names_path(article_path: Path) -> Path:
    return article_path.with_name(article_path.stem + ".names.tsv")


def load_names(path: Path, article: Article) -> tuple[tuple[str, str], ...]:
    """How English writes the article's names (`Arabic<TAB>English` lines, `#` comments).

    Why: small models mangle Arabic names when they write English (a city name came out "Fladofostok");
    given the spelling they copy it. A name the article does not contain is dropped with a warning, so
    a names file can never bring a name into an answer that the article does not have.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("event=names_unreadable path=%s error=%s", path, exc)
        return ()
    haystack = normalize_arabic(article.text)
    names = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        arabic, _, english = (part.strip() for part in line.partition("\t"))
        if not arabic or not english:
            log.warning("event=names_line_skipped path=%s line=%d reason=not_arabic_tab_english", path.name, number)
        elif normalize_arabic(arabic) not in haystack:
            log.warning("event=names_line_skipped path=%s line=%d reason=not_in_article", path.name, number)
        else:
            names.append((arabic, english))
    return tuple(names)


# --------------------------------------------------------------------------- chunking

@dataclass(frozen=True)
class Chunk:
    id: int
    text: str  # with the overlap from the previous sentence, for embedding and display
    start: int  # offset in Article.text where `text` starts
    core_start: int  # where this chunk's own (non-overlapping) part starts
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


SENTENCE_END = re.compile(r"(?<=[.!?؟…])[\"”»)]*\s+|\n+")
_CLAUSE_END = re.compile(r"(?<=[،؛,;:])\s+")
_ANY_END = re.compile(r"[.!?؟…،؛,;:][\"”»)]*\s+")


def _spans(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def sentence_spans(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Sentences (. ! ? ؟ and line breaks); an over-long sentence is cut at ، ؛ , ; clause ends."""
    out = []
    for a, b in _spans(text, start, end, SENTENCE_END):
        if b - a <= max_chars:
            out.append((a, b))
            continue
        piece_start = a
        last = a
        for ca, cb in _spans(text, a, b, _CLAUSE_END):
            if cb - piece_start > max_chars and last > piece_start:
                out.append((piece_start, last))
                piece_start = ca
            last = cb
        out.append((piece_start, b))
    return out


def _overlap_start(text: str, previous: list[tuple[int, int]], core_start: int, budget: int) -> int:
    """Start of the overlap: the tail of the previous chunk after its last sentence or clause end that
    lies within `budget` characters, so the overlap is a whole clause and stays small."""
    if not previous:
        return core_start
    window_start = max(previous[0][0], core_start - budget)
    match = _ANY_END.search(text, window_start, core_start)
    return match.end() if match and match.end() < core_start else core_start


def chunk_article(article: Article, max_chars: int = 520, overlap: bool = True) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_chars`, never across paragraphs; each chunk
    repeats the last clause of the previous chunk in the same paragraph as a little overlap."""
    text = article.text
    body_end = article.body_start + len(article.body)
    chunks: list[Chunk] = []
    for para_start, para_end in _spans(text, article.body_start, body_end, re.compile(r"\n\s*\n")):
        sentences = sentence_spans(text, para_start, para_end, max_chars)
        group: list[tuple[int, int]] = []
        previous_group: list[tuple[int, int]] = []

        def flush() -> None:
            if not group:
                return
            core_start, end = group[0][0], group[-1][1]
            start = _overlap_start(text, previous_group, core_start, max_chars // 3) if overlap else core_start
            chunks.append(Chunk(len(chunks), text[start:end].strip(), start, core_start, end))

        for span in sentences:
            if group and span[1] - group[0][0] > max_chars:
                flush()
                previous_group, group = group, []
            group.append(span)
        flush()
    if byline := article.byline_text():  # the byline is a passage too: "who wrote it?" is answerable
        chunks.append(Chunk(len(chunks), byline, 0, 0, 0))
    return chunks


def is_byline(chunk: Chunk) -> bool:
    """The byline passage stands at no offset of the article text."""
    return chunk.end <= chunk.start


def chunk_core_text(article: Article, chunk: Chunk) -> str:
    """The chunk without its overlap: used where the whole article is shown once, in order."""
    return chunk.text if is_byline(chunk) else article.text[chunk.core_start:chunk.end].strip()

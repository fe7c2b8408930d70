from pathlib import Path

import pytest

from bot.text import (chunk_article, chunk_core_text, clean_text, detect_language, lexical_tokens, load_article,
                      normalize_arabic, parse_article, sentence_spans)

ARTICLE = Path(__file__).resolve().parent.parent / "index" / "article-ar.txt"


def test_normalize_arabic_folds_spelling_variants():
    assert normalize_arabic("أإآٱ") == "اااا"
    assert normalize_arabic("مدرسة") == "مدرسه"
    assert normalize_arabic("على") == "علي"
    assert normalize_arabic("مُحَمَّد") == "محمد"
    assert normalize_arabic("كـــبير") == "كبير"
    assert normalize_arabic("٢٠١٩ and ۲۰") == "2019 and 20"


def test_clean_text_drops_invisible_marks_and_nul():
    assert clean_text("a\u200fb\u200bc\u0000d\ufeff") == "abcd"


@pytest.mark.parametrize("text,lang", [
    ("أين يتوقع أن يلتقي بوتين وكيم؟", "ar"),
    ("Where are Putin and Kim expected to meet?", "en"),
    ("and when did he go there?", "en"),
    ("Où vont-ils se rencontrer et quand ?", "other"),
    ("¿Dónde se reúnen los presidentes?", "other"),
    ("Где встретятся Путин и Ким?", "other"),
    ("普京和金正恩在哪里见面？", "other"),
    ("🙂🙂", "other"),
    ("Putin و كيم أين؟", "ar"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_lexical_tokens_strip_article_prefix_and_keep_surface_form():
    tokens = lexical_tokens("والرئيس بوتين")
    assert "والرييس" in tokens and "رييس" in tokens
    assert "بوتين" in tokens and "وتين" not in tokens


def test_parse_article_title_body_source():
    article = load_article(ARTICLE)
    assert article.title.startswith("نقلة روسيّة تجاه كوريا") and not article.title.endswith("محمّد")
    assert article.byline.author == "سعيد محمّد", "the title line's ', Name' is the author"
    assert article.byline.source == "الأخبار" and article.byline.republisher == "كنعان"
    assert "الأخبار" in article.source and "كنعان" in article.source
    assert "::::" not in article.body and "ملاحظة من" not in article.body
    assert "فلاديفوستوك" in article.body


@pytest.mark.parametrize("text,expected", [
    ("A headline of some words\nBy Jane Doe\n12 March 2024\n\nThe body. More body.\n\n\"Reuters\"\n",
     {"title": "A headline of some words", "author": "Jane Doe", "date": "12 March 2024", "source": "Reuters"}),
    ("عنوان الخبر هنا اليوم\nبقلم علي حسن\n\nنص الخبر. وتتمة.\n",
     {"title": "عنوان الخبر هنا اليوم", "author": "علي حسن", "date": "", "source": ""}),
])
def test_byline_lines_are_parsed_for_any_article(text, expected):
    article = parse_article(text)
    assert {k: getattr(article.byline, k) for k in expected} == expected
    assert article.body.strip().startswith(("The body", "نص الخبر"))
    assert all(v not in article.body for v in expected.values() if v), "byline lines are not body text"


def test_a_text_opening_with_a_paragraph_has_no_title():
    paragraph = " ".join(["كلمة"] * 40) + "."
    article = parse_article(f"{paragraph}\n\n{paragraph}")
    assert article.title == "" and article.body_start == 0 and article.byline_text() == ""
    assert all(c.end > c.start for c in chunk_article(article)), "no byline passage without a byline"


def test_the_byline_is_a_passage_of_its_own():
    article = load_article(ARTICLE)
    chunks = chunk_article(article)
    byline = [c for c in chunks if c.end <= c.start]
    assert len(byline) == 1 and byline[0].id == len(chunks) - 1
    assert "سعيد محمّد" in byline[0].text and "(author)" in byline[0].text
    assert chunk_core_text(article, byline[0]) == byline[0].text


def test_sentence_spans_split_on_arabic_punctuation():
    text = "جملة أولى؟ جملة ثانية! جملة ثالثة. وأخيرة"
    spans = sentence_spans(text, 0, len(text), max_chars=100)
    assert [text[a:b] for a, b in spans] == ["جملة أولى؟", "جملة ثانية!", "جملة ثالثة.", "وأخيرة"]


def test_long_sentence_is_cut_at_arabic_commas():
    text = "، ".join(["كلمة كلمة كلمة كلمة"] * 40) + "."
    spans = sentence_spans(text, 0, len(text), max_chars=120)
    assert len(spans) > 3
    assert all(b - a <= 120 for a, b in spans)
    assert all(text[b - 1] in "،." for a, b in spans[:-1])


def test_chunks_of_the_article_cover_it_in_order_with_offsets():
    article = load_article(ARTICLE)
    chunks = chunk_article(article, max_chars=520)
    assert 10 <= len(chunks) <= 40
    assert [c.id for c in chunks] == list(range(len(chunks)))
    for previous, chunk in zip(chunks, chunks[1:-1]):
        assert chunk.core_start >= previous.end  # cores never overlap
    for chunk in chunks[:-1]:  # the last is the byline passage
        assert article.text[chunk.start:chunk.end].strip() == chunk.text
        assert len(chunk_core_text(article, chunk)) <= 520
        assert chunk.text[-1] in ".؟!?،؛:”\"" or chunk.end == len(article.text) or article.text[chunk.end] == "\n"
    assert any(c.start < c.core_start for c in chunks), "some chunks carry a little overlap"
    covered = "".join(chunk_core_text(article, c) for c in chunks)
    assert "فلاديفوستوك" in covered and "بكين" in covered


def test_empty_article_is_an_error():
    with pytest.raises(ValueError):
        parse_article("   \n  ")


def test_names_list_is_checked_against_the_article(tmp_path, caplog):
    from bot.text import load_names

    article = parse_article("عنوان\n\nالتقى بوتين بنظيره في فلاديفوستوك.\n")
    names = tmp_path / "a.names.tsv"
    names.write_text("# comment\nفلاديفوستوك\tVladivostok\nبوتين\tPutin\nباريس\tParis\nبلا ترجمة\n",
                     encoding="utf-8")
    with caplog.at_level("WARNING"):
        loaded = load_names(names, article)
    assert loaded == (("فلاديفوستوك", "Vladivostok"), ("بوتين", "Putin"))
    assert "not_in_article" in caplog.text, "a name the article lacks is dropped, never sent to the model"
    assert "not_arabic_tab_english" in caplog.text
    assert load_names(tmp_path / "missing.names.tsv", article) == ()

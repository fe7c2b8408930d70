"""The answer engine: the one object front ends talk to. It owns the models and the index, and turns
a question (plus the chat's history) into a grounded answer with sources, streamed piece by piece.

Front ends never build prompts; the engine never touches Telegram.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .config import Settings
from .faithfulness import (SHORT_ANSWER_WORDS, arabic_months_in, asks_when, asks_where, common_words,
                           content_words, copies_the_article, count_without_number, gives_a_date, lasting_reason,
                           name_words, names_a_place, names_apart_from_the_place, names_in, off_question,
                           repeats_the_previous_answer, sentences_saying, shared_words, unconfirmed_reason,
                           unsupported_numbers, with_dates_cut_to_the_month, without_off_question_opening,
                           words_outside)
from .follow_ups import standalone_query, the_place_named, with_the_person_named, with_the_place_named
from .llm import ChatModel, GenerationStats, LocalLLM
from .llm_remote import RemoteLLM
from .messages import bilingual, closest_quote, message, unconfirmed_with_quote
from .models import resolve_model_path
from .prompts import Prompts
from .retrieval import CHUNK_MAX_CHARS, RRF_K, ArticleIndex, Hit, TextEncoder, load_embedder
from .summary import SUMMARY_SENTENCES, SUMMARY_WORDS, ranked_sentences, summary_sentences
from .text import (SENTENCE_END, Article, Chunk, answer_language_ok, arabic_ratio, chunk_article, chunk_core_text,
                   clean_text, detect_language, load_article, sentence_spans)
from .word_alignment import WordAligner, aligned_enough

log = logging.getLogger("articlebot.engine")

SENTINEL = "NOT_IN_ARTICLE"
# the refusal sentinel as the sentence look also wrote it: "Not_in_article", and sampled, "Нет_in_article"
_SENTINEL_ANY_CASE = re.compile(r"not[_ ]in[_ ]article|\w*_in_article", re.I)
_CITATION = re.compile(r"\[(\d{1,3})\]")
# a run of citations with what separates them ("[3], [6], and [9]"), removed as one so no ", , ," is left
_CITATIONS = re.compile(r"[ \t]*\[\d{1,3}\](?:[ \t]*[,،;]?[ \t]*(?:and[ \t]+|و[ \t]*)?\[\d{1,3}\])*")
# what is left of "The relevant passages are [8], [7] and [3]." once its markers are gone
_PASSAGE_POINTER = re.compile(r"[ \t]*(?:The |These )?(?:relevant |cited |supporting |following )?"
                              r"(?:passages?|sources?|paragraphs?)(?:[ \t]+(?:are|is)[ \t]*:?|:)[ \t]*(?:\.|$)",
                              re.I)
_PARTIAL_CITATION = re.compile(r"\[\d{0,3}$")
_ECHOED_LABEL = re.compile(r"^\s*(?:[^\s:]+\s+){0,4}(?:بالعربية|بالعربيه|العربية|in English)\s*:\s*", re.I)
_STRAY_ARTICLE = re.compile(r"^\s*ال\s+(?=ال)")
_SUMMARY_REQUEST = re.compile(r"\b(summar(y|ise|ize)|sum up|tl;?dr|gist)\b|لخص|لخّص|تلخيص|ملخص|خلاصة", re.I)
ANSWER_RESERVE_TOKENS = 700  # room kept for history, passage numbers and the question
MAX_SOURCES = 3
SOURCE_MARGIN = 0.08  # keep passages this close to the best-supporting one
SPOKEN_TURNS_KEPT = 512  # answered turns remembered verbatim for follow-ups (see Engine._earlier_turns)
KEY_SENTENCE_HITS = 2  # the quoted sentence comes from the top passages only
KEY_SENTENCE_CHARS = 200
CLOSEST_MIN_SIMILARITY = 0.40  # see Engine._with_closest_sentence
CLOSEST_CANDIDATES = 3  # ... which, for a count question, may quote the closest of these that gives a count
SECOND_LOOK_PASSAGES = 2  # passages quoted when a rejected answer is asked again; 0: the closest sentence only
SUMMARY_FORMAT = "2"  # part of a cached summary's key: bump when the summary's layout changes
SUMMARY_TRANSLATION_TRIES = 8  # sentences translated at most for a summary in another language (~5 s each, once)
SENTENCE_LOOK_SENTENCES = 3  # closest sentences the sentence look reads the answer off
SENTENCE_LOOK_PASSAGES = 4  # ... taken from the top retrieved passages
SENTENCE_LOOK_MAX_TOKENS = 60
# not after an invented number: measured, no answer so rejected was mended by the sentence look (it wrote
# another figure: "July/September 2018"), and each of the nine refusals so rejected waited ~6 s longer
SENTENCE_LOOK_SKIPS = ("numbers_not_in_article",)
SECOND_LOOK_MAX_TOKENS = 80  # a fact answer is short; a second runaway answer must not double the wait
# the checks after which a second look may find the answer: the model wrote about something else, or joined a
# month and a year the article writes apart (it read the right place; measured, with the passage quoted it gives
# the year alone: "The Korean War ceasefire happened in 1953", first "in August 1953"). Not after an invented
# name or number: asked again, the model invents again (measured: all rejected answers re-asked turned right
# refusals into answers)
SECOND_LOOK_CHECKS = ("shares_no_word_with_the_question", "answer_only_repeats_the_question",
                      "repeats_the_previous_answer", "names_not_in_the_passages", "dates_not_in_article")
# passages retrieved for the names check (the whole article is in the prompt; the top_k named to the model are
# too few: measured, a right answer's name lay outside them when retrieval missed its passage)
NAME_CHECK_PASSAGES = 8
PASSAGE_NUMBER_SEPARATOR = ", "  # between the "[n]" of the passage hint; every token here delays the answer


@dataclass
class Turn:
    """One question and its answer, as kept in a chat's history."""

    question: str
    answer: str
    language: str
    chunk_ids: list[int] = field(default_factory=list)


@dataclass
class Answer:
    text: str
    language: str
    kind: str  # answer | refusal | unconfirmed | unsupported | empty | summary
    sources: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    query: str = ""
    # the model's own text, when the answer shown is that text with verified citations (else empty)
    raw: str = field(default="", repr=False)
    check: str = ""  # for an unconfirmed answer: the check that rejected it (see faithfulness)
    draft: str = field(default="", repr=False)  # for an unconfirmed answer: the model's rejected text

    def to_dict(self) -> dict:
        return {"answer": self.text, "language": self.language, "kind": self.kind, "query": self.query,
                "sources": [h.to_dict() for h in self.sources], "timings": self.timings,
                **({"check": self.check} if self.check else {})}


@dataclass
class Retraction:
    """In a stream: the text streamed so far is withdrawn (the checks rejected it and the question is being
    asked again); `note` is what to show until new text comes."""

    note: str


class EngineError(RuntimeError):
    """Startup problem (model, article, index) with a message that names the file and the fix."""


class Engine:
    def __init__(self, settings: Settings, article: Article, index: ArticleIndex, embedder: TextEncoder,
                 llm: ChatModel, prompts: Prompts) -> None:
        self.settings = settings
        self.article = article
        self.index = index
        self.embedder = embedder
        self.llm = llm
        self.prompts = prompts
        self._summary_lock = threading.Lock()
        self._spoken: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()  # see _earlier_turns
        self._spoken_lock = threading.Lock()
        self.mode, self.prefix_tokens, self._system = choose_prompt(settings, prompts, llm, article, index.chunks)
        # words an answer may consist of without further checks (see short_answer_from_article)
        self._vocabulary = content_words(" ".join([article.text, *(english for _, english in article.names)]))
        self._common_words = common_words([chunk.text for chunk in index.chunks])  # see faithfulness.off_question
        self._name_words = name_words(article.names)  # see _second_look
        self._aligner = WordAligner(embedder.encode_documents)  # see _outside_sentences

    # ---------------------------------------------------------------- construction

    @classmethod
    def load(cls, settings: Settings, progress: Callable[[str], None] = lambda _msg: None) -> "Engine":
        started = time.perf_counter()
        try:
            article = load_article(settings.article)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        llm_path = None if settings.llm_url else resolve_model_path(settings, settings.llm_model, "gguf")  # fail fast
        embed_path = resolve_model_path(settings, settings.embed_model, "embed")
        prompts = Prompts(settings.prompts_dir)
        # The two slow loads are independent, so they overlap: the embedder and index in one thread, the
        # LLM and its article prefix in another (chunking needs no embeddings, so the prefix is known early).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="load") as pool:
            progress("loading the embedding model and the language model ...")
            embedder_future = pool.submit(load_embedder, embed_path, settings.threads, settings.embed_backend,
                                          settings.embed_dtype, settings.cache_dir, progress)
            llm = load_llm(settings, llm_path)
            _, _, system = choose_prompt(settings, prompts, llm, article, chunk_article(article, CHUNK_MAX_CHARS))
            progress("preparing the article prompt (slow only the first time) ...")
            warm_future = pool.submit(llm.warm, system)
            embedder = embedder_future.result()
            index = ensure_index(settings, article, embedder, progress)
            warm_future.result()
        engine = cls(settings, article, index, embedder, llm, prompts)
        engine.warm()  # no work when the index's chunks gave the same prefix
        log.info("event=engine_ready mode=%s chunks=%d prefix_tokens=%d seconds=%.2f", engine.mode,
                 len(index.chunks), engine.prefix_tokens, time.perf_counter() - started)
        return engine

    def with_overrides(self, **overrides) -> "Engine":
        """This engine's article, index, models and prompts under settings changed by `overrides` (those that
        shape answers: checks, looks, prompts; not model paths or the index location)."""
        return Engine(self.settings.with_overrides(**overrides), self.article, self.index, self.embedder, self.llm,
                      self.prompts)

    def warm(self) -> float:
        return self.llm.warm(self._system)

    # ---------------------------------------------------------------- retrieval

    def retrieve(self, question: str, history: list[Turn], k: int | None = None) -> tuple[str, list[Hit], float]:
        """Hits for the question; a follow-up is searched together with the previous question, and the
        previous turn's passages stay among the candidates. Returns (query, hits, best similarity)."""
        query = standalone_query(question, history) if self.settings.rewrite_follow_ups else question
        texts = [question] if query == question else [question, query]
        vectors = self.embedder.encode_queries(texts)
        k, mode = k or self.settings.top_k, self.settings.retrieval
        ranked: dict[int, float] = {}
        by_id: dict[int, Hit] = {}
        for vector, text in zip(vectors, texts):
            for rank, hit in enumerate(self.index.search(vector, text, k + 2, mode)):
                ranked[hit.chunk.id] = ranked.get(hit.chunk.id, 0.0) + 1.0 / (RRF_K + rank + 1)
                by_id.setdefault(hit.chunk.id, hit)
        if history and query != question:
            for rank, cid in enumerate(history[-1].chunk_ids[:2]):
                if 0 <= cid < len(self.index.chunks):
                    ranked[cid] = ranked.get(cid, 0.0) + 0.5 / (RRF_K + rank + 1)
                    by_id.setdefault(cid, Hit(self.index.chunks[cid], 0.0, None, None))
        best = sorted(ranked, key=lambda cid: (-ranked[cid], cid))[:k]
        hits = [Hit(by_id[cid].chunk, ranked[cid], by_id[cid].dense_rank, by_id[cid].lexical_rank) for cid in best]
        similarity = float(max(self.index.dense_similarity(v).max() for v in vectors))
        return query, hits, similarity

    # ---------------------------------------------------------------- answering

    def stream_answer(self, question: str, history: list[Turn] | None = None,
                      cancel: threading.Event | None = None) -> Iterator[str | Retraction | Answer]:
        """Yield answer text pieces as they are generated, then the final Answer (always last). Before a
        second look, a Retraction withdraws the pieces streamed so far."""
        history = list(history or [])[-self.settings.history_turns:] if self.settings.history_turns else []
        started = time.perf_counter()
        question = clean_text(question).strip()
        if not question:
            yield Answer(bilingual("empty_question"), "other", "empty")
            return
        lang = detect_language(question)
        if lang == "other" and history and len(question.split()) <= 3:
            lang = history[-1].language  # "ok?", "why?" style follow-ups keep the chat's language
        if lang == "other":
            yield Answer(bilingual("unsupported_language"), "other", "unsupported")
            return
        if is_summary_request(question):
            yield from self.stream_summary(lang)
            return
        query, candidates, similarity = self.retrieve(question, history,
                                                      max(self.settings.top_k, NAME_CHECK_PASSAGES))
        hits = candidates[: self.settings.top_k]
        timings = {"retrieval_s": round(time.perf_counter() - started, 4)}
        if similarity < self.settings.min_similarity:
            log.info("event=refused_by_retrieval similarity=%.3f", similarity)
            yield Answer(message("not_in_article", lang), lang, "refusal", hits, timings, query)
            return
        as_turns = self.settings.history_as_turns
        history_block = [] if as_turns else history  # earlier turns written into the question part
        suffix_text = self._question_prompt(question, lang, hits, history_block)
        earlier = self._earlier_turns(history) if as_turns else ()
        final: Answer | None = None
        for item in self._generate(suffix_text, lang, hits, timings, query, self.settings.max_answer_tokens, cancel,
                                   started, earlier=earlier, question=question, candidates=candidates):
            if isinstance(item, Answer):
                final = item
            else:
                yield item
        assert final is not None
        place = the_place_named(question, history, self.article.names)  # what "there" is, if known
        final = self._held_to_the_chat(final, history, place, question)
        retracted = False
        if (final.kind == "unconfirmed" and self.settings.second_look and final.check.startswith(SECOND_LOOK_CHECKS)
                and not (cancel and cancel.is_set())):
            yield Retraction(message("checking", lang))
            retracted = True
            suffix_text, final = self._second_look(question, lang, candidates, history_block, query, started, earlier,
                                                   final)
            final = self._held_to_the_chat(final, history, place, question)
        if (final.kind == "unconfirmed" and self.settings.sentence_look
                and not final.check.startswith(SENTENCE_LOOK_SKIPS) and not (cancel and cancel.is_set())):
            if not retracted:
                yield Retraction(message("checking", lang))
                retracted = True
            final = self._held_to_the_chat(
                self._sentence_look(question, lang, query, candidates, history, started, final, place), history, place,
                question)
        if final.kind == "unconfirmed" and self.settings.closest_sentence:
            final = self._with_closest_sentence(final, query, candidates[:SENTENCE_LOOK_PASSAGES], question)
            if (lang == "en" and self.settings.translated_look and closest_quote(final.text)
                    and not (cancel and cancel.is_set())):
                if not retracted:
                    yield Retraction(message("checking", lang))
                looked = self._held_to_the_chat(self._translated_look(question, query, history, started, final),
                                                history, place, question)
                final = looked if looked.kind == "answer" else final
        if final.raw:
            self._remember_turn(question, final.text, suffix_text, final.raw)
        yield final

    def _held_to_the_chat(self, answer: Answer, history: list[Turn], place: tuple[str, str] | None,
                          question: str) -> Answer:
        """`answer` unconfirmed when, as a follow-up's answer, it misses what the chat already settled: it only
        says again what the previous answer said (`repeats_the_previous_answer`: «ومن رافقه في الزيارة؟» was
        answered with the previous answer, word for word; a previous 'cannot confirm' quoting the article
        answered nothing, and the follow-up's answer may be the sentence it quoted), or it answers a follow-up
        about the `place` the previous answer gave ("and what did they agree to there?", `the_place_named`) with a name the article
        writes only away from it (`names_apart_from_the_place`: "They agreed to stop military talks with
        Russia" for Camp David). Else unchanged; run after each look."""
        if answer.kind != "answer" or not history:
            return answer
        previous = history[-1].answer
        if closest_quote(previous) is None and repeats_the_previous_answer(answer.text, previous):
            check = "repeats_the_previous_answer"
        elif place and (apart := names_apart_from_the_place(answer.text, place, question, self.article.text,
                                                            self.article.names)):
            check = f"names_apart_from_the_place names={sorted(apart)}"
        else:
            return answer
        log.info("event=answer_unconfirmed reason=%s", check)
        return replace(answer, text=message("unconfirmed", answer.language), kind="unconfirmed", raw="",
                       check=check, draft=answer.raw or answer.text)

    def _with_closest_sentence(self, unconfirmed: Answer, query: str, hits: list[Hit], question: str = "") -> Answer:
        """The 'cannot confirm' answer, followed by the top passages' sentence closest to the question, quoted
        verbatim, when it is close enough (CLOSEST_MIN_SIMILARITY): the user reads what the article does say
        instead of a dead end. Measured on the evaluation set's unconfirmed answers: the closest sentence
        held the expected answer for 4 of 10 fact questions the model got wrong (0.45-0.62); for questions
        the article does not answer it stayed below 0.40 where unrelated (GDP, population, soldiers) and
        above where related (the treaty question gets the meeting sentence). The sentence comes from the
        first KEY_SENTENCE_HITS of `hits`; for a count question whose closest sentence gives no count, from
        the closest CLOSEST_CANDIDATES of all `hits` that gives one («كم مصنعاً للأسلحة زار كيم قبل اللقاء؟» had
        been shown the arms-exhibition sentence of passage 7, 0.595, over «... شملت خمسة مصانع ...» of
        passage 3, 0.566, the third passage retrieved)."""
        vector = self.embedder.encode_queries([query])[0]
        closest = self.index.closest_sentence(vector, [h.chunk.id for h in hits[:KEY_SENTENCE_HITS]])
        if closest is not None and count_without_number(closest[1], question):
            counting = [found for found in self.index.closest_sentences(vector, [h.chunk.id for h in hits],
                                                                        CLOSEST_CANDIDATES)
                        if not count_without_number(found[1], question)]
            closest = counting[0] if counting and counting[0][2] >= CLOSEST_MIN_SIMILARITY else closest
        if closest is None or closest[2] < CLOSEST_MIN_SIMILARITY:
            return unconfirmed
        cid, sentence, similarity = closest
        sentence = self._with_the_asked_clause(cid, sentence, question)
        log.info("event=closest_sentence_quoted passage=%d similarity=%.3f", cid + 1, similarity)
        text = unconfirmed_with_quote(unconfirmed.language, cid + 1, sentence)
        return replace(unconfirmed, text=text, sources=[h for h in hits if h.chunk.id == cid])

    def _second_look(self, question: str, lang: str, candidates: list[Hit], history_block: list[Turn], query: str,
                     started: float, earlier: Sequence[tuple[str, str]], first: Answer) -> tuple[str, Answer]:
        """Ask once more, with the retrieved sentence closest to the question quoted next to it (or the top
        SECOND_LOOK_PASSAGES passages), after the checks found that the answer missed the question
        (SECOND_LOOK_CHECKS). A small model often copies a sentence from elsewhere in the long article; with
        the right one in front of it, it finds the answer or says the article does not say. When the rejected
        answer opened by copying the article, the new one may not open with the same token: asked again, the
        model copied the same sentence («في المقابل، ...») with the right passage quoted. Only such answers pay
        for it.
        Returns (the question part asked, the answer to show)."""
        hits = candidates[: self.settings.top_k]
        suffix_text = self._question_prompt(question, lang, hits, history_block, quote=SECOND_LOOK_PASSAGES,
                                            sentence=not SECOND_LOOK_PASSAGES)
        timings = dict(first.timings)
        not_opening = first.draft if copies_the_article(first.draft, self.article.text) else ""
        second = _last(self._generate(suffix_text, lang, hits, timings, query,
                                      min(SECOND_LOOK_MAX_TOKENS, self.settings.max_answer_tokens), None, started,
                                      earlier=earlier, question=question, candidates=candidates,
                                      not_opening=not_opening))
        log.info("event=second_look kind=%s seconds=%.2f", second.kind, timings.get("generation_s", 0.0))
        if second.kind == "answer" and off_question(second.text, query, self._common_words | self._name_words,
                                                    self.article.text):
            log.info("event=answer_unconfirmed reason=second_look_shares_only_names_with_the_question")
        elif second.kind == "answer":
            second.timings.update(first_token_s=first.timings.get("first_token_s", 0.0), second_look=1)
            return suffix_text, second
        first.timings["total_s"] = timings.get("total_s", first.timings.get("total_s", 0.0))
        return suffix_text, first

    def _sentence_look(self, question: str, lang: str, query: str, candidates: list[Hit], history: list[Turn],
                       started: float, first: Answer, place: tuple[str, str] | None = None) -> Answer:
        """Read the answer off the SENTENCE_LOOK_SENTENCES retrieved sentences closest to the question, in a
        short prompt of its own without the article, when the answer is still unconfirmed. With the whole
        article in front of it the small model copies some other sentence of it; with three sentences and the
        question it answers in a few words (measured: «القطار الرئاسي» for «بأي وسيلة سيسافر كيم إلى روسيا؟»,
        "Bakhmut", "Alexei Krivoruchko"), and says NOT_IN_ARTICLE when they do not answer. What it says must
        pass the checks and be made of the quoted sentences: their numbers and, in Arabic, their words (asked
        about figures the article never gives, it wrote «30 مليون», «1953-1954»). An English follow-up
        about the person the previous turn named is asked with the name in place of "he" and without the
        previous question (`with_the_person_named`). Returns `first` otherwise."""
        named = with_the_person_named(question, history, self.article.names) if lang == "en" else question
        named = with_the_place_named(named, place, lang)
        if named != question:
            log.info("event=follow_up_named")
            question, history = named, []
            query = question if place else query
        shown = candidates[:SENTENCE_LOOK_PASSAGES]
        vector = self.embedder.encode_queries([query])[0]
        closest = self.index.closest_sentences(vector, [h.chunk.id for h in shown], SENTENCE_LOOK_SENTENCES)
        if not closest:
            return first
        closest = [(cid, self._with_the_asked_clause(cid, sentence, question), score)
                   for cid, sentence, score in closest]
        closest = [c for c in closest if not any(c[1] != other and c[1] in other for _, other, _ in closest)]
        quoted = " ".join(sentence for _, sentence, _ in closest)
        previous = (self.prompts.fill(f"sentences_previous_{lang}", question=history[-1].question)
                    if history and query != question else "")
        names = self._names_line(quoted, months=asks_when(question)) if lang == "en" else ""
        user = self.prompts.fill(f"sentences_question_{lang}", question=question, previous=previous, names=names,
                                 sentences="\n".join(f"- {sentence}" for _, sentence, _ in closest)).strip()
        ids = {cid for cid, _, _ in closest}
        hits = [h for h in shown if h.chunk.id in ids]
        look = self._short_look("sentence_look", user, lang, hits, query, started, question, quoted, first)
        if look is None:
            return first
        said = {closest[i][0] for i in sentences_saying(look.text, [s for _, s, _ in closest], self.article.names)}
        if cited := [h for h in hits if h.chunk.id in said]:  # the passages whose quoted sentence says it
            look = replace(look, text=_with_citations(look.text, cited), sources=cited)
        return replace(look, raw="")  # a follow-up sees this turn plainly: it was asked under another prompt

    def _translated_look(self, question: str, query: str, history: list[Turn], started: float,
                         unconfirmed: Answer) -> Answer:
        """For an English question, the sentence the 'cannot confirm' answer quotes, translated by the model
        (as a translated summary's sentences are, plus its names' English spellings), and the question asked of
        that translation in the sentence look's prompt (`_short_look`). The default model reads an Arabic
        sentence better when translating it than when answering from it: asked "What did he claim about Putin
        and Kim?" beside «... بوتين وكيم تبادلا رسائل ...» it answered "discussing peace" (8 of 8
        sampled answers wrong), translating the sentence it wrote "exchanged messages". The translation is
        only read, never shown; the answer must pass the sentence look's checks against the Arabic sentence,
        and its aligned words must come from one clause of it (`WordAligner.clauses_used`): off a mistranslated
        sentence the model stitched "Advanced weapons" from «أسلحة» of one clause and «المتقدمة» of another,
        for what Pyongyang could supply. Returns `unconfirmed` otherwise."""
        sentence = closest_quote(unconfirmed.text) or ""
        named = with_the_person_named(question, history, self.article.names)
        translation = self._translation(sentence, "en", self._names_line(sentence)).replace(SENTINEL, "").strip()
        if not translation:
            return unconfirmed
        user = self.prompts.fill("sentences_question_en", question=named, previous="", names="",
                                 sentences=f"- {translation}").strip()
        look = self._short_look("translated_look", user, "en", unconfirmed.sources, query, started, named, sentence,
                                unconfirmed, one_clause=True)
        if look is None:
            return unconfirmed
        return replace(look, text=_with_citations(look.text, unconfirmed.sources), sources=unconfirmed.sources, raw="")

    def _short_look(self, name: str, user: str, lang: str, hits: list[Hit], query: str, started: float,
                    question: str, quoted: str, first: Answer, one_clause: bool = False) -> Answer | None:
        """The answer to `user` in the short prompt of the sentence look (`prompts/sentences_*`), when it passes
        the checks and is read off the `quoted` sentences (`_outside_sentences`; with `one_clause`, its aligned
        English words also come from one clause of them), with its `first_token_s` that of `first` and a
        `name`=1 timing; else None, and `first` gets the time spent. Logs `event=<name>`."""
        timings = dict(first.timings)
        look = _last(self._generate(user, lang, hits, timings, query, SENTENCE_LOOK_MAX_TOKENS, None, started,
                                    question=question, system=self.prompts.text(f"sentences_system_{lang}").strip(),
                                    min_support=0.0))
        reason = look.check or ("" if look.kind == "answer" else look.kind)
        if look.kind == "answer":
            reason = self._outside_sentences(look, quoted, question)
            if not reason and one_clause and len(
                    clauses := self._aligner.clauses_used(look.text, quoted, self._name_words, question)) > 1:
                reason = f"words_from_several_clauses clauses={len(clauses)}"
        log.info("event=%s outcome=%s seconds=%.2f", name, reason or "answer", timings.get("generation_s", 0.0))
        if reason:
            first.timings["total_s"] = timings.get("total_s", first.timings.get("total_s", 0.0))
            return None
        look.timings.update({"first_token_s": first.timings.get("first_token_s", 0.0), name: 1})
        return look

    def _with_the_asked_clause(self, cid: int, sentence: str, question: str) -> str:
        """A sentence piece joined with the clause of its sentence that holds what the question asks
        (`ArticleIndex.with_clause_holding`): for "when", a date; for "where", a place (a listed name after
        «في»/«إلى»). The piece closest to the question names what it asks about, and the answer may be in
        the clause next to it: «... استدعت في أغسطس/ آب الماضي كلاً من ... فوميو كيشيدا،» and «... إلى قمة
        ثلاثية في منتجع كامب ديفيد ...»."""
        if asks_when(question):
            return self.index.with_clause_holding(cid, sentence, gives_a_date)
        if asks_where(question):
            return self.index.with_clause_holding(cid, sentence, lambda text: names_a_place(text, self.article.names))
        return sentence

    def _outside_sentences(self, look: Answer, quoted: str, question: str) -> str:
        """Why a sentence-look answer is not read off the `quoted` sentences (a log-ready reason), or "": a
        number they do not write, an Arabic word that neither they nor the question write, an English answer
        longer than a name, a number or a place most of whose words have no translation among theirs
        (`WordAligner`; measured on the English evaluation questions: "John Kirby claimed that Putin and Kim
        were discussing peace before the meeting" kept 2 of 5 words, "They agreed to open military
        cooperation between the two sides" 9 of 11), or (for answers longer than a few words, which
        embeddings can judge) no retrieved passage close to it."""
        if invented := unsupported_numbers(look.text, quoted):
            return f"numbers_not_in_the_sentences numbers={sorted(invented)}"
        if look.language == "ar" and (outside := words_outside(look.text, f"{quoted} {question}")):
            return f"words_not_in_the_sentences words={sorted(outside)}"
        short = len(content_words(look.text)) <= SHORT_ANSWER_WORDS
        if look.language != "ar" and not short:
            apart, compared = self._aligner.unaligned_words(look.text, quoted, self._name_words, question)
            if not aligned_enough(apart, compared):
                return f"english_words_not_in_the_sentences words={apart}"
        support = max((h.score for h in look.sources), default=0.0)
        if support < self.settings.min_support and not short:
            return f"weak_support support={support:.3f}"
        return ""

    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        return _last(self.stream_answer(question, history))

    def _question_prompt(self, question: str, lang: str, hits: list[Hit], history: list[Turn],
                         quote: int | None = None, sentence: bool | None = None) -> str:
        """The per-question part of the prompt; `quote` passages are repeated in full, or with `sentence` the
        one sentence closest to the question (defaults: the settings)."""
        numbers = PASSAGE_NUMBER_SEPARATOR.join(f"[{h.chunk.id + 1}]" for h in hits)
        passages = ""
        quote = self.settings.quote_passages if quote is None else quote
        sentence = self.settings.quote_sentence if sentence is None else sentence
        shown = hits if self.mode == "retrieval" else hits[:quote]
        if shown:
            body = "\n".join(f"[{h.chunk.id + 1}] {h.chunk.text}" for h in sorted(shown, key=lambda h: h.chunk.id))
            passages = self.prompts.fill("passages", passages=body)
        elif sentence and (key := key_sentence(self._with_arabic_names(question), hits[:KEY_SENTENCE_HITS])):
            passages = self.prompts.fill("passages", passages=f"[{key[0] + 1}] {key[1]}")
        turns = ""
        if history:
            lines = []
            for turn in history:
                lines.append(f"Q: {turn.question}\nA: {_as_context(turn.answer)}")
            turns = self.prompts.fill(f"history_{lang}", turns="\n".join(lines))
        hint = self.prompts.fill("passage_hint", passage_numbers=numbers) if self.settings.passage_hints else ""
        if lang == "en" and self.settings.passage_names and shown:
            hint += self._names_line(" ".join(h.chunk.text for h in shown), months=asks_when(question))
        return self.prompts.fill(f"question_{lang}", history=turns, passages=passages, passage_hint=hint,
                                 question=question)

    def _names_line(self, text: str, months: bool = False) -> str:
        """The listed names that occur in `text`, with their English spelling, as a line to put next to an
        English question. Measured: with the names list only in the system prompt, 3,000 tokens back, the
        default model wrote «فيتنام» as "France" and «فلاديفوستوك» as "Fudafostok" even with the passage
        quoted; with the pairs beside the question, English facts 7 -> 10 of 21 (bench/eval-results.md).
        Beside each sentence of a translated summary it changed which bullets failed, not how many (4 of 8).
        With `months` (for "when" questions) the Arabic month names too: with «أغسطس/ آب» quoted, the model
        answered "September" for when the Camp David summit was held, and "August" with the pair listed. Only
        then: beside a "who" question the longer line turned "Fumio Kishida" into "Shinzo Abe"."""
        listed = names_in(text, self.article.names) + (arabic_months_in(text) if months else [])
        pairs = [f"{arabic} = {english}" for arabic, english in listed]
        return self.prompts.fill("passage_names", names="; ".join(pairs)) if pairs else ""

    def _with_arabic_names(self, question: str) -> str:
        """The question plus the Arabic spelling of the listed names it mentions, so an English question
        can be matched word by word against the Arabic text."""
        words = {w.lower() for w in re.findall(r"[A-Za-z'-]{3,}", question)}
        arabic = [ar for ar, en in self.article.names if any(w.lower() in words for w in en.split())]
        return " ".join([question, *arabic])

    def _remember_turn(self, question: str, answer: str, asked: str, raw: str) -> None:
        with self._spoken_lock:
            self._spoken[(question, answer)] = (asked, raw)
            while len(self._spoken) > SPOKEN_TURNS_KEPT:
                self._spoken.popitem(last=False)

    def _earlier_turns(self, history: list[Turn]) -> list[tuple[str, str]]:
        """The chat's earlier questions and answers as the model's own chat turns.

        A turn this process answered is given back exactly as the model saw and wrote it (the question part
        with its passage numbers, the model's own text): then llama.cpp's cache still holds it when the
        same chat follows up, and only the new question is computed. Other turns are rendered plainly."""
        turns = []
        for turn in history:
            with self._spoken_lock:
                spoken = self._spoken.get((clean_text(turn.question).strip(), turn.answer))
            if spoken:
                turns.append(spoken)
                continue
            lang = turn.language if turn.language in ("ar", "en") else "en"
            asked = self.prompts.fill(f"question_{lang}", history="", passages="", passage_hint="",
                                      question=turn.question)
            turns.append((asked, _as_context(turn.answer)))
        return turns

    def _generate(self, suffix_text: str, lang: str, hits: list[Hit], timings: dict[str, float], query: str,
                  max_tokens: int, cancel: threading.Event | None, started: float,
                  earlier: Sequence[tuple[str, str]] = (), question: str = "",
                  candidates: list[Hit] | None = None, not_opening: str = "",
                  system: str = "", min_support: float | None = None) -> Iterator[str | Answer]:
        """Stream the model's answer to `suffix_text`, then yield the checked Answer. `hits` are the passages
        named to the model; `candidates` (default: `hits`), a wider retrieval, are where the names of the
        answer streamed so far must occur, and the passages the finished answer cites (those closest to it,
        `_cited_sources`) are where its names must occur in the end; the answer may not begin with the first
        token of `not_opening`; `system` replaces the article's, and `min_support` the settings' weak-support
        bound."""
        stats = GenerationStats()
        raw = ""
        sent = 0  # characters of visible text already yielded
        listed, sources = self._check_inputs(candidates or hits)  # what the early checks hold the answer to
        settled = ""  # the part of the answer the early check has seen (see _settled_text)
        doomed = ""  # why the answer will be rejected whatever follows, once the early check knows
        for piece in self.llm.stream(system or self._system, suffix_text, max_tokens, self.settings.temperature,
                                     stats, cancel, earlier=earlier, not_opening=not_opening):
            raw = _SENTINEL_ANY_CASE.sub(SENTINEL, raw + piece)
            body = raw.lstrip()
            if SENTINEL.startswith(body.upper().replace(" ", "_")) or body.startswith(SENTINEL):
                continue  # may still be (or is) the refusal sentinel: show nothing yet
            if SENTINEL in raw:
                break  # the model gave up mid-answer; we keep what it said before
            if self.settings.stop_early and len(now := _settled_text(body)) > len(settled):
                settled = now
                if doomed := lasting_reason(settled, lang, query, self.article.text, listed, sources) or "":
                    log.info("event=generation_stopped_early reason=%s tokens=%d", doomed, stats.completion_tokens)
                    break
            visible = _visible(body)
            if len(visible) > sent:
                yield visible[sent:]
                sent = len(visible)
        text = raw.replace(SENTINEL, "").strip()
        verbatim = SENTINEL not in raw  # the answer shown is the model's own text, citations aside
        timings.update(first_token_s=round(stats.first_token_s + timings.get("retrieval_s", 0), 4),
                       generation_s=round(stats.total_s, 4), total_s=round(time.perf_counter() - started, 4),
                       prompt_tokens=stats.prompt_tokens, evaluated_tokens=stats.evaluated_tokens,
                       completion_tokens=stats.completion_tokens)
        if not text or raw.lstrip().startswith(SENTINEL):
            yield Answer(message("not_in_article", lang), lang, "refusal", hits, timings, query)
            return
        text = without_echoed_instruction(text)
        kept = without_off_question_opening(text, query, self._common_words)
        if kept != text:
            log.info("event=answer_opening_dropped reason=shares_no_word_with_the_question")
            text, verbatim = kept, False
        if lang == "en" and asks_when(question or query) and (cut := self._dates_cut(text, query)) != text:
            log.info("event=dates_cut_to_the_month")
            text, verbatim, doomed = cut, False, ""  # the checks below see the whole answer again
        cited = self._cited_sources(text, hits)  # the citations shown are the verified sources, not the model's
        text = _with_citations(text, cited)
        if doomed:  # stopped early: the rest of the answer was never written
            text, kind, check = message("unconfirmed", lang), "unconfirmed", doomed
        else:
            support = max((h.score for h in cited), default=0.0)
            _, cited_text = self._check_inputs(cited)  # the answer's names must be in the passages it rests on
            text, kind, check = self._faithful(text, lang, support, query, question, listed, cited_text, min_support)
        if kind == "answer" and not answer_language_ok(text, lang):
            log.warning("event=answer_language_mismatch expected=%s arabic_ratio=%.2f", lang, arabic_ratio(text))
        yield Answer(text, lang, kind, cited, timings, query, raw=raw if kind == "answer" and verbatim else "",
                     check=check, draft=raw if kind == "unconfirmed" else "")

    def _dates_cut(self, text: str, query: str) -> str:
        """`text` with its dates cut to the month the article gives (`with_dates_cut_to_the_month`); asked only
        of "when" questions: elsewhere a cut date leaves an answer beside the question ("The US held a summit
        ... in August" for where it was held), worse than the quote the refusal shows."""
        asked_about = [arabic for arabic, _ in names_in(query, self.article.names)]
        return with_dates_cut_to_the_month(text, self.article.text, asked_about)

    def _faithful(self, text: str, lang: str, support: float, query: str, question: str,
                  listed: list[tuple[str, str]], sources: str | None,
                  min_support: float | None = None) -> tuple[str, str, str]:
        """(text, kind, failed check): the answer, or an honest 'cannot confirm' when one of the checks in
        `faithfulness` fails. `query` is what was searched (a follow-up with the previous question), `question`
        what was asked; `listed` is the names list (`_check_inputs`), `sources` the text of the passages the
        answer's names must occur in (None: not checked)."""
        bound = self.settings.min_support if min_support is None else min_support
        reason = unconfirmed_reason(text, lang, query, self.article.text, listed, support, bound, self._vocabulary,
                                    asked=question, sources=sources, common=self._common_words)
        if reason:
            log.info("event=answer_unconfirmed reason=%s", reason)
            return message("unconfirmed", lang), "unconfirmed", reason
        return text, "answer", ""

    def _check_inputs(self, passages: list[Hit]) -> tuple[list[tuple[str, str]], str | None]:
        """The names list and the passages text the checks hold an answer to (per the settings): the passages
        where its names must occur."""
        listed = list(self.article.names) if self.settings.use_names else []
        sources = " ".join(h.chunk.text for h in passages) if self.settings.names_in_passages else None
        return listed, sources

    def _cited_sources(self, text: str, hits: list[Hit]) -> list[Hit]:
        """The passages that support the answer, best first.

        A small model's [n] citations are often wrong, so they are only candidates: the answer itself is
        embedded and compared with the cited and the retrieved passages; those closest to it are kept.
        """
        by_id = {h.chunk.id: h for h in hits}
        for number in _CITATION.findall(text):
            cid = int(number) - 1
            if 0 <= cid < len(self.index.chunks) and cid not in by_id:
                by_id[cid] = Hit(self.index.chunks[cid], 0.0, None, None)
        plain = _CITATION.sub("", text).strip()
        if not plain or not by_id:
            return hits
        vector = self.embedder.encode_queries([plain])[0]
        similarity = self.index.dense_similarity(vector)
        ranked = sorted(by_id, key=lambda cid: -similarity[cid])
        best = similarity[ranked[0]]
        keep = [cid for cid in ranked[:MAX_SOURCES] if similarity[cid] >= best - SOURCE_MARGIN]
        return [Hit(by_id[cid].chunk, float(similarity[cid]), by_id[cid].dense_rank, by_id[cid].lexical_rank)
                for cid in keep]

    # ---------------------------------------------------------------- summary

    def stream_summary(self, lang: str) -> Iterator[str | Answer]:
        """A short summary in `lang`; generated once per language and model, then served from disk."""
        lang = lang if lang in ("ar", "en") else "en"
        started = time.perf_counter()
        cached = self._cached_summary(lang, started)
        if cached is None:
            with self._summary_lock:
                cached = self._cached_summary(lang, started)  # written while we waited for the lock?
                if cached is None:
                    yield from self._generate_summary(lang, started)
                    return
        yield cached.text
        yield cached

    def _generate_summary(self, lang: str, started: float) -> Iterator[str | Answer]:
        """The article's most central sentences (`summary`) as bullets, verbatim in the article's language, in
        article order. In another language each is translated on its own and checked (names, numbers); one
        that fails is left out rather than shown, and the next most central sentence is tried instead, most
        central first, up to SUMMARY_TRANSLATION_TRIES. Each translated bullet names its passage, and a note
        says it is the model's translation: the small default model mistranslates a clause in most long
        sentences ("a shared trade agreement" for joint naval exercises), which the checks cannot see."""
        translated = detect_language(self.article.body) != lang
        if not translated:
            chosen = summary_sentences(self.article, self.embedder)
            bullets = [s.text for s in chosen]
            yield "\n".join(f"- {b}" for b in bullets)
        else:
            chosen, bullets = [], []
            for sentence in ranked_sentences(self.article, self.embedder, SUMMARY_TRANSLATION_TRIES):
                if len(bullets) == SUMMARY_SENTENCES or sum(len(b.split()) for b in bullets) >= SUMMARY_WORDS:
                    break
                chunk = self._chunk_at(sentence.start)  # the passage the translation's names must come from
                listed, sources = self._check_inputs([Hit(chunk, 0.0, None, None)] if chunk else [])
                if bullet := self._translated_sentence(sentence.text, lang, listed, sources):
                    bullet += f" [{chunk.id + 1}]" if chunk else ""  # where to read the original
                    yield ("\n" if bullets else "") + f"- {bullet}"
                    chosen.append(sentence)
                    bullets.append(bullet)
        timings = {"total_s": round(time.perf_counter() - started, 4)}
        if not bullets:
            yield Answer(message("unconfirmed", lang), lang, "unconfirmed", [], timings, check="no_summary_sentence")
            return
        held = {self._chunk_at(s.start) for s in chosen}
        sources = [Hit(c, 0.0, None, None) for c in self.index.chunks if c in held]
        text = "\n".join(f"- {b}" for b in bullets)
        if translated:
            note = message("summary_translated", lang)
            yield "\n" + note
            text += "\n" + note
        final = Answer(text, lang, "summary", sources, timings)
        _write_json(self._summary_path(lang), {"text": final.text, "chunk_ids": [h.chunk.id for h in sources]})
        yield final

    def _chunk_at(self, offset: int) -> Chunk | None:
        """The chunk whose own text (overlap aside) holds the article offset."""
        return next((c for c in self.index.chunks if c.core_start <= offset < c.end), None)

    def _translated_sentence(self, sentence: str, lang: str, listed: list[tuple[str, str]],
                             sources: str | None) -> str:
        """`sentence` in `lang` by the model, or "" when the translation fails a check that more text cannot
        undo (a number the article never writes, a name off the names list or outside the sentence's passage);
        `listed` and `sources` come from `_check_inputs`, as for answers."""
        raw = self._translation(sentence, lang)
        lines = [ln.strip().lstrip("-•* ").strip() for ln in _CITATIONS.sub("", raw.replace(SENTINEL, "")).splitlines()]
        text = next((ln for ln in lines if ln and not ln.endswith(":")), "")  # not a label ("In English:")
        reason = "empty" if not text else lasting_reason(text, lang, "", self.article.text, listed, sources)
        if not reason and not answer_language_ok(text, lang):
            reason = "wrong_language"
        if reason:
            log.info("event=summary_sentence_dropped reason=%s", reason)
            return ""
        return text

    def _translation(self, sentence: str, lang: str, names: str | None = None) -> str:
        """The model's raw translation of an article `sentence` into `lang` (`prompts/summary_sentence_*.txt`),
        with a line of `names` (`_names_line`, may be empty) after it when given."""
        user = self.prompts.fill(f"summary_sentence_{lang}", sentence=sentence)
        user += "" if names is None else f"\n{names}"
        return "".join(self.llm.stream(self._system, user, self.settings.max_summary_tokens, self.settings.temperature))

    def _cached_summary(self, lang: str, started: float) -> Answer | None:
        cached = _read_json(self._summary_path(lang))
        if not cached:
            return None
        ids = set(cached.get("chunk_ids", []))
        hits = [Hit(c, 0.0, None, None) for c in self.index.chunks if c.id in ids]
        return Answer(cached["text"], lang, "summary", hits, {"total_s": round(time.perf_counter() - started, 4), "cached": 1.0})

    def summary(self, lang: str) -> Answer:
        return _last(self.stream_summary(lang))

    def _summary_path(self, lang: str) -> Path:
        key = hashlib.sha256("|".join([SUMMARY_FORMAT, self.llm.fingerprint, self.index.manifest["article_sha256"],
                                       self.prompts.fingerprint(), self._system, lang]).encode()).hexdigest()[:16]
        return self.settings.index_dir / f"summary-{lang}-{key}.json"

    # ---------------------------------------------------------------- info

    def describe(self) -> dict:
        return {"title": self.article.title, "source": self.article.source, "chunks": len(self.index.chunks),
                "mode": self.mode, "llm": self.llm.name, "embedder": str(self.embedder.path.name)}


# -------------------------------------------------------------------- helpers

def ensure_index(settings: Settings, article: Article, embedder: TextEncoder,
                 progress: Callable[[str], None] = lambda _m: None, force: bool = False) -> ArticleIndex:
    """Load the index, rebuilding it by itself when missing, stale (article or embedder changed) or corrupt."""
    directory = settings.index_dir / "article"
    if not force and ArticleIndex.is_fresh(directory, article, embedder.fingerprint):
        try:
            return ArticleIndex.load(directory, article)
        except Exception as exc:  # noqa: BLE001 - any unreadable index is rebuilt
            log.warning("event=index_unreadable dir=%s error=%s", directory, exc)
    progress("building the index ...")
    started = time.perf_counter()
    index = ArticleIndex.build(article, embedder)
    try:
        index.save(directory)
    except OSError as exc:
        log.warning("event=index_not_saved dir=%s error=%s", directory, exc.strerror)
    log.info("event=index_built chunks=%d seconds=%.2f", len(index.chunks), time.perf_counter() - started)
    return index


def load_llm(settings: Settings, path: Path | None) -> ChatModel:
    """The in-process llama.cpp model, or an OpenAI-compatible server when ARTICLEBOT_LLM_URL is set."""
    if settings.llm_url:
        return RemoteLLM(settings.llm_url, settings.llm_server_model, settings.llm_api_key, settings.n_ctx,
                         settings.llm_timeout)
    assert path is not None
    return LocalLLM(path, n_ctx=settings.n_ctx, threads=settings.threads, state_dir=settings.cache_dir / "states",
                    repeat_penalty=settings.repeat_penalty, use_mmap=settings.llm_mmap,
                    lookup_draft=settings.lookup_draft, repack=settings.llm_repack)


def choose_prompt(settings: Settings, prompts: Prompts, llm: ChatModel, article: Article,
                  chunks: list[Chunk]) -> tuple[str, int, str]:
    """(mode, prefix token count, system text): the whole article as a cached prefix when it fits the
    context with room for a question and an answer, else instructions only (retrieved passages go
    into each question)."""
    passages = "\n".join(f"[{c.id + 1}] {chunk_core_text(article, c)}" for c in chunks)
    names = names_parts(prompts, article if settings.use_names else replace(article, names=()))
    system = prompts.fill("system_article", title=article.title, source=article.source, passages=passages, **names)
    prefix = llm.prompt_tokens(system)
    budget = llm.n_ctx - settings.max_answer_tokens - ANSWER_RESERVE_TOKENS
    if settings.prompt_mode == "retrieval" or (settings.prompt_mode != "article" and prefix > budget):
        system = prompts.fill("system_retrieval", title=article.title, source=article.source, **names)
        return "retrieval", llm.prompt_tokens(system), system
    return "article", prefix, system


def names_parts(prompts: Prompts, article: Article) -> dict[str, str]:
    """The names list and the matching rule for English answers, or the copy-the-Arabic rule without one."""
    if not article.names:
        return {"names": "", "names_rule": prompts.text("names_rule_arabic")}
    listing = "\n".join(f"{arabic} = {english}" for arabic, english in article.names)
    return {"names": prompts.fill("names", names=listing), "names_rule": prompts.text("names_rule_list")}


def key_sentence(question: str, hits: list[Hit]) -> tuple[int, str] | None:
    """(chunk id, sentence) of the passages' sentence sharing the most words with the question (a long
    sentence is cut at its clauses), or None when none shares a word. Quoting it next to the question
    costs ~60 tokens instead of a whole passage's ~150."""
    best: tuple[int, int, str] | None = None
    for hit in hits:
        text = hit.chunk.text
        for a, b in sentence_spans(text, 0, len(text), KEY_SENTENCE_CHARS):
            score = len(shared_words(text[a:b], question))
            if score and (best is None or score > best[0]):
                best = (score, hit.chunk.id, text[a:b].strip())
    return (best[1], best[2]) if best else None


def is_summary_request(question: str) -> bool:
    """'Summarise the article in three sentences', 'ما ملخص المقال؟': served by the (cached) summary."""
    return bool(_SUMMARY_REQUEST.search(question)) and len(question.split()) <= 12


def without_echoed_instruction(text: str) -> str:
    """The answer without what the small model sometimes writes before it: a label echoing the language line
    («بالعربية:», «إليك الإجابة بالعربية:», "Answer in English:") or a stray article before a word that has
    one («ال المنتدى»). Measured on the evaluation set: 6 of 29 Arabic answers began so."""
    text = _ECHOED_LABEL.sub("", text, count=1)
    return _STRAY_ARTICLE.sub("", text, count=1)


def _settled_text(body: str) -> str:
    """The part of a streamed answer that will stay in it as it is: its complete sentences after the first
    one (the final answer may drop a copied first sentence, see without_off_question_opening), up to the
    end of the last sentence boundary, line breaks and list markers ("1. ") kept as the final checks see them."""
    text = without_echoed_instruction(body.lstrip())
    boundaries = [m for m in SENTENCE_END.finditer(text) if m.start() > 0]
    if len(boundaries) < 2:
        return ""
    return text[boundaries[0].end(): boundaries[-1].end()]


def _with_citations(text: str, cited: list[Hit]) -> str:
    """`text` with its own [n] markers replaced by the verified sources' numbers."""
    plain = _PASSAGE_POINTER.sub("", _CITATIONS.sub("", text)).rstrip()
    return plain + " " + "".join(f"[{h.chunk.id + 1}]" for h in cited)


def _visible(text: str) -> str:
    """What may be shown while streaming: the model's own [n] markers are dropped (the final answer
    carries verified ones), and a marker still being written is held back."""
    return _PARTIAL_CITATION.sub("", _CITATIONS.sub("", text))


def _as_context(answer: str) -> str:
    """An earlier answer as the model is shown it: an "I could not confirm" reply that quoted the article is
    given as the quoted sentence alone. Measured: shown the canned sentence, the default model repeated it as
    its next answer ("And what did they agree to there?"), and the quote is what the user read and may be
    asking about (follow-ups 8 -> 9 of 12: «وبماذا حث الجانب الكوري؟» after Watson's sentence was quoted)."""
    return _shorten(closest_quote(answer) or answer, 300)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _last(stream: Iterator[str | Answer]) -> Answer:
    final = None
    for item in stream:
        final = item
    assert isinstance(final, Answer)
    return final


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("event=cache_not_written path=%s error=%s", path, exc.strerror)


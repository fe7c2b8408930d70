"""Runs the answer stages in order, once each: understand -> retrieve -> prompt -> generate (an Arabic
question's free draft, aligned onto the article; the constrained quote where that finds nothing) -> check ->
deliver. The one owner of timings and cancellation; front ends read what `stream` yields."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from ..config import Settings
from ..llm import ChatModel, GenerationStats
from ..messages import message
from ..prompts import Prompts
from ..retrieval import ArticleIndex, Hit, TextEncoder
from . import align, checks
from .generate import Generated, stream_draft, stream_line, stream_quote
from .prompt import quote_prompt, translation_prompt
from .retrieve import Sentence, retrieve
from .types import Answer, Kind, Query, Retraction, Turn
from .understand import understand

log = logging.getLogger("articlebot.answer")

QUOTE_MAX_TOKENS = 48  # a quote is a phrase; longer is the model copying on
TRANSLATION_MAX_TOKENS = 60

StreamItem = str | Retraction | Answer


@dataclass
class ArticleContext:
    """What the pipeline reads: the index (chunks and vectors) and the system text holding the article (or
    only instructions, in the retrieval layout)."""

    index: ArticleIndex
    system: str
    names: tuple[tuple[str, str], ...] = ()  # the optional names list: (Arabic, English) spellings


class AnswerPipeline:
    def __init__(self, settings: Settings, article: ArticleContext, embedder: TextEncoder, llm: ChatModel,
                 prompts: Prompts, summarize: Callable[[str], Iterator[StreamItem]]) -> None:
        self.settings = settings
        self.article = article
        self.embedder = embedder
        self.llm = llm
        self.prompts = prompts
        self.summarize = summarize

    def stream(self, question: str, history: list[Turn] | None = None,
               cancel: threading.Event | None = None) -> Iterator[StreamItem]:
        """Text pieces as they are generated, then the final Answer (always last)."""
        started = time.perf_counter()
        query = understand(question, list(history or []), self.settings.history_turns)
        if isinstance(query, Answer):
            yield query
            return
        if query.summary:
            yield from self.summarize(query.language)
            return
        index = self.article.index
        shown = self.settings.quote_sentences_en if query.language == "en" else self.settings.quote_sentences_ar
        found = retrieve(index, self.embedder, query, self.settings.top_k, self.settings.retrieval, shown)
        timings: dict[str, float] = {"retrieval_s": round(time.perf_counter() - started, 4)}
        lang = query.language
        if found.similarity < self.settings.min_similarity:
            log.info("event=refused_by_retrieval similarity=%.3f", found.similarity)
            yield self._finish(Answer(message("not_in_article", lang), lang, Kind.REFUSAL, found.hits, timings,
                                      query.search_text), started)
            return
        sources = [sentence.text for sentence in found.sentences]
        quote, stats, draft = Generated(), GenerationStats(), GenerationStats()
        if lang == "ar":  # English drafts come out in English: nothing to align them onto
            yield from self._drafted(query, found.sentences, sources, quote, draft, cancel)
        if not quote.text and not (cancel is not None and cancel.is_set()):  # cancelled: no second pass
            gated = hasattr(self.llm, "span_constraint")  # the refusal sentinel needs the confidence gate
            user = quote_prompt(self.prompts, query, found.sentences, offer_refusal=gated)
            yield from stream_quote(self.llm, self.article.system, user, sources, QUOTE_MAX_TOKENS, quote, stats,
                                    cancel, show=lang == "ar" and not quote.shown,
                                    temperature=self.settings.temperature,
                                    refusal_confidence=self.settings.refusal_confidence)
            if quote.shown and quote.text:
                yield Retraction(quote.text)
        first = draft.first_token_s if quote.shown or not stats.total_s else draft.total_s + stats.first_token_s
        timings.update(first_token_s=round(timings["retrieval_s"] + first, 4),
                       quote_s=round(draft.total_s + stats.total_s, 4),
                       prompt_tokens=draft.prompt_tokens + stats.prompt_tokens,
                       evaluated_tokens=draft.evaluated_tokens + stats.evaluated_tokens,
                       completion_tokens=draft.completion_tokens + stats.completion_tokens)
        if quote.refused or not quote.text:
            log.info("event=answer_refused by=model")
            yield self._finish(Answer(message("not_in_article", lang), lang, Kind.REFUSAL, found.hits, timings,
                                      query.search_text), started)
            return
        if not quote.constrained and not (verdict := checks.quoted(quote.text, sources)).ok:
            yield from self._unconfirmed(query, found.hits, timings, started, verdict.check, quote.text)
            return
        evidence = next((sentence for sentence in found.sentences if checks.quoted(quote.text, [sentence.text]).ok),
                        found.sentences[0])
        cited = self._cited(evidence)
        marker = f" [{evidence.chunk_id + 1}]"
        short = quote.text if lang == "ar" else (yield from self._in_english(query, quote.text, timings, cancel))
        evidence_line = f"{marker}\n«{evidence.text}»"  # verbatim: a translation would add the model's errors
        yield evidence_line
        text = short + evidence_line
        log.info("event=answer_quoted chars=%d passage=%d", len(quote.text), evidence.chunk_id + 1)
        yield self._finish(Answer(text, lang, Kind.ANSWER, cited, timings, query.search_text, raw=quote.text,
                                  short=short), started)

    # ---------------------------------------------------------------- stages' helpers

    def _drafted(self, query: Query, sentences: list[Sentence], sources: list[str], quote: Generated,
                 stats: GenerationStats, cancel: threading.Event | None) -> Iterator[StreamItem]:
        """The model's free answer aligned onto the closest span of the sentences it was shown (`sources`,
        their texts): `quote.text`, left empty when no word of the draft is in them (the constrained quote is
        asked for then)."""
        user = quote_prompt(self.prompts, query, sentences, offer_refusal=False)
        yield from stream_draft(self.llm, self.article.system, user, sources, QUOTE_MAX_TOKENS, quote, stats,
                                cancel, self.settings.temperature)
        span = align.best_span(quote.text, sources)
        log.info("event=draft_aligned score=%.2f", span.score if span else 0.0)
        quote.text = span.text if span else ""
        if span and quote.shown and not span.text.startswith(quote.shown):
            yield Retraction(span.text)
        elif span and len(span.text) > len(quote.shown):
            yield span.text[len(quote.shown):]
        quote.constrained = bool(span)  # verbatim by construction

    def _in_english(self, query: Query, span: str, timings: dict[str, float],
                    cancel: threading.Event | None) -> Iterator[StreamItem]:
        """The Arabic quote said in English for an English question; when the wording fails a check (a figure
        the quote does not write, not English), the quote itself is given, marked as the article's words."""
        wording, stats = Generated(), GenerationStats()
        pieces = []
        user = translation_prompt(self.prompts, query, span, self.article.names)
        for piece in stream_line(self.llm, self.article.system, user, TRANSLATION_MAX_TOKENS, wording, stats, cancel,
                                 self.settings.temperature):
            pieces.append(piece)
            yield piece
        timings.update(translation_s=round(stats.total_s, 4),
                       first_token_s=round(timings["retrieval_s"] + timings["quote_s"] + stats.first_token_s, 4))
        text = wording.text
        failed = next((v for v in (checks.numbers_kept(text, span), checks.in_language(text, "en")) if not v.ok), None)
        if failed or wording.refused or not text:
            log.info("event=wording_rejected check=%s", failed.check if failed else "empty")
            kept = message("article_words", "en", quote=span)
            if pieces:
                yield Retraction(kept)
            return kept
        return text

    def _cited(self, evidence: Sentence) -> list[Hit]:
        """The passage the quote's sentence stands in."""
        return [Hit(self.article.index.chunks[evidence.chunk_id], evidence.similarity, None, None)]

    def _unconfirmed(self, query: Query, hits: list[Hit], timings: dict[str, float], started: float, check: str,
                     draft: str) -> Iterator[StreamItem]:
        log.info("event=answer_unconfirmed reason=%s", check)
        if query.language == "ar":
            yield Retraction(message("unconfirmed", query.language))
        yield self._finish(Answer(message("unconfirmed", query.language), query.language, Kind.UNCONFIRMED, hits,
                                  timings, query.search_text, check=check, draft=draft), started)

    @staticmethod
    def _finish(answer: Answer, started: float) -> Answer:
        answer.timings["total_s"] = round(time.perf_counter() - started, 4)
        return answer

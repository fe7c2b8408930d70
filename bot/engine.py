"""The answer engine: the one object front ends talk to. It loads the models and the index and hands a
question to the answer pipeline (`bot/answer/`); it serves the cached summary.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

from .answer import checks
from .answer.pipeline import AnswerPipeline, ArticleContext, StreamItem
from .answer.types import Answer, Kind, Retraction, Turn
from .answer.retrieve import retrieve
from .answer.understand import asks_for_summary, understand
from .config import Settings
from .llm import ChatModel, LocalLLM
from .llm_remote import RemoteLLM
from .messages import message
from .models import resolve_model_path
from .progress import step
from .prompts import Prompts
from .retrieval import CHUNK_MAX_CHARS, ArticleIndex, Hit, TextEncoder, load_embedder
from .summary import SUMMARY_SENTENCES, SUMMARY_WORDS, ranked_sentences, summary_sentences
from .text import Article, Chunk, chunk_article, chunk_core_text, detect_language, load_article

__all__ = ["Answer", "Engine", "EngineError", "Kind", "Retraction", "Turn", "is_summary_request"]

log = logging.getLogger("articlebot.engine")

_CITATION = re.compile(r"\s*\[\d{1,3}\]")  # the model's own passage markers: bullets carry verified ones
ANSWER_RESERVE_TOKENS = 900  # room kept for history, sentences, the question and the answer
SUMMARY_FORMAT = "3"  # part of a cached summary's key: bump when the summary's layout changes
SUMMARY_TRANSLATION_TRIES = 8  # sentences translated at most for a summary in another language


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
        self.mode, self.prefix_tokens, self._system = choose_prompt(settings, prompts, llm, article, index.chunks)
        context = ArticleContext(index, self._system, article.names)
        self.pipeline = AnswerPipeline(settings, context, embedder, llm, prompts, self.stream_summary)

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
                                          "auto", settings.cache_dir, progress)
            llm = load_llm(settings, llm_path)
            _, _, system = choose_prompt(settings, prompts, llm, article, chunk_article(article, CHUNK_MAX_CHARS))
            warm_future = pool.submit(llm.warm, system)
            embedder = embedder_future.result()
            index = ensure_index(settings, article, embedder, progress)
            warm_future.result()
        engine = cls(settings, article, index, embedder, llm, prompts)
        engine.warm()  # no work when the index's chunks gave the same prefix
        log.info("event=engine_ready mode=%s chunks=%d prefix_tokens=%d seconds=%.2f", engine.mode,
                 len(index.chunks), engine.prefix_tokens, time.perf_counter() - started)
        return engine

    @classmethod
    def for_article(cls, settings: Settings, article: Article, embedder: TextEncoder, llm: ChatModel,
                    prompts: Prompts) -> "Engine":
        """An engine for another article with models already loaded; its index is built in memory."""
        return cls(settings, article, ArticleIndex.build(article, embedder), embedder, llm, prompts)

    def with_overrides(self, **overrides) -> "Engine":
        """This engine's article, index, models and prompts under settings changed by `overrides`."""
        return Engine(self.settings.with_overrides(**overrides), self.article, self.index, self.embedder, self.llm,
                      self.prompts)

    def warm(self) -> float:
        return self.llm.warm(self._system)

    # ---------------------------------------------------------------- answering

    def retrieve(self, question: str, history: list[Turn], k: int | None = None) -> tuple[str, list[Hit], float]:
        """(search text, passages, best similarity) as the answer path retrieves them for `question`."""
        query = understand(question, history, self.settings.history_turns)
        if isinstance(query, Answer):
            return question, [], 0.0
        found = retrieve(self.index, self.embedder, query, k or self.settings.top_k, self.settings.retrieval)
        return query.search_text, found.hits, found.similarity

    def stream_answer(self, question: str, history: list[Turn] | None = None,
                      cancel: threading.Event | None = None) -> Iterator[StreamItem]:
        """Yield answer text pieces as they are generated, then the final Answer (always last). A Retraction
        withdraws the pieces streamed so far."""
        yield from self.pipeline.stream(question, history, cancel)

    def answer(self, question: str, history: list[Turn] | None = None) -> Answer:
        return _last(self.stream_answer(question, history))

    def example_question(self, lang: str) -> str:
        """A question this article answers, for /start: the model asks one of the article's most central
        sentence (`prompts/example_question_*.txt`), once per article, model and language, then from disk.
        Falls back to asking for the summary when the model writes no question."""
        lang = lang if lang in ("ar", "en") else "en"
        path = self._summary_path(lang).with_name(self._summary_path(lang).name.replace("summary-", "example-"))
        if cached := _read_json(path):
            return cached["question"]
        central = ranked_sentences(self.article, self.embedder, 1)
        question = ""
        if central:
            user = self.prompts.fill(f"example_question_{lang}", sentence=central[0].text)
            written = "".join(self.llm.stream(self._system, user, 40, 0.0)).strip().splitlines()
            question = written[0].strip(" -*\"«»") if written else ""
        if not question.endswith(("?", "؟")) or detect_language(question) != lang:
            return message("example_fallback", lang)
        _write_json(path, {"question": question})
        return question

    # ---------------------------------------------------------------- summary

    def stream_summary(self, lang: str) -> Iterator[StreamItem]:
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

    def _generate_summary(self, lang: str, started: float) -> Iterator[StreamItem]:
        """The article's most central sentences (`summary`) as bullets, verbatim in the article's language, in
        article order. In another language each is translated on its own and checked (numbers, language); one
        that fails is left out and the next most central sentence is tried, up to SUMMARY_TRANSLATION_TRIES.
        Each translated bullet names its passage, and a note says it is the model's translation."""
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
                chunk = self._chunk_at(sentence.start)
                if bullet := self._translated_sentence(sentence.text, lang):
                    bullet += f" [{chunk.id + 1}]" if chunk else ""  # where to read the original
                    yield ("\n" if bullets else "") + f"- {bullet}"
                    chosen.append(sentence)
                    bullets.append(bullet)
        timings = {"total_s": round(time.perf_counter() - started, 4)}
        if not bullets:
            yield Answer(message("unconfirmed", lang), lang, Kind.UNCONFIRMED, [], timings, check="no_summary_sentence")
            return
        held = {self._chunk_at(s.start) for s in chosen}
        sources = [Hit(c, 0.0, None, None) for c in self.index.chunks if c in held]
        text = "\n".join(f"- {b}" for b in bullets)
        if translated:
            note = message("summary_translated", lang)
            yield "\n" + note
            text += "\n" + note
        final = Answer(text, lang, Kind.SUMMARY, sources, timings)
        _write_json(self._summary_path(lang), {"text": final.text, "chunk_ids": [h.chunk.id for h in sources]})
        yield final

    def _chunk_at(self, offset: int) -> Chunk | None:
        """The chunk whose own text (overlap aside) holds the article offset."""
        return next((c for c in self.index.chunks if c.core_start <= offset < c.end), None)

    def _translated_sentence(self, sentence: str, lang: str) -> str:
        """`sentence` in `lang` by the model, or "" when the translation fails a check (a number the sentence
        does not write, the wrong language)."""
        user = self.prompts.fill(f"summary_sentence_{lang}", sentence=sentence)
        raw = "".join(self.llm.stream(self._system, user, self.settings.max_summary_tokens, 0.0))
        lines = [_CITATION.sub("", ln).strip().lstrip("-•* ").strip() for ln in raw.splitlines()]
        text = next((ln for ln in lines if ln and not ln.endswith(":")), "")  # not a label ("In English:")
        failed = next((v for v in (checks.numbers_kept(text, sentence), checks.in_language(text, lang))
                       if not v.ok), None) if text else checks.Verdict(False, "empty")
        if failed:
            log.info("event=summary_sentence_dropped reason=%s", failed.check)
            return ""
        return text

    def _cached_summary(self, lang: str, started: float) -> Answer | None:
        cached = _read_json(self._summary_path(lang))
        if not cached:
            return None
        ids = set(cached.get("chunk_ids", []))
        hits = [Hit(c, 0.0, None, None) for c in self.index.chunks if c.id in ids]
        return Answer(cached["text"], lang, Kind.SUMMARY, hits,
                      {"total_s": round(time.perf_counter() - started, 4), "cached": 1.0})

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
    started = time.perf_counter()
    with step("building the index"):
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
                    repeat_penalty=settings.repeat_penalty, lookup_draft=settings.lookup_draft,
                    slots=settings.slots)


def choose_prompt(settings: Settings, prompts: Prompts, llm: ChatModel, article: Article,
                  chunks: list[Chunk]) -> tuple[str, int, str]:
    """(mode, prefix token count, system text): the whole article as a cached prefix when it fits the
    context with room for a question and an answer, else instructions only (retrieved passages go
    into each question)."""
    passages = "\n".join(f"[{c.id + 1}] {chunk_core_text(article, c)}" for c in chunks)
    byline = article.byline_text()
    system = prompts.fill("system_article", byline=byline, passages=passages)
    prefix = llm.prompt_tokens(system)
    if prefix > llm.n_ctx - ANSWER_RESERVE_TOKENS:
        system = prompts.fill("system_retrieval", byline=byline)
        return "retrieval", llm.prompt_tokens(system), system
    return "article", prefix, system


def is_summary_request(question: str) -> bool:
    """'Summarise the article in three sentences', 'ما ملخص المقال؟': served by the (cached) summary."""
    return asks_for_summary(question)


def _last(stream: Iterator[StreamItem]) -> Answer:
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

"""Telegram handlers: small async functions with one job each. They check access, turn updates into
questions for the fair queue, and deliver what the engine streams. No prompts here."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections import deque
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Iterator

from telegram import Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from ..config import Settings
from ..engine import Answer, Engine, Retraction, Turn
from ..llm import LLMError, LLMUnavailable
from ..messages import message
from ..text import clean_text, detect_language
from .delivery import StreamingReply, rtl, send_html, split_message
from .queue import FairQueue, Job, QueueFull, TooManyPending
from .ratelimit import UserRateLimit
from .store import ChatStore, StoreError

log = logging.getLogger("articlebot.telegram")


@dataclass
class Stats:
    answers: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=500))  # bounded for long runs

    def p50(self) -> float:
        values = sorted(self.latencies)
        return values[len(values) // 2] if values else 0.0


@dataclass
class BotContext:
    """What the handlers share; stored in application.bot_data['ctx']."""

    settings: Settings
    engine: Engine
    store: ChatStore
    queue: FairQueue
    rate_limit: UserRateLimit
    stats: Stats = field(default_factory=Stats)


def ctx_of(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.application.bot_data["ctx"]


def user_language(update: Update, store: ChatStore) -> str:
    """The chat's last question language, else the user's Telegram language, else English."""
    chat = update.effective_chat
    known = store.language(chat.id) if chat else None
    if known in ("ar", "en"):
        return known
    code = (update.effective_user.language_code or "") if update.effective_user else ""
    return "ar" if code.startswith("ar") else "en"


def allowed(update: Update, settings: Settings) -> bool:
    user = update.effective_user
    chat = update.effective_chat
    if settings.allowed_users and (user is None or user.id not in settings.allowed_users):
        if not (settings.allowed_chats and chat and chat.id in settings.allowed_chats):
            return False
    if settings.allowed_chats and not settings.allowed_users and (chat is None or chat.id not in settings.allowed_chats):
        return False
    return True


async def reply(update: Update, text_html: str) -> None:
    """Reply with HTML, split on sentence ends when longer than one Telegram message allows."""
    if update.effective_message is None:
        return
    for i, part in enumerate(split_message(text_html)):
        await send_html(update.get_bot(), update.effective_chat.id, part,
                        update.effective_message.message_id if i == 0 else None)


async def say(update: Update, store: ChatStore, key: str, lang: str | None = None, **values: object) -> None:
    """Reply with one of the fixed texts, escaped, in the chat's language (right to left for Arabic)."""
    lang = lang or user_language(update, store)
    await reply(update, rtl(html.escape(message(key, lang, **values)), lang))


def forget_jobs(ctx: BotContext, jobs: list[Job]) -> None:
    """Dropped jobs are no longer owed an answer (a running one clears itself when it stops)."""
    for job in jobs:
        if job not in ctx.queue.running:
            ctx.store.remove_pending(job.chat_id, job.payload["reply_to"])


async def drop_redelivered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: a message handled before a crash is not handled again."""
    msg = update.message
    if msg is not None and not ctx_of(context).store.first_time(msg.chat_id, msg.message_id):
        log.info("event=update_redelivered chat=%s message=%s action=ignored", msg.chat_id, msg.message_id)
        raise ApplicationHandlerStop


async def tell_to_ask_again(bot, store: ChatStore) -> int:
    """After a restart or on shutdown: everyone whose question was accepted but not answered is told."""
    told = 0
    for chat_id, message_id, lang in store.pending():
        try:
            await send_html(bot, chat_id, html.escape(rtl(message("restarted", lang), lang)), message_id)
            told += 1
        except TelegramError as exc:
            log.warning("event=restart_notice_failed chat=%s error=%s", chat_id, type(exc).__name__)
            continue
        store.remove_pending(chat_id, message_id)
    return told


async def check_access(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    ctx = ctx_of(context)
    if allowed(update, ctx.settings):
        return True
    log.info("event=access_denied user=%s chat=%s", update.effective_user.id if update.effective_user else None,
             update.effective_chat.id if update.effective_chat else None)
    if update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
        await say(update, ctx.store, "not_allowed")
    return False


# ---------------------------------------------------------------------------- commands

async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    info = ctx.engine.describe()
    values = {"title": html.escape(info["title"]), "source": html.escape(info["source"])}
    examples = {lang: html.escape(await asyncio.to_thread(ctx.engine.example_question, lang)) for lang in ("ar", "en")}
    text = (rtl(message("welcome", "ar", **values, example=examples["ar"]), "ar") + "\n\n"
            + message("welcome", "en", **values, example=examples["en"]))
    await reply(update, text)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    await reply(update, rtl(html.escape(message("help", "ar")), "ar") + "\n\n" + html.escape(message("help", "en")))


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    forget_jobs(ctx, ctx.queue.cancel_chat(update.effective_chat.id))
    ctx.store.reset(update.effective_chat.id)
    await say(update, ctx.store, "reset_done")


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    jobs = ctx.queue.cancel_chat(update.effective_chat.id)
    forget_jobs(ctx, jobs)
    await say(update, ctx.store, "cancelled" if jobs else "nothing_to_cancel")


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    lang = user_language(update, ctx.store)
    ids = ctx.store.last_sources(update.effective_chat.id)
    chunks = [c for i in ids for c in ctx.engine.index.chunks if c.id == i]
    if not chunks:
        await say(update, ctx.store, "no_sources", lang)
        return
    lines = [f"<b>{html.escape(message('sources_header', lang))}</b>"]
    for chunk in chunks:
        lines.append(f"<b>[{chunk.id + 1}]</b> {html.escape(chunk.text)}")
    await reply(update, rtl("\n\n".join(lines), "ar"))


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    arg = (context.args[0].lower() if context.args else "")
    lang = arg if arg in ("ar", "en") else user_language(update, ctx.store)
    await enqueue(update, context, lang, lambda cancel: ctx.engine.stream_summary(lang), question=None)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask QUESTION: the way to ask in a group without mentioning the bot."""
    question = " ".join(context.args or [])
    await handle_question(update, context, question)


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx = ctx_of(context)
    user = update.effective_user
    if user is None or user.id not in ctx.settings.admins:
        await unknown_command(update, context)
        return
    await reply(update, f"queue: {len(ctx.queue)} waiting, {len(ctx.queue.running)} running of {ctx.queue.slots}\n"
                        f"answers served: {ctx.stats.answers}\nerrors: {ctx.stats.errors}\n"
                        f"p50 answer time: {ctx.stats.p50():.2f} s")


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await check_access(update, context):
        return
    if update.effective_chat and update.effective_chat.type != ChatType.PRIVATE:
        return  # in groups, other bots' commands are none of our business
    await say(update, ctx_of(context).store, "unknown_command")


# ---------------------------------------------------------------------------- messages

async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    msg = update.effective_message
    if msg is None or msg.text is None:
        return
    text = msg.text
    if update.effective_chat.type != ChatType.PRIVATE:
        text = addressed_text(msg, context.bot.username, context.bot.id)
        if text is None:
            return  # not for us
    await handle_question(update, context, text)


def addressed_text(msg: Message, username: str, bot_id: int) -> str | None:
    """In groups: the question if the message mentions or replies to the bot, else None."""
    text = msg.text or ""
    mention = f"@{username}".lower()
    if mention in text.lower():
        start = text.lower().index(mention)
        return (text[:start] + text[start + len(mention):]).strip()
    if msg.reply_to_message and msg.reply_to_message.from_user and msg.reply_to_message.from_user.id == bot_id:
        return text
    return None


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat and update.effective_chat.type != ChatType.PRIVATE:
        return
    if not await check_access(update, context):
        return
    await say(update, ctx_of(context).store, "not_text")


async def handle_question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    if not await check_access(update, context):
        return
    ctx = ctx_of(context)
    question = clean_text(question).strip()
    lang = detect_language(question) if question else user_language(update, ctx.store)
    lang = lang if lang in ("ar", "en") else user_language(update, ctx.store)
    if not question:
        await say(update, ctx.store, "empty_question", lang)
        return
    if len(question) > ctx.settings.max_message_chars:
        await say(update, ctx.store, "too_long", lang, length=len(question), limit=ctx.settings.max_message_chars)
        return
    chat_id = update.effective_chat.id

    def make_stream(cancel):  # history is read when the job runs, so it includes earlier answers
        return ctx.engine.stream_answer(question, ctx.store.history(chat_id, ctx.settings.history_turns), cancel)

    await enqueue(update, context, lang, make_stream, question=question)


async def enqueue(update: Update, context: ContextTypes.DEFAULT_TYPE, lang: str,
                  make_stream: Callable, question: str | None) -> None:
    ctx = ctx_of(context)
    chat_id = update.effective_chat.id
    user_id = update.effective_user.id if update.effective_user else chat_id
    if not ctx.rate_limit.allow(user_id):
        log.info("event=rate_limited user=%s", user_id)
        await say(update, ctx.store, "rate_limited", lang)
        return
    job = Job(user_id=user_id, chat_id=chat_id,
              run=lambda j: answer_job(ctx, context, j),
              payload={"make_stream": make_stream, "question": question, "lang": lang,
                       "reply_to": update.effective_message.message_id, "queued_at": time.perf_counter()})
    try:
        ahead = ctx.queue.put(job)
    except TooManyPending:
        await say(update, ctx.store, "too_many_pending", lang)
        return
    except QueueFull:
        await say(update, ctx.store, "busy", lang)
        return
    ctx.store.add_pending(chat_id, job.payload["reply_to"], lang)
    log.info("event=question_queued chat=%s job=%s ahead=%d", chat_id, job.id, ahead)
    if ahead > 0:
        try:
            job.payload["placeholder"] = await send_html(context.bot, chat_id,
                                                         rtl(message("queued", lang, position=ahead + 1), lang),
                                                         job.payload["reply_to"])
        except TelegramError as exc:
            log.warning("event=queue_notice_failed chat=%s error=%s", chat_id, exc)


async def _typing_loop(bot, chat_id: int) -> None:
    while True:
        try:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError:
            pass
        await asyncio.sleep(4.5)


async def answer_job(ctx: BotContext, context: ContextTypes.DEFAULT_TYPE, job: Job) -> None:
    """Run one question (or summary) through the engine and stream it into one Telegram message."""
    bot = context.bot
    payload = job.payload
    lang = payload["lang"]
    streamer = StreamingReply(bot, job.chat_id, payload["reply_to"], lang, ctx.settings.edit_interval,
                              payload.get("placeholder"))
    typing = asyncio.create_task(_typing_loop(bot, job.chat_id))
    started = time.perf_counter()
    final: Answer | None = None
    try:
        text = ""
        async with aclosing(iterate_in_thread(lambda: payload["make_stream"](job.cancel))) as stream:
            async for item in stream:
                if isinstance(item, Answer):
                    final = item
                    break
                if isinstance(item, Retraction):  # the text shown so far was rejected: replace it at once
                    text = item.note  # what streams next goes on from the note (the evidence under an answer)
                    await streamer.update(text, force=True)
                    continue
                text += item
                if job.cancel.is_set():
                    break
                await streamer.update(text)
        if job.cancel.is_set():
            if not payload.get("abandoned"):  # on shutdown the user is told to ask again instead
                await streamer.finish(html.escape(rtl(message("cancelled", lang), lang)))
            return
        assert final is not None
        record(ctx, job, final)  # state first: a delivery failure must not lose the turn
        body, footer = format_answer(final)
        await streamer.finish(body, footer)
        elapsed = time.perf_counter() - started
        ctx.stats.answers += 1
        ctx.stats.latencies.append(elapsed)
        log.info("event=answer_sent chat=%s job=%s kind=%s first_visible_s=%.2f total_s=%.2f wait_s=%.2f",
                 job.chat_id, job.id, final.kind, streamer.first_visible_s or 0, elapsed,
                 started - payload["queued_at"])
    except Exception as exc:  # noqa: BLE001 - any failure: apologise, log, keep serving
        ctx.stats.errors += 1
        log.error("event=answer_failed chat=%s job=%s error=%s detail=%s", job.chat_id, job.id,
                  type(exc).__name__, exc if isinstance(exc, LLMError) else "")
        apology = message("llm_unavailable" if isinstance(exc, LLMUnavailable) else "error", lang)
        try:
            await streamer.finish(html.escape(rtl(apology, lang)))
        except Exception:  # noqa: BLE001
            log.error("event=apology_failed chat=%s job=%s", job.chat_id, job.id)
    finally:
        typing.cancel()
        if not job.payload.get("abandoned"):
            ctx.store.remove_pending(job.chat_id, payload["reply_to"])


def format_answer(answer: Answer) -> tuple[str, str]:
    """(escaped body, footer with the cited passage numbers) as Telegram HTML."""
    body = html.escape(rtl(answer.text, answer.language))
    footer = ""
    if answer.kind in ("answer", "summary") and answer.sources:
        numbers = " ".join(f"[{h.chunk.id + 1}]" for h in answer.sources)
        footer = f"\n\n<i>{html.escape(message('sources_footer', answer.language))}: {numbers} · /sources</i>"
    return body, footer


def record(ctx: BotContext, job: Job, answer: Answer) -> None:
    """Save the turn; a full or read-only disk costs the history, never the answer itself."""
    chunk_ids = [h.chunk.id for h in answer.sources]
    question = job.payload["question"]
    try:
        if question is None:  # a summary: its sources become /sources, but it is not a conversation turn
            ctx.store.set_sources(job.chat_id, answer.language, chunk_ids)
        elif answer.kind in ("answer", "refusal", "unconfirmed"):
            ctx.store.add_turn(job.chat_id, Turn(question, answer.text, answer.language, chunk_ids))
    except StoreError as exc:
        log.error("event=state_not_saved chat=%s error=%s", job.chat_id, exc)


async def iterate_in_thread(make_iterator: Callable[[], Iterator]) -> AsyncIterator:
    """Consume a blocking iterator (the LLM stream) in a worker thread without blocking the event loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    def work() -> None:
        try:
            for item in make_iterator():
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop side
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, done)

    worker = loop.run_in_executor(None, work)
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        await worker

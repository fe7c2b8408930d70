"""Build and run the Telegram Application: long polling, handlers, commands menu, the answer worker."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, CommandHandler, MessageHandler,
                          TypeHandler, filters)
from telegram.request import HTTPXRequest

from ..config import Settings
from ..engine import Engine
from ..net import is_loopback
from .handlers import (BotContext, ask_command, cancel, drop_redelivered, help_command, not_text, reset, sources,
                       start, stats_command, summary, tell_to_ask_again, text_message, unknown_command)
from .queue import FairQueue
from .ratelimit import UserRateLimit
from .store import ChatStore

log = logging.getLogger("articlebot.telegram")
SHUTDOWN_NOTICE_S = 2.0  # time SIGTERM gives the "ask again" notices; systemd's default stop timeout is 90 s

COMMANDS = {
    "en": [("start", "What this bot knows"), ("help", "How to use it"), ("summary", "A short summary (en|ar)"),
           ("sources", "Passages behind the last answer"), ("reset", "Forget this chat"),
           ("cancel", "Drop my waiting question"), ("ask", "Ask a question (in groups)")],
    "ar": [("start", "ما يعرفه البوت"), ("help", "طريقة الاستخدام"), ("summary", "ملخص قصير"),
           ("sources", "مصادر الإجابة الأخيرة"), ("reset", "مسح المحادثة"), ("cancel", "إلغاء سؤالي المنتظر"),
           ("ask", "اطرح سؤالاً (في المجموعات)")],
}


def build_application(settings: Settings, engine: Engine, store: ChatStore | None = None) -> Application:
    store = store or ChatStore.open(settings)
    # A local Bot API server (or a test server) on loopback must not go through an HTTP proxy.
    httpx_kwargs = {"trust_env": False} if is_loopback(settings.telegram_api_base_url) else None
    timeout = settings.telegram_timeout
    request = HTTPXRequest(connection_pool_size=64, read_timeout=timeout, write_timeout=timeout,
                           connect_timeout=timeout, httpx_kwargs=httpx_kwargs)
    updates_request = HTTPXRequest(connection_pool_size=2, read_timeout=timeout, connect_timeout=timeout,
                                   httpx_kwargs=httpx_kwargs)
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url.rstrip("/"))
        .base_file_url(settings.telegram_api_base_url.rstrip("/").removesuffix("/bot") + "/file/bot")
        .request(request)
        .get_updates_request(updates_request)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    queue = FairQueue(settings.max_queue, settings.max_pending_per_user, settings.slots)
    application.bot_data["ctx"] = BotContext(settings, engine, store, queue,
                                             UserRateLimit(settings.rate_limit_per_minute))
    application.add_handler(TypeHandler(Update, drop_redelivered), group=-1)
    only_new = filters.UpdateType.MESSAGE  # edited messages never cause a second answer
    application.add_handler(CommandHandler("start", start, filters=only_new))
    application.add_handler(CommandHandler("help", help_command, filters=only_new))
    application.add_handler(CommandHandler("summary", summary, filters=only_new))
    application.add_handler(CommandHandler("sources", sources, filters=only_new))
    application.add_handler(CommandHandler("reset", reset, filters=only_new))
    application.add_handler(CommandHandler("cancel", cancel, filters=only_new))
    application.add_handler(CommandHandler("ask", ask_command, filters=only_new))
    application.add_handler(CommandHandler("stats", stats_command, filters=only_new))
    application.add_handler(MessageHandler(only_new & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(only_new & filters.TEXT & ~filters.COMMAND, text_message))
    application.add_handler(MessageHandler(only_new & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text))
    application.add_error_handler(_on_error)
    return application


async def _post_init(application: Application) -> None:
    ctx: BotContext = application.bot_data["ctx"]
    for lang, commands in COMMANDS.items():
        try:
            await application.bot.set_my_commands([BotCommand(c, d) for c, d in commands],
                                                  language_code=None if lang == "en" else lang)
        except Exception as exc:  # noqa: BLE001 - a missing menu must not stop the bot
            log.warning("event=set_commands_failed lang=%s error=%s", lang, type(exc).__name__)
    told = await tell_to_ask_again(application.bot, ctx.store)
    if told:
        log.info("event=interrupted_questions_notified count=%d", told)
    application.bot_data["worker"] = asyncio.create_task(ctx.queue.serve_forever())
    log.info("event=bot_ready username=%s", application.bot.username)


async def _post_stop(application: Application) -> None:
    """Updates have stopped: abandon the running and waiting questions cleanly and tell their askers."""
    ctx: BotContext = application.bot_data["ctx"]
    jobs = ctx.queue.cancel_chat(None)
    for job in jobs:
        job.payload["abandoned"] = True
    worker = application.bot_data.get("worker")
    if worker:
        worker.cancel()
    try:  # bounded: a stop must not wait on a Bot API that is gone; whoever is not told now is told at restart
        told = await asyncio.wait_for(tell_to_ask_again(application.bot, ctx.store), SHUTDOWN_NOTICE_S)
    except asyncio.TimeoutError:
        told = -1
        log.warning("event=restart_notices_deferred after_s=%.1f", SHUTDOWN_NOTICE_S)
    log.info("event=questions_abandoned count=%d told=%d", len(jobs), told)


async def _post_shutdown(application: Application) -> None:
    ctx: BotContext = application.bot_data["ctx"]
    ctx.store.close()
    log.info("event=bot_stopped answers=%d", ctx.stats.answers)


async def _on_error(update: object, context) -> None:
    log.error("event=handler_error error=%s detail=%s", type(context.error).__name__, context.error)


def webhook_options(settings: Settings) -> dict:
    """Arguments for python-telegram-bot's webhook server. Telegram sends the secret token with every
    update; requests without it are refused (403) before any handler runs. The local path is the public
    URL's path, so a reverse proxy can pass requests through unchanged."""
    return dict(listen=settings.webhook_listen, port=settings.webhook_port,
                url_path=urlparse(settings.webhook_url).path.strip("/"), webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret, cert=settings.webhook_cert or None,
                key=settings.webhook_key or None, allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)


def run_bot(settings: Settings, engine: Engine, store: ChatStore | None = None) -> None:
    """Long polling (or the webhook server when ARTICLEBOT_WEBHOOK_URL is set) until SIGINT/SIGTERM:
    python-telegram-bot stops taking updates, then the running and waiting questions are abandoned
    cleanly (their askers told to ask again) and state is closed."""
    application = build_application(settings, engine, store)
    if settings.webhook_url:
        log.info("event=bot_starting mode=webhook listen=%s:%d url_host=%s replica=%s", settings.webhook_listen,
                 settings.webhook_port, urlparse(settings.webhook_url).hostname, settings.replica_id)
        application.run_webhook(**webhook_options(settings))
        return
    log.info("event=bot_starting mode=polling api=%s", urlparse(settings.telegram_api_base_url).hostname)
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)

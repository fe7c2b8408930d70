"""Getting text to Telegram: HTML with everything escaped (plain-text fallback), 4096-character
splitting on sentence boundaries, right-to-left marks for Arabic, and one message edited at a measured
pace while an answer streams."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from typing import Awaitable, Callable, TypeVar

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError

log = logging.getLogger("articlebot.telegram.delivery")

T = TypeVar("T")
TELEGRAM_LIMIT = 4096
RETRY_ATTEMPTS = 4
RETRY_BASE_DELAY = 0.5
RLM = "\u200f"
_BREAKS = re.compile(r"(?<=[.!?؟…\n])\s+|(?<=[،؛,;])\s+")
_TAG = re.compile(r"<[^>]+>")


def rtl(text: str, language: str) -> str:
    """Start Arabic text with a right-to-left mark so a leading '[2]' or Latin name does not flip it."""
    return RLM + text if language == "ar" and not text.startswith(RLM) else text


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut after a sentence (or clause) end where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = 0
        for match in _BREAKS.finditer(window):
            cut = match.start()
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def to_plain(html_text: str) -> str:
    return html.unescape(_TAG.sub("", html_text))


def is_not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


def is_entity_error(exc: BadRequest) -> bool:
    return "parse entities" in exc.message.lower() or "can't find end" in exc.message.lower()


async def with_retries(call: Callable[[], Awaitable[T]], what: str, attempts: int = RETRY_ATTEMPTS) -> T:
    """Retry Telegram's transient failures (5xx, timeouts, connection errors) with backoff. 429 is
    handled by the rate limiter; a BadRequest is our mistake and is not retried."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except NetworkError as exc:  # includes TimedOut and 5xx answers
            if attempt == attempts:
                raise
            delay = min(8.0, RETRY_BASE_DELAY * 2 ** (attempt - 1))
            log.warning("event=telegram_retry call=%s attempt=%d error=%s delay_s=%.1f", what, attempt,
                        type(exc).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def send_html(bot: Bot, chat_id: int, html_text: str, reply_to: int | None = None) -> Message:
    """Send HTML; if Telegram rejects the entities, send the same text as plain text."""
    try:
        return await with_retries(lambda: bot.send_message(chat_id, html_text, parse_mode=ParseMode.HTML,
                                                           reply_to_message_id=reply_to,
                                                           allow_sending_without_reply=True), "sendMessage")
    except BadRequest as exc:
        if not is_entity_error(exc):
            raise
        log.warning("event=html_rejected chat=%s action=resend_plain", chat_id)
        return await with_retries(lambda: bot.send_message(chat_id, to_plain(html_text), reply_to_message_id=reply_to,
                                                           allow_sending_without_reply=True), "sendMessage")


async def edit_html(bot: Bot, chat_id: int, message_id: int, html_text: str) -> None:
    """Edit to HTML, falling back to plain text; 'message is not modified' is not an error."""
    try:
        await with_retries(lambda: bot.edit_message_text(html_text, chat_id, message_id, parse_mode=ParseMode.HTML),
                           "editMessageText")
    except BadRequest as exc:
        if is_not_modified(exc):
            return
        if not is_entity_error(exc):
            raise
        log.warning("event=html_rejected chat=%s action=edit_plain", chat_id)
        try:
            await with_retries(lambda: bot.edit_message_text(to_plain(html_text), chat_id, message_id),
                               "editMessageText")
        except BadRequest as again:
            if not is_not_modified(again):
                raise


class StreamingReply:
    """One message that grows as the answer streams: created on the first text (or reusing a
    placeholder), edited at most once per `interval` seconds and only when the text changed; the final
    text is always delivered, split over several messages when longer than Telegram allows."""

    def __init__(self, bot: Bot, chat_id: int, reply_to: int | None, language: str, interval: float = 1.0,
                 placeholder: Message | None = None) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.reply_to = reply_to
        self.language = language
        self.interval = interval
        self.message_id: int | None = placeholder.message_id if placeholder else None
        self._shown = placeholder.text if placeholder and placeholder.text else ""
        self._last_edit = 0.0
        self.first_visible_s: float | None = None
        self._started = time.perf_counter()

    async def update(self, text: str, force: bool = False) -> None:
        """Show the partial answer, if the pace allows or `force` says it must (plain escaped text plus a
        cursor)."""
        if not text.strip():
            return
        now = time.perf_counter()
        if not force and self.message_id is not None and now - self._last_edit < self.interval:
            return
        preview = html.escape(rtl(text[: TELEGRAM_LIMIT - 10], self.language)) + " ▌"
        await self._show(preview)
        self._last_edit = time.perf_counter()

    async def finish(self, body_html: str, footer_html: str = "") -> list[int]:
        """Deliver the final text (split on sentence ends, the footer on the last part); returns the ids
        of the messages that hold it. Splitting happens on escaped text, so no tag is ever cut."""
        parts = split_message(body_html, TELEGRAM_LIMIT - len(footer_html))
        parts[-1] += footer_html
        ids = []
        await self._show(parts[0], final=True)
        ids.append(self.message_id)
        for part in parts[1:]:
            message = await send_html(self.bot, self.chat_id, part)
            ids.append(message.message_id)
        return [i for i in ids if i is not None]

    async def _show(self, html_text: str, final: bool = False) -> None:
        if html_text == self._shown and not final:
            return
        if self.message_id is None:
            message = await send_html(self.bot, self.chat_id, html_text, self.reply_to)
            self.message_id = message.message_id
        elif html_text != self._shown:
            await edit_html(self.bot, self.chat_id, self.message_id, html_text)
        if self.first_visible_s is None:
            self.first_visible_s = time.perf_counter() - self._started
        self._shown = html_text

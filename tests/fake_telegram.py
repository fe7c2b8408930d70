"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real Application.

It implements what the bot calls (getMe, getUpdates long polling with offsets, sendMessage,
editMessageText, sendChatAction, setMyCommands, deleteWebhook, ...), lets a test inject user messages
and read what the bot sent, and answers with Telegram's real error shapes when told to.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Callable

from aiohttp import ClientSession, web

BOT_ID = 777000111
BOT_USERNAME = "article_test_bot"
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
                "tg-spoiler", "span"}


class _EntityChecker(HTMLParser):
    """Rejects what Telegram rejects: unknown tags and unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.error = f"Unsupported start tag \"{tag}\""
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.error = f"Can't find end tag corresponding to start tag \"{tag}\""
        else:
            self.stack.pop()


def html_error(text: str) -> str | None:
    checker = _EntityChecker()
    checker.feed(text)
    checker.close()
    if checker.error:
        return checker.error
    if checker.stack:
        return f"Can't find end tag corresponding to start tag \"{checker.stack[-1]}\""
    return None


@dataclass
class Sent:
    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_to: int | None
    edits: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)

    @property
    def final_text(self) -> str:
        return self.edits[-1] if self.edits else self.text


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token-abcdefghijklmnop") -> None:
        self.token = token
        self.updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._user_message_ids = itertools.count(1)
        self.sent: dict[int, Sent] = {}
        self.calls: list[tuple[str, dict]] = []
        self.errors: dict[str, list[dict]] = {}
        self.delays: dict[str, list[float]] = {}
        self.commands: dict[str | None, list[dict]] = {}
        self.actions: list[tuple[int, str]] = []
        self.webhook: dict | None = None  # {"url", "secret_token"} once setWebhook was called
        self.last_update: dict | None = None
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ server

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        self.calls.append((method, params))
        delays = self.delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))  # the client gives up first: a timeout, as on a slow network
        queued = self.errors.get(method)
        if queued:
            error = queued.pop(0)
            return web.json_response({"ok": False, **error}, status=error["error_code"])
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        try:
            result = await handler(params)
        except _ApiError as exc:
            return web.json_response({"ok": False, "error_code": exc.code, "description": exc.description},
                                     status=exc.code)
        self._changed.set()
        return web.json_response({"ok": True, "result": result})

    # ------------------------------------------------------------------ API methods

    async def api_getMe(self, params):
        return {"id": BOT_ID, "is_bot": True, "first_name": "ArticleBot", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def api_deleteWebhook(self, params):
        self.webhook = None
        return True

    async def api_setWebhook(self, params):
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    async def api_getWebhookInfo(self, params):
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": 0}

    async def api_setMyCommands(self, params):
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = json.loads(commands)
        self.commands[params.get("language_code")] = commands
        return True

    async def api_sendChatAction(self, params):
        self.actions.append((int(params["chat_id"]), params["action"]))
        return True

    async def api_getUpdates(self, params):
        if self.webhook:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 2.0)
        if offset:  # like Telegram: an offset confirms (and forgets) every earlier update
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending or time.monotonic() >= deadline:
                return pending[:100]
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass

    async def api_sendMessage(self, params):
        text = str(params.get("text", ""))
        self._validate(text, params.get("parse_mode"))
        reply = params.get("reply_parameters") or {}
        if isinstance(reply, str):
            reply = json.loads(reply)
        reply_to = reply.get("message_id") or params.get("reply_to_message_id")
        msg = Sent(next(self._message_ids), int(params["chat_id"]), text, params.get("parse_mode"),
                   int(reply_to) if reply_to else None)
        self.sent[msg.message_id] = msg
        return self._message_json(msg, text)

    async def api_editMessageText(self, params):
        message_id = int(params["message_id"])
        msg = self.sent.get(message_id)
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        text = str(params.get("text", ""))
        self._validate(text, params.get("parse_mode"))
        if text == msg.final_text:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                 "markup are exactly the same as a current content and reply markup of the message")
        msg.edits.append(text)
        return self._message_json(msg, text)

    def _validate(self, text: str, parse_mode: str | None) -> None:
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        if parse_mode == "HTML":
            error = html_error(text)
            if error:
                raise _ApiError(400, f"Bad Request: can't parse entities: {error} at byte offset 0")

    def _message_json(self, msg: Sent, text: str) -> dict:
        return {"message_id": msg.message_id, "date": int(time.time()),
                "chat": {"id": msg.chat_id, "type": "private" if msg.chat_id > 0 else "group"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "ArticleBot", "username": BOT_USERNAME},
                "text": text}

    # ------------------------------------------------------------------ test helpers

    def fail_next(self, method: str, code: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        error: dict[str, Any] = {"error_code": code, "description": description}
        if retry_after is not None:
            error["parameters"] = {"retry_after": retry_after}
        self.errors.setdefault(method, []).extend([dict(error) for _ in range(times)])

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        self.delays.setdefault(method, []).extend([seconds] * times)

    def user_message(self, user_id: int, text: str | None = None, chat_id: int | None = None,
                     chat_type: str = "private", language_code: str = "en", extra: dict | None = None,
                     edited: bool = False) -> dict:
        chat_id = chat_id if chat_id is not None else user_id
        message = {
            "message_id": next(self._user_message_ids), "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, **({"title": "Group"} if chat_type != "private" else {"first_name": "U"})},
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language_code},
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            mention = f"@{BOT_USERNAME}"
            if mention in text:
                message.setdefault("entities", []).append(
                    {"type": "mention", "offset": text.index(mention), "length": len(mention)})
        message.update(extra or {})
        update = {"update_id": next(self._update_ids), ("edited_message" if edited else "message"): message}
        if edited:
            message["edit_date"] = int(time.time())
        self.last_update = update
        if self.webhook is None:  # with a webhook set, the test posts the update (see post_update)
            self.updates.append(update)
            self._new_update.set()
        return message

    async def post_update(self, update: dict, url: str | None = None, secret: str | None = "from-webhook") -> int:
        """Deliver an update the way Telegram does to a webhook (optionally to one chosen replica's URL);
        returns the HTTP status the bot answered with."""
        assert self.webhook or url, "no webhook set"
        url = url or self.webhook["url"]
        secret = self.webhook["secret_token"] if secret == "from-webhook" and self.webhook else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with ClientSession() as session:
            async with session.post(url, json=update, headers=headers) as response:
                return response.status

    def to_chat(self, chat_id: int) -> list[Sent]:
        return [m for m in self.sent.values() if m.chat_id == chat_id]

    def replies_to(self, chat_id: int, message_id: int) -> list[Sent]:
        return [m for m in self.to_chat(chat_id) if m.reply_to == message_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 0.2)
            except asyncio.TimeoutError:
                pass


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description

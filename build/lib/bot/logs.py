"""Structured logging: one line per event (`key=value`), with secrets removed from every line."""

from __future__ import annotations

import logging
import sys


class RedactSecrets(logging.Filter):
    """Replace secrets (the bot token) wherever they appear: messages, arguments, tracebacks.

    httpx logs request URLs, and Telegram's URLs contain the token, so this must sit on the handler."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def setup_logging(level: str = "INFO", secrets: list[str] | None = None, stream=None) -> RedactSecrets:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    redactor = RedactSecrets(secrets or [])
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that are chatty at INFO: keep their warnings only.
    for name in ("httpx", "httpcore", "faiss.loader", "sentence_transformers", "transformers", "telegram.ext.Application"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor

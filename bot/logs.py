"""Structured logging: one line per event (`key=value`), with secrets removed from every line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


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
                record.exc_text = self.redact(OneLineFormatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class OneLineFormatter(logging.Formatter):
    """An event is one line: a traceback (a library's, often) becomes its exception and where it was raised."""

    def formatException(self, exc_info) -> str:  # noqa: N802 - logging's name
        _, exc, tb = exc_info
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at={Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb is not None else ""
        detail = str(exc).replace("\n", " ")
        return f'exception={type(exc).__name__}{where} detail="{detail}"'

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).rstrip().replace("\n", " | ")


class OursOrSevere(logging.Filter):
    """Pass articlebot's own records, and another library's from `others_from` up (to a terminal, a
    library's INFO lines and warnings are noise; they go to the log file when there is one)."""

    def __init__(self, others_from: int) -> None:
        super().__init__()
        self.others_from = others_from

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("articlebot") or record.levelno >= self.others_from


def setup_logging(level: str = "INFO", secrets: list[str] | None = None, stream=None,
                  log_file: Path | None = None) -> RedactSecrets:
    """Structured lines to stderr (or `stream`). With `log_file` (the first-run steps), every library's
    INFO lines and Python warnings go to that file only and the terminal keeps articlebot's lines and errors."""
    formatter = OneLineFormatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    redactor = RedactSecrets(secrets or [])
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(redactor)
    handler.addFilter(OursOrSevere(logging.ERROR if log_file else logging.WARNING))
    handler.setLevel(level)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(min(logging.getLevelName(level), logging.INFO) if log_file else level)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            logging.getLogger("articlebot.logs").warning("event=log_file_unusable path=%s error=%s", log_file,
                                                         exc.strerror)
        else:
            to_file.setFormatter(formatter)
            to_file.addFilter(redactor)
            to_file.setLevel(logging.INFO)
            root.addHandler(to_file)
    logging.captureWarnings(False)  # (re-)take warnings.showwarning even if something replaced it since
    logging.captureWarnings(True)  # a library's warnings.warn becomes one log line, filtered like the rest
    # Libraries that are chatty at INFO: keep their warnings only.
    for name in ("httpx", "httpcore", "faiss.loader", "sentence_transformers", "transformers", "telegram.ext.Application"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor

"""Settings: every option defined once (its field, environment variable, optional CLI flag, kind, default and
one-line doc, grouped by stage); read from the environment, CLI flags layered on top, then validated. The
README's configuration table is generated from these definitions (`articlebot options --markdown`)."""

from __future__ import annotations

import os
import re
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL_SCHEMES = ("postgresql://", "postgres://")
EMBED_BACKENDS = ("onnx-int8", "onnx", "torch")
STAGES = ("Article and models", "Answers", "Telegram", "Scale-out", "Logs")


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting and the fix."""


@dataclass(frozen=True)
class Option:
    """How a Settings field is set from outside: its environment variable, optional CLI flag, lower bound and
    allowed values, and the README's line about it."""

    env: str
    doc: str
    stage: str
    flag: str = ""  # e.g. "--model"; "engine" flags go on every command, "bot" flags on telegram/start
    flag_group: str = "engine"
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False


def option(default: Any, env: str, doc: str, stage: str, **how: Any) -> Any:
    """A Settings field that users set (a field without one is a tuning constant: bench --set only)."""
    assert stage in STAGES, stage
    opt = Option(env, doc, stage, **how)
    return field(default=default, repr=not opt.secret, metadata={"option": opt})


def option_of(f: Field) -> Option | None:
    return f.metadata.get("option")


@dataclass(frozen=True)
class Settings:
    """Everything the engine and the front ends can be told. Paths are absolute."""

    # -- Article and models
    article: Path = option(PROJECT_ROOT / "index" / "article-ar.txt", "ARTICLEBOT_ARTICLE",
                           "the article to answer about (a UTF-8 text file)", "Article and models", flag="--article")
    llm_model: str = option("default", "ARTICLEBOT_LLM_MODEL",
                            "`default`, `small` (manifest names) or a path to any GGUF file", "Article and models",
                            flag="--model")
    embed_model: str = option("embed", "ARTICLEBOT_EMBED_MODEL",
                              "`embed` or a path to a sentence-transformers model directory", "Article and models",
                              flag="--embed-model")
    threads: int = option(max(1, os.cpu_count() or 1), "ARTICLEBOT_THREADS", "CPU threads (default: all cores)",
                          "Article and models", flag="--threads", minimum=1)
    n_ctx: int = option(8192, "ARTICLEBOT_CTX", "LLM context in tokens; a longer article than fits is retrieved "
                        "from instead of held whole", "Article and models", flag="--ctx", minimum=512)
    slots: int = option(4, "ARTICLEBOT_SLOTS", "questions answered at the same time (decoded together in one "
                        "batch, or sent to the server at once); more wait in line", "Article and models",
                        flag="--slots", minimum=1)
    models_dir: Path = option(PROJECT_ROOT / "models", "ARTICLEBOT_MODELS_DIR", "where model files are assembled",
                              "Article and models")
    cache_dir: Path = option(Path.home() / ".cache" / "articlebot", "ARTICLEBOT_CACHE_DIR",
                             "assembled models and wheels kept across clones", "Article and models")
    index_dir: Path = option(PROJECT_ROOT / "index" / "build", "ARTICLEBOT_INDEX_DIR",
                             "the built index and the saved article prompt", "Article and models")
    data_dir: Path = option(PROJECT_ROOT / "data", "ARTICLEBOT_DATA_DIR", "chat history (SQLite)",
                            "Article and models")
    prompts_dir: Path = option(PROJECT_ROOT / "prompts", "ARTICLEBOT_PROMPTS_DIR", "prompt templates",
                               "Article and models")
    # -- Answers
    history_turns: int = option(6, "ARTICLEBOT_HISTORY_TURNS", "earlier turns a follow-up question may lean on",
                                "Answers", minimum=0)
    min_similarity: float = option(0.24, "ARTICLEBOT_MIN_SIMILARITY", "below this best passage similarity the "
                                   "article is taken not to cover a question", "Answers")
    refusal_confidence: float = option(0.9, "ARTICLEBOT_REFUSAL_CONFIDENCE", "the model may say \"not in the "
                                       "article\" only when at least this sure", "Answers")
    # -- Telegram
    telegram_token: str = option("", "TELEGRAM_BOT_TOKEN", "the bot's token from @BotFather; unset: terminal chat",
                                 "Telegram", secret=True)
    telegram_api_base_url: str = option("https://api.telegram.org/bot", "TELEGRAM_API_BASE_URL",
                                        "Bot API base URL, ending in /bot (a local Bot API server)", "Telegram")
    allowed_users: frozenset[int] = option(frozenset(), "ARTICLEBOT_ALLOWED_USERS",
                                           "comma-separated user ids who may use the bot (empty: everyone)", "Telegram")
    allowed_chats: frozenset[int] = option(frozenset(), "ARTICLEBOT_ALLOWED_CHATS",
                                           "comma-separated group ids the bot answers in (empty: any)", "Telegram")
    admins: frozenset[int] = option(frozenset(), "ARTICLEBOT_ADMINS", "user ids who may run /stats", "Telegram")
    max_message_chars: int = option(2000, "ARTICLEBOT_MAX_MESSAGE_CHARS", "longer questions are refused with a "
                                    "message", "Telegram", minimum=1)
    max_pending_per_user: int = option(2, "ARTICLEBOT_MAX_PENDING_PER_USER", "questions one user may have waiting",
                                       "Telegram", minimum=1)
    max_queue: int = option(100, "ARTICLEBOT_MAX_QUEUE", "questions waiting in all; beyond it users are told to "
                            "retry", "Telegram", minimum=1)
    rate_limit_per_minute: int = option(10, "ARTICLEBOT_RATE_LIMIT", "questions per user per minute (0: no limit)",
                                        "Telegram", minimum=0)
    edit_interval: float = option(1.0, "ARTICLEBOT_EDIT_INTERVAL", "seconds between edits of a streamed answer",
                                  "Telegram", minimum=0)
    telegram_timeout: float = option(15.0, "ARTICLEBOT_TELEGRAM_TIMEOUT", "seconds for one Bot API call",
                                     "Telegram", minimum=1)
    # -- Scale-out: an inference server, shared chat state, webhook delivery
    llm_url: str = option("", "ARTICLEBOT_LLM_URL", "an OpenAI-compatible server to generate with, instead of "
                          "the in-process model", "Scale-out", flag="--llm-url", flag_group="bot")
    llm_server_model: str = option("", "ARTICLEBOT_LLM_SERVER_MODEL", "the server's model (empty: the first it "
                                   "lists)", "Scale-out")
    llm_api_key: str = option("", "ARTICLEBOT_LLM_API_KEY", "the server's API key", "Scale-out", secret=True)
    llm_timeout: float = option(120.0, "ARTICLEBOT_LLM_TIMEOUT", "seconds to wait for the server", "Scale-out",
                                minimum=1)
    database_url: str = option("", "ARTICLEBOT_DATABASE_URL", "postgresql:// URL for chat state shared by "
                               "replicas (empty: SQLite)", "Scale-out", secret=True)
    replica_id: str = option("local", "ARTICLEBOT_REPLICA_ID", "this replica's name in shared state", "Scale-out")
    webhook_url: str = option("", "ARTICLEBOT_WEBHOOK_URL", "public https URL Telegram posts updates to (empty: "
                              "long polling)", "Scale-out", flag="--webhook-url", flag_group="bot")
    webhook_listen: str = option("127.0.0.1", "ARTICLEBOT_WEBHOOK_LISTEN", "webhook listen address", "Scale-out",
                                 flag="--listen", flag_group="bot")
    webhook_port: int = option(8443, "ARTICLEBOT_WEBHOOK_PORT", "webhook listen port", "Scale-out", flag="--port",
                               flag_group="bot", minimum=1)
    webhook_secret: str = option("", "ARTICLEBOT_WEBHOOK_SECRET", "the secret Telegram sends with each update "
                                 "(A-Z a-z 0-9 _ -)", "Scale-out", secret=True)
    webhook_cert: str = option("", "ARTICLEBOT_WEBHOOK_CERT", "TLS certificate, when no reverse proxy terminates "
                               "TLS", "Scale-out")
    webhook_key: str = option("", "ARTICLEBOT_WEBHOOK_KEY", "TLS key, with the certificate", "Scale-out")
    # -- Logs
    log_level: str = option("INFO", "ARTICLEBOT_LOG_LEVEL", "DEBUG, INFO, WARNING", "Logs", flag="--log-level",
                            choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    # -- Tuning constants (measured winners; the benchmarks vary them with --set, users need not)
    embed_backend: str = "onnx-int8"  # onnx-int8 | onnx (float32) | torch; see bot/onnx_embedder.py
    retrieval: str = "hybrid"  # hybrid | dense | lexical
    top_k: int = 4
    # the article's sentences closest to the question shown for the quote; fewer is faster but lost answers on
    # the tune half (Arabic 2: 23 of 72 vs 25, p50 3.7 vs 4.6 s; English 1: 13 vs 15, 4.4 vs 6.0 s)
    quote_sentences_ar: int = 3
    quote_sentences_en: int = 3
    max_summary_tokens: int = 100  # per summary sentence translated into the asker's language
    temperature: float = 0.0  # greedy: the same answer to the same question (measured better than 0.1 twice)
    repeat_penalty: float = 1.1
    lookup_draft: int = 4  # tokens drafted from the prompt per decoding step (prompt-lookup decoding; 0: off)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        types = get_type_hints(cls)
        values = {}
        for f, opt in options():
            raw = env.get(opt.env, "").strip()
            if raw:
                values[f.name] = _parse(opt, types[f.name], raw)
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: object) -> "Settings":
        """Apply CLI flags; None means 'flag not given'."""
        known = {f.name for f in fields(self)}
        given = {k: v for k, v in overrides.items() if v is not None and k in known}
        updated = replace(self, **given)
        updated.validate()
        return updated

    def validate(self) -> None:
        for f, opt in options():
            value = getattr(self, f.name)
            if opt.minimum is not None and value < opt.minimum:
                raise ConfigError(f"{opt.env}={value} must be at least {opt.minimum:g}")
            if opt.choices and value not in opt.choices:
                raise ConfigError(f"{opt.env}={value!r}: use one of {', '.join(opt.choices)}")
        if self.retrieval not in {"hybrid", "dense", "lexical"}:
            raise ConfigError(f"retrieval={self.retrieval!r}: use hybrid, dense or lexical")
        if self.embed_backend not in EMBED_BACKENDS:
            raise ConfigError(f"embed_backend={self.embed_backend!r}: use one of {', '.join(EMBED_BACKENDS)}")
        if not self.telegram_api_base_url.rstrip("/").endswith("/bot"):
            raise ConfigError(
                f"TELEGRAM_API_BASE_URL={self.telegram_api_base_url!r} must end in /bot "
                "(for example http://127.0.0.1:8081/bot)"
            )
        if self.llm_url and not self.llm_url.startswith(("http://", "https://")):
            raise ConfigError(f"ARTICLEBOT_LLM_URL={self.llm_url!r} must start with http:// or https://")
        if self.database_url and not self.database_url.startswith(POSTGRES_URL_SCHEMES):
            raise ConfigError("ARTICLEBOT_DATABASE_URL must be a postgresql:// URL (leave it empty for SQLite)")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ConfigError(f"ARTICLEBOT_WEBHOOK_URL={self.webhook_url!r} must be a URL")
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("webhook mode needs ARTICLEBOT_WEBHOOK_SECRET: Telegram sends it with every update "
                              "and the bot refuses requests without it (use the same value on every replica)")
        if self.webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.webhook_secret):
            raise ConfigError("ARTICLEBOT_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (1-256 characters)")
        if bool(self.webhook_cert) != bool(self.webhook_key):
            raise ConfigError("set both ARTICLEBOT_WEBHOOK_CERT and ARTICLEBOT_WEBHOOK_KEY, or neither")


def options() -> list[tuple[Field, Option]]:
    """The user-facing Settings fields with their Option, in definition order."""
    return [(f, opt) for f in fields(Settings) if (opt := option_of(f)) is not None]


def _parse(opt: Option, kind: Any, raw: str) -> Any:
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{opt.env}={raw!r}: use 1 or 0")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{opt.env}={raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{opt.env}={raw!r} is not a number") from None
    if kind is Path:
        return Path(raw).expanduser()
    if kind == frozenset[int]:
        try:
            return frozenset(int(part) for part in filter(None, re.split(r"[,; ]+", raw)))
        except ValueError:
            raise ConfigError(f"{opt.env} holds {raw!r}: use numeric Telegram ids, comma-separated") from None
    return raw.upper() if opt.choices and raw.upper() in opt.choices else raw


def _shown_default(f: Field, opt: Option) -> str:
    value = f.default
    if value in ("", frozenset()):
        return "(empty)"
    if f.name == "threads":
        return "all cores"
    if isinstance(value, Path):
        for base, name in ((PROJECT_ROOT, "."), (Path.home(), "~")):
            if value.is_relative_to(base):
                return f"{name}/{value.relative_to(base)}"
    return str(value)


def options_markdown() -> str:
    """The README's configuration tables, one per stage."""
    out: list[str] = []
    for stage in STAGES:
        rows = [(f, opt) for f, opt in options() if opt.stage == stage]
        out += [f"**{stage}**", "", "| variable | flag | default | what it does |", "|---|---|---|---|"]
        out += [f"| `{opt.env}` | {f'`{opt.flag}`' if opt.flag else ''} | `{_shown_default(f, opt)}` | {opt.doc} |"
                for f, opt in rows]
        out.append("")
    return "\n".join(out).rstrip() + "\n"

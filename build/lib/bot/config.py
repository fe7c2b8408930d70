"""Settings from environment variables (and CLI flags layered on top), with defaults and validation."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL_SCHEMES = ("postgresql://", "postgres://")


EMBED_BACKENDS = ("onnx-int8", "onnx", "torch")


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting and the fix."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: use 1 or 0")


def _ids(env: dict[str, str], name: str) -> frozenset[int]:
    raw = env.get(name, "").replace(";", ",").replace(" ", ",")
    out = set()
    for part in filter(None, raw.split(",")):
        try:
            out.add(int(part))
        except ValueError:
            raise ConfigError(f"{name} holds {part!r}, which is not a numeric Telegram id") from None
    return frozenset(out)


def _path(env: dict[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else default


@dataclass(frozen=True)
class Settings:
    """Everything the engine and the front ends can be told. Paths are absolute."""

    models_dir: Path = PROJECT_ROOT / "models"
    cache_dir: Path = Path.home() / ".cache" / "articlebot"
    # A manifest name (default, small) or a path to any GGUF file.
    llm_model: str = "default"
    # A manifest name (embed) or a path to any sentence-transformers model directory.
    embed_model: str = "embed"
    embed_dtype: str = "auto"  # torch backend: auto (bfloat16 on CPUs with native bf16) | float32 | bfloat16
    embed_backend: str = "onnx-int8"  # onnx-int8 | onnx (float32) | torch; see bot/onnx_embedder.py
    article: Path = PROJECT_ROOT / "index" / "article-ar.txt"
    index_dir: Path = PROJECT_ROOT / "index" / "build"
    data_dir: Path = PROJECT_ROOT / "data"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    threads: int = max(1, os.cpu_count() or 1)
    n_ctx: int = 8192
    top_k: int = 4
    max_answer_tokens: int = 200
    max_summary_tokens: int = 100  # per summary sentence translated into the asker's language
    temperature: float = 0.0  # greedy: the same answer to the same question (measured better than 0.1 twice)
    repeat_penalty: float = 1.1
    # Map the GGUF file instead of reading it into memory. Off by default: llama.cpp repacks most weights
    # into its own CPU layout, and a mapped file keeps the original pages resident too (~580 MiB more).
    llm_mmap: bool = False
    # llama.cpp's CPU weight repacking (interleaved layout for its own matrix kernels); see bench/results-llm-memory.md
    llm_repack: bool = True
    lookup_draft: int = 4  # tokens drafted from the prompt per decoding step (prompt-lookup decoding; 0: off)
    rewrite_follow_ups: bool = True  # search a follow-up together with the previous question
    history_turns: int = 6
    retrieval: str = "hybrid"  # hybrid | dense | lexical
    prompt_mode: str = "auto"  # auto | article | retrieval
    min_similarity: float = 0.24  # below this best dense similarity the article is taken not to cover it
    refusal_confidence: float = 0.9  # the model may refuse only when it gives NOT_IN_ARTICLE this probability
    telegram_token: str = field(default="", repr=False)
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()
    max_message_chars: int = 2000
    max_pending_per_user: int = 2
    max_queue: int = 100
    rate_limit_per_minute: int = 10
    edit_interval: float = 1.0
    telegram_timeout: float = 15.0  # seconds for one Bot API call (long polling adds its own wait)
    log_level: str = "INFO"
    # Scale-out (all optional): an OpenAI-compatible inference server instead of the in-process model ...
    llm_url: str = ""
    llm_server_model: str = ""  # empty: the first model the server lists
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 120.0
    # ... shared chat state in PostgreSQL instead of SQLite ...
    database_url: str = field(default="", repr=False)
    replica_id: str = "local"  # names this process's questions in shared state
    # ... and webhook delivery instead of long polling.
    webhook_url: str = ""  # public https URL Telegram posts to, e.g. https://bot.example.org/telegram
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    webhook_cert: str = ""  # TLS certificate and key, when no reverse proxy terminates TLS
    webhook_key: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        d = cls()
        settings = cls(
            models_dir=_path(env, "ARTICLEBOT_MODELS_DIR", d.models_dir),
            cache_dir=_path(env, "ARTICLEBOT_CACHE_DIR", d.cache_dir),
            llm_model=env.get("ARTICLEBOT_LLM_MODEL", "").strip() or d.llm_model,
            embed_model=env.get("ARTICLEBOT_EMBED_MODEL", "").strip() or d.embed_model,
            embed_dtype=env.get("ARTICLEBOT_EMBED_DTYPE", "").strip() or d.embed_dtype,
            embed_backend=env.get("ARTICLEBOT_EMBED_BACKEND", "").strip() or d.embed_backend,
            article=_path(env, "ARTICLEBOT_ARTICLE", d.article),
            index_dir=_path(env, "ARTICLEBOT_INDEX_DIR", d.index_dir),
            data_dir=_path(env, "ARTICLEBOT_DATA_DIR", d.data_dir),
            prompts_dir=_path(env, "ARTICLEBOT_PROMPTS_DIR", d.prompts_dir),
            threads=_int(env, "ARTICLEBOT_THREADS", d.threads, 1),
            n_ctx=_int(env, "ARTICLEBOT_CTX", d.n_ctx, 512),
            top_k=_int(env, "ARTICLEBOT_TOP_K", d.top_k, 1),
            max_answer_tokens=_int(env, "ARTICLEBOT_MAX_TOKENS", d.max_answer_tokens, 16),
            temperature=_float(env, "ARTICLEBOT_TEMPERATURE", d.temperature),
            repeat_penalty=_float(env, "ARTICLEBOT_REPEAT_PENALTY", d.repeat_penalty),
            llm_mmap=_bool(env, "ARTICLEBOT_LLM_MMAP", d.llm_mmap),
            llm_repack=_bool(env, "ARTICLEBOT_LLM_REPACK", d.llm_repack),
            lookup_draft=_int(env, "ARTICLEBOT_LOOKUP_DRAFT", d.lookup_draft, 0),
            rewrite_follow_ups=_bool(env, "ARTICLEBOT_REWRITE_FOLLOW_UPS", d.rewrite_follow_ups),
            history_turns=_int(env, "ARTICLEBOT_HISTORY_TURNS", d.history_turns, 0),
            retrieval=env.get("ARTICLEBOT_RETRIEVAL", "").strip() or d.retrieval,
            prompt_mode=env.get("ARTICLEBOT_PROMPT_MODE", "").strip() or d.prompt_mode,
            min_similarity=_float(env, "ARTICLEBOT_MIN_SIMILARITY", d.min_similarity),
            refusal_confidence=_float(env, "ARTICLEBOT_REFUSAL_CONFIDENCE", d.refusal_confidence),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip() or d.telegram_api_base_url,
            allowed_users=_ids(env, "ARTICLEBOT_ALLOWED_USERS"),
            allowed_chats=_ids(env, "ARTICLEBOT_ALLOWED_CHATS"),
            admins=_ids(env, "ARTICLEBOT_ADMINS"),
            max_message_chars=_int(env, "ARTICLEBOT_MAX_MESSAGE_CHARS", d.max_message_chars, 1),
            max_pending_per_user=_int(env, "ARTICLEBOT_MAX_PENDING_PER_USER", d.max_pending_per_user, 1),
            max_queue=_int(env, "ARTICLEBOT_MAX_QUEUE", d.max_queue, 1),
            rate_limit_per_minute=_int(env, "ARTICLEBOT_RATE_LIMIT", d.rate_limit_per_minute, 0),
            edit_interval=_float(env, "ARTICLEBOT_EDIT_INTERVAL", d.edit_interval),
            telegram_timeout=_float(env, "ARTICLEBOT_TELEGRAM_TIMEOUT", d.telegram_timeout),
            log_level=(env.get("ARTICLEBOT_LOG_LEVEL", "").strip() or d.log_level).upper(),
            llm_url=env.get("ARTICLEBOT_LLM_URL", "").strip(),
            llm_server_model=env.get("ARTICLEBOT_LLM_SERVER_MODEL", "").strip(),
            llm_api_key=env.get("ARTICLEBOT_LLM_API_KEY", "").strip(),
            llm_timeout=_float(env, "ARTICLEBOT_LLM_TIMEOUT", d.llm_timeout),
            database_url=env.get("ARTICLEBOT_DATABASE_URL", "").strip(),
            replica_id=env.get("ARTICLEBOT_REPLICA_ID", "").strip() or d.replica_id,
            webhook_url=env.get("ARTICLEBOT_WEBHOOK_URL", "").strip(),
            webhook_listen=env.get("ARTICLEBOT_WEBHOOK_LISTEN", "").strip() or d.webhook_listen,
            webhook_port=_int(env, "ARTICLEBOT_WEBHOOK_PORT", d.webhook_port, 1),
            webhook_secret=env.get("ARTICLEBOT_WEBHOOK_SECRET", "").strip(),
            webhook_cert=env.get("ARTICLEBOT_WEBHOOK_CERT", "").strip(),
            webhook_key=env.get("ARTICLEBOT_WEBHOOK_KEY", "").strip(),
        )
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
        if self.retrieval not in {"hybrid", "dense", "lexical"}:
            raise ConfigError(f"ARTICLEBOT_RETRIEVAL={self.retrieval!r}: use hybrid, dense or lexical")
        if self.embed_dtype not in {"auto", "float32", "bfloat16"}:
            raise ConfigError(f"ARTICLEBOT_EMBED_DTYPE={self.embed_dtype!r}: use auto, float32 or bfloat16")
        if self.embed_backend not in EMBED_BACKENDS:
            raise ConfigError(f"ARTICLEBOT_EMBED_BACKEND={self.embed_backend!r}: use one of {', '.join(EMBED_BACKENDS)}")
        if self.prompt_mode not in {"auto", "article", "retrieval"}:
            raise ConfigError(f"ARTICLEBOT_PROMPT_MODE={self.prompt_mode!r}: use auto, article or retrieval")
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

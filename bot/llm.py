"""The local LLM: load a GGUF once, render prompts with the file's own chat template, keep a fixed
prefix (instructions + article) in llama.cpp's KV cache, save that prefix state to disk, stream tokens.

Why the prefix matters: on a CPU, prompt processing dominates answer latency. Every prompt starts with
the same prefix tokens, so llama-cpp-python's prefix matching only evaluates the per-question suffix.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from .answer.span_constraint import SpanConstraint, VocabIndex
from .batching import BatchError, DecodeScheduler, Request, holds_prefix
from .lookup_decoding import detokenize_stream
from .progress import step

log = logging.getLogger("articlebot.llm")

SAMPLING = {"top_k": 40, "top_p": 0.9, "min_p": 0.05}  # with the temperature and repeat penalty of the settings
PREFIX_STEP_TOKENS = 256  # a prefix is evaluated in steps this long, for the progress bar
SPLITS_KEPT = 4  # system texts whose tokenised prefix is kept (the article's, the sentence look's, a test's)
_SPECIAL_TOKEN_TEXT = re.compile(r"<\|[^|<>\s]{1,40}\|>")
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class LLMError(RuntimeError):
    """The model cannot be loaded or cannot answer; the message is safe to log."""


class LLMUnavailable(LLMError):
    """The inference server cannot be reached (down, restarting, overloaded): users are told to retry."""


class ChatModel(Protocol):
    """What the engine needs from a language model, in process or behind a server.

    The system text (instructions + article) always comes first, so every backend can keep it cached.
    """

    name: str
    fingerprint: str  # changes when the model or its context changes: keys cached summaries
    n_ctx: int

    def prompt_tokens(self, system: str) -> int: ...

    def warm(self, system: str) -> float: ...

    def stream(self, system: str, user: str, max_tokens: int, temperature: float = 0.1,
               stats: "GenerationStats | None" = None, cancel: threading.Event | None = None,
               earlier: Sequence[tuple[str, str]] = (),
               constraint: "SpanConstraint | None" = None) -> Iterator[str]:
        """`constraint`: from the backend's `span_constraint` (optional: a backend without one answers freely
        and the pipeline checks the quote)."""


def chat_messages(system: str, user: str, earlier: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """System, then the earlier (question, answer) turns of the chat, then the question; control tokens
    removed from every text."""
    messages = [{"role": "system", "content": sanitize(system)}]
    for question, answer in earlier:
        messages += [{"role": "user", "content": sanitize(question)}, {"role": "assistant", "content": sanitize(answer)}]
    return messages + [{"role": "user", "content": sanitize(user)}]


def sanitize(text: str) -> str:
    """Remove text that the tokenizer would read as control tokens (<|im_end|> and the like), so user
    input or an article cannot close the system message or open a new turn."""
    return _SPECIAL_TOKEN_TEXT.sub("", text)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens not served from the KV cache
    completion_tokens: int = 0
    first_token_s: float = 0.0
    total_s: float = 0.0

    def count_piece(self, started: float) -> None:
        """One more streamed piece; the first one fixes the time to first token."""
        if self.completion_tokens == 0:
            self.first_token_s = time.perf_counter() - started
        self.completion_tokens += 1


_LOAD_LOCK = threading.Lock()


def load_llama(path: Path | str, repack: bool = True, sequences: int = 1, **kwargs):
    """A llama-cpp-python `Llama`, with llama.cpp's CPU weight repacking on or off, and a KV cache for
    `sequences` sequences that share their cells (unified: a copied prefix is not duplicated).

    llama-cpp-python exposes neither `use_extra_bufts` (repacking) nor `n_seq_max`; it builds the model and
    context parameters from llama.cpp's defaults inside `Llama()`, so those functions are wrapped while the
    model loads."""
    import llama_cpp.llama_cpp as low
    from llama_cpp import Llama

    with _LOAD_LOCK:
        model_defaults, context_defaults = low.llama_model_default_params, low.llama_context_default_params

        def model_params():
            params = model_defaults()
            params.use_extra_bufts = repack
            return params

        def context_params():
            params = context_defaults()
            params.n_seq_max = sequences
            params.kv_unified = True
            return params

        low.llama_model_default_params, low.llama_context_default_params = model_params, context_params
        try:
            return Llama(str(path), **kwargs)
        finally:
            low.llama_model_default_params, low.llama_context_default_params = model_defaults, context_defaults


class LocalLLM:
    def __init__(self, path: Path, n_ctx: int = 8192, threads: int = 2, state_dir: Path | None = None,
                 n_batch: int = 512, repeat_penalty: float = 1.1, use_mmap: bool = False, lookup_draft: int = 0,
                 repack: bool = True, slots: int = 1) -> None:
        """`slots`: answers decoded together (continuous batching, see batching.py)."""
        self.path = Path(path)
        self.state_dir = state_dir
        self.repeat_penalty = repeat_penalty
        started = time.perf_counter()
        try:
            self.llama = load_llama(self.path, repack, slots + 1, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                    n_batch=n_batch, use_mmap=use_mmap, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"llama.cpp could not load {self.path} ({exc}); the file may be corrupt: "
                           "delete it and run `articlebot models fetch`, or point ARTICLEBOT_LLM_MODEL at another GGUF") from None
        self.load_seconds = time.perf_counter() - started
        self.name = self.path.name
        self.n_ctx = self.llama.n_ctx()
        template = self.llama.metadata.get("tokenizer.chat_template") or _CHATML
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self.llama._model.token_get_text(self.llama.token_eos()) if self.llama.token_eos() >= 0 else ""
        bos = self.llama._model.token_get_text(self.llama.token_bos()) if self.llama.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self.fingerprint = self._fingerprint()
        self._splits: dict[str, tuple[int, list[int]]] = {}  # system text -> (prefix length, prefix tokens)
        self._vocab: VocabIndex | None = None  # built on the first constrained answer
        self.slots = slots
        self.scheduler = DecodeScheduler(self.llama, slots, lookup_draft, self._warm_prefix_locked)

    @property
    def lookup_draft(self) -> int:
        return self.scheduler.n_draft

    def set_lookup_draft(self, tokens: int) -> None:
        """Tokens drafted from the prompt per decoding step (prompt-lookup decoding); 0 decodes one token per
        step."""
        self.scheduler.n_draft = tokens

    # ---------------------------------------------------------------- prompts

    def _fingerprint(self) -> str:
        st = self.path.stat()
        from llama_cpp import __version__

        return hashlib.sha256(f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.n_ctx}|{__version__}".encode()).hexdigest()[:16]

    def render(self, system: str, user: str, earlier: Sequence[tuple[str, str]] = ()) -> tuple[list[int], list[int]]:
        """Prompt tokens split into (fixed prefix, per-question suffix) with the model's chat template.

        The prefix is what two renderings with different user texts share, so it is identical for every
        question and stays in the KV cache.
        """
        if system not in self._splits:  # the prefix is tokenised once per system text
            a = self._format(chat_messages(system, "\x01"))
            b = self._format(chat_messages(system, "\x02"))
            cut = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            if len(self._splits) >= SPLITS_KEPT:
                self._splits.pop(next(iter(self._splits)))
            self._splits[system] = (cut, self.llama.tokenize(a[:cut].encode("utf-8"), add_bos=True, special=True))
        cut, prefix = self._splits[system]
        suffix_text = self._format(chat_messages(system, user, earlier))[cut:]
        suffix = self.llama.tokenize(suffix_text.encode("utf-8"), add_bos=False, special=True)
        return list(prefix), suffix

    def _format(self, messages: list[dict[str, str]]) -> str:
        return self._formatter(messages=messages).prompt

    def prompt_tokens(self, system: str) -> int:
        """Tokens of the fixed part of every prompt (template + system text)."""
        return len(self.render(system, "x")[0])

    def warm(self, system: str) -> float:
        return self.warm_prefix(self.render(system, "x")[0])

    # ---------------------------------------------------------------- prefix state

    def warm_prefix(self, prefix: list[int]) -> float:
        """Make `prefix` the start of the KV cache: from memory, from a saved state file, or by
        evaluating it (then saving the state). Returns the seconds spent."""
        with self.scheduler.exclusive():
            return self._warm_prefix_locked(prefix)

    def _warm_prefix_locked(self, prefix: list[int]) -> float:
        if holds_prefix(self.llama, prefix):
            return 0.0
        started = time.perf_counter()
        key = hashlib.sha256((self.fingerprint + json.dumps(prefix)).encode()).hexdigest()[:24]
        path = self.state_dir / f"prefix-{key}.kv" if self.state_dir else None
        if path and path.exists() and self._load_state(path, prefix):
            log.info("event=prefix_state_loaded tokens=%d seconds=%.2f", len(prefix), time.perf_counter() - started)
        else:
            self.llama.reset()
            with step("computing the article prompt (once per article and model)", len(prefix), "token") as bar:
                for start in range(0, len(prefix), PREFIX_STEP_TOKENS):  # the same as one eval, in steps
                    self.llama.eval(prefix[start:start + PREFIX_STEP_TOKENS])
                    bar.update(len(prefix[start:start + PREFIX_STEP_TOKENS]))
            log.info("event=prefix_evaluated tokens=%d seconds=%.2f", len(prefix), time.perf_counter() - started)
            if path:
                self._save_state(path)
        return time.perf_counter() - started

    def _save_state(self, path: Path) -> None:
        import llama_cpp

        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        tmp = path.with_name(path.name + f".{os.getpid()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                header = json.dumps({"n_tokens": int(self.llama.n_tokens), "bytes": int(written)}).encode()
                fh.write(len(header).to_bytes(4, "little") + header)
                fh.write(memoryview(buf)[:written])
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk costs speed next start, not correctness
            tmp.unlink(missing_ok=True)
            log.warning("event=prefix_state_not_saved path=%s error=%s", path, exc.strerror)

    def _load_state(self, path: Path, prefix: list[int]) -> bool:
        import llama_cpp

        try:  # read straight into the buffer llama.cpp takes: one copy of the ~95 MB state in memory, not three
            with open(path, "rb") as fh:
                hlen = int.from_bytes(fh.read(4), "little")
                header = json.loads(fh.read(hlen))
                size = int(header["bytes"])
                if header["n_tokens"] != len(prefix) or size != path.stat().st_size - 4 - hlen:
                    raise ValueError("size mismatch")
                buf = (ctypes.c_uint8 * size)()
                if fh.readinto(buf) != size:
                    raise ValueError("short read")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("event=prefix_state_unreadable path=%s error=%s", path, exc)
            path.unlink(missing_ok=True)
            return False
        self.llama.reset()
        ctx = self.llama._ctx.ctx
        if llama_cpp.llama_state_seq_set_data(ctx, buf, size, 0) != size:
            log.warning("event=prefix_state_rejected path=%s", path)
            path.unlink(missing_ok=True)
            return False
        self.llama.input_ids[: len(prefix)] = prefix
        self.llama.n_tokens = len(prefix)
        self.llama._requires_eval = True
        return True

    # ---------------------------------------------------------------- generation

    def stream(self, system: str, user: str, max_tokens: int, temperature: float = 0.1,
               stats: GenerationStats | None = None, cancel: threading.Event | None = None,
               earlier: Sequence[tuple[str, str]] = (),
               constraint: SpanConstraint | None = None) -> Iterator[str]:
        """Yield text pieces of the answer, decoded together with other chats' answers. With a `constraint`
        (from `span_constraint`) the answer is a verbatim span of its sources."""
        prefix, suffix = self.render(system, user, earlier)
        yield from self.stream_tokens(prefix, suffix, max_tokens, temperature, stats, cancel, constraint)

    def span_constraint(self, sources: Sequence[str], alternatives: Sequence[str] = (),
                        min_alternative_probability: float = 0.0) -> SpanConstraint:
        """A logits processor for `stream` that keeps the answer a verbatim span of `sources`, or one of the
        `alternatives` texts whole (the refusal sentinel) where the model is that sure of it."""
        if self._vocab is None:
            self._vocab = VocabIndex.build(self.llama.n_vocab(), lambda t: self.llama.detokenize([t]))
        stops = [t for t in (self.llama.token_eos(), *self.llama.tokenize(b"<|im_end|>", add_bos=False, special=True))
                 if t >= 0]
        tokenized = [self.llama.tokenize(a.encode("utf-8"), add_bos=False, special=False) for a in alternatives]
        return SpanConstraint(self._vocab, sources, sorted(set(stops)), tokenized, min_alternative_probability)

    def stream_tokens(self, prefix: list[int], suffix: list[int], max_tokens: int, temperature: float = 0.1,
                      stats: GenerationStats | None = None, cancel: threading.Event | None = None,
                      constraint: SpanConstraint | None = None) -> Iterator[str]:
        """Yield text pieces for the prompt `prefix` + `suffix`. The prefix comes from the cache (sequence 0,
        restored from its saved state when another prefix took it); the suffix is always computed from the
        same position, so an answer does not depend on what was asked before it."""
        stats = stats if stats is not None else GenerationStats()
        tokens = prefix + suffix
        if len(tokens) + 16 > self.n_ctx:
            raise LLMError(f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}")
        sampling = {"temp": temperature, "repeat_penalty": self.repeat_penalty, **SAMPLING}
        if constraint is not None:  # a quote repeats the prompt by design: no penalty
            sampling["repeat_penalty"] = 1.0
        request = Request(tokens, prefix, min(max_tokens, self.n_ctx - len(tokens)), sampling, constraint,
                          asker_cancel=cancel)
        stats.prompt_tokens, stats.evaluated_tokens = len(tokens), len(suffix)
        started = time.perf_counter()
        counted = 0

        def counting(stream: Iterator[int]) -> Iterator[int]:
            nonlocal counted
            for token in stream:
                counted += 1
                yield token

        self.scheduler.submit(request)
        try:
            for text in detokenize_stream(self.llama, counting(request.results())):
                stats.count_piece(started)
                yield text
                if cancel is not None and cancel.is_set():
                    break
        except BatchError as exc:
            raise LLMError(str(exc)) from None
        finally:
            request.cancel.set()  # a reader that stops early frees its sequence
            stats.total_s = time.perf_counter() - started
            stats.completion_tokens = counted

"""An OpenAI-compatible inference server as the language model: llama.cpp's server, vLLM, Ollama,
llama-cpp-python's server. Same prompt layout as in process: the system message (instructions + the
whole article) comes first and never changes, so the server's prefix caching (llama.cpp `cache_prompt`,
vLLM automatic prefix caching) serves it from memory and only the question part is computed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Iterator, Sequence
from urllib.parse import urlparse

import httpx

from .llm import GenerationStats, LLMError, LLMUnavailable, chat_messages
from .net import is_loopback

log = logging.getLogger("articlebot.llm_remote")

RETRY_DELAYS = (0.5, 1.0, 2.0)  # before the first token only: a half-streamed answer is never restarted
CHARS_PER_TOKEN = 2.0  # conservative for Arabic and English with Qwen-, Llama- and Gemma-style tokenizers
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class RemoteLLM:
    def __init__(self, url: str, model: str = "", api_key: str = "", n_ctx: int = 8192,
                 timeout: float = 120.0) -> None:
        base = url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        host = urlparse(self.base_url).hostname or ""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, trust_env=not is_loopback(self.base_url),
                                    timeout=httpx.Timeout(timeout, connect=5.0))
        self.model = model
        self.n_ctx = n_ctx
        self.name = f"{model or 'server'} at {host}"
        self.fingerprint = hashlib.sha256(f"{self.base_url}|{model}|{n_ctx}".encode()).hexdigest()[:16]

    def _model_name(self) -> str:
        """The configured model, else the first one the server lists (llama.cpp and vLLM serve one)."""
        if not self.model:
            try:
                listed = self._client.get(f"{self.base_url}/models").json()["data"]
                self.model = listed[0]["id"]
            except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
                raise LLMUnavailable(f"cannot list the server's models at {self.base_url} ({type(exc).__name__})") from None
        return self.model

    def prompt_tokens(self, system: str) -> int:
        """An estimate that errs on the long side, so the whole-article layout is only chosen when it fits."""
        return int(len(system) / CHARS_PER_TOKEN) + 32

    def warm(self, system: str) -> float:
        """Send the fixed prefix once so the server has it cached before the first user asks. A server
        that is not up yet is not an error here: the first question pays instead."""
        started = time.perf_counter()
        try:
            for _ in self.stream(system, "ok", max_tokens=1):
                pass
        except LLMError as exc:
            log.warning("event=llm_server_warm_failed url=%s error=%s", self.base_url, exc)
        return time.perf_counter() - started

    def stream(self, system: str, user: str, max_tokens: int, temperature: float = 0.1,
               stats: GenerationStats | None = None, cancel: threading.Event | None = None,
               earlier: Sequence[tuple[str, str]] = (), constraint: object = None) -> Iterator[str]:
        """See ChatModel.stream; `constraint` is ignored (this backend has no `span_constraint`, so the
        pipeline checks its quotes instead)."""
        stats = stats if stats is not None else GenerationStats()
        body = {
            "model": self._model_name(),
            "messages": chat_messages(system, user, earlier),
            "stream": True, "max_tokens": max_tokens, "temperature": temperature, "top_p": 0.9,
            "stop": ["NOT_IN_ARTICLE\n"],
        }
        started = time.perf_counter()
        try:
            for attempt, delay in enumerate((*RETRY_DELAYS, None)):
                try:
                    with self._client.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
                        if response.status_code in RETRYABLE_STATUS and delay is not None:
                            log.warning("event=llm_server_retry status=%d attempt=%d", response.status_code, attempt + 1)
                            time.sleep(delay)
                            continue
                        if response.status_code >= 400:
                            response.read()
                            error = LLMUnavailable if response.status_code in RETRYABLE_STATUS else LLMError
                            raise error(f"the server answered {response.status_code}: {response.text[:200]}")
                        yield from self._pieces(response, stats, started, cancel)
                        return
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    if delay is None:
                        raise LLMUnavailable(f"cannot reach the LLM server at {self.base_url} ({type(exc).__name__})") from None
                    log.warning("event=llm_server_retry error=%s attempt=%d", type(exc).__name__, attempt + 1)
                    time.sleep(delay)
        except httpx.HTTPError as exc:  # read errors, a server killed mid-answer, timeouts
            raise LLMUnavailable(f"the LLM server connection failed ({type(exc).__name__})") from None
        finally:
            stats.total_s = time.perf_counter() - started

    @staticmethod
    def _pieces(response: httpx.Response, stats: GenerationStats, started: float,
                cancel: threading.Event | None) -> Iterator[str]:
        """Text pieces from the server-sent events of a streamed chat completion."""
        finished = False
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            try:
                choice = json.loads(data)["choices"][0]
            except (ValueError, KeyError, IndexError):
                continue
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                stats.count_piece(started)
                yield text
                if cancel is not None and cancel.is_set():
                    return
            if choice.get("finish_reason"):
                finished = True
        if not finished:
            raise LLMUnavailable("the LLM server closed the stream before the answer was complete")

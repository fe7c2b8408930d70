"""Continuous batching: several chats decode together in one llama.cpp context.

On a CPU, one decoding step reads all the weights once; a step that advances four sequences costs little
more than one that advances a single sequence. So one thread owns the context and, at every step, puts the
next token of every active request (and its prompt-lookup drafts, and a slice of a newly arrived request's
prompt) into a single `llama_decode`. A request joins at the next step and leaves when it ends, freeing its
cache cells.

Sequence 0 holds the fixed prompt prefix (instructions + article) and is never decoded into; each request
runs in its own sequence 1..slots, which starts as a copy of sequence 0 (with a unified KV cache the copy
shares the prefix cells instead of duplicating them). Sampling is per request: its own sampler chain
(temperature, penalties), its own span constraint, its own drafts.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from .lookup_decoding import propose

PREFILL_CHUNK = 256  # prompt tokens of one request per step: longer prompts are split so others keep streaming
_FINISHED = object()


class BatchError(RuntimeError):
    """The request could not be decoded (the context is full, llama.cpp failed)."""


@dataclass(eq=False)
class Request:
    """One generation: `tokens` (prefix + suffix) are the prompt, of which `prefix` is what sequence 0 holds."""

    tokens: list[int]
    prefix: list[int]
    max_tokens: int
    sampling: dict[str, Any]
    constraint: Callable | None = None  # a logits processor (the span constraint): no drafts then
    cancel: threading.Event = field(default_factory=threading.Event)  # set by the reader when it stops
    asker_cancel: threading.Event | None = None  # the asker's /cancel
    out: "queue.SimpleQueue[Any]" = field(default_factory=queue.SimpleQueue)
    # the scheduler's state
    seq: int = -1
    n_past: int = 0  # this request's tokens in its sequence's cache
    next_token: int | None = None  # sampled, not yet in the cache
    produced: int = 0
    written: list[int] = field(default_factory=list)
    sampler: Any = None
    resting: bool = False  # a wholly wrong draft: one plain step before drafting again

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set() or (self.asker_cancel is not None and self.asker_cancel.is_set())

    @property
    def reserve(self) -> int:
        """Cache cells this request may take beyond the shared prefix."""
        return len(self.tokens) - len(self.prefix) + self.max_tokens + 1

    def results(self) -> Iterator[int]:
        """The sampled tokens as the scheduler produces them; raises BatchError when decoding failed."""
        while True:
            item = self.out.get()
            if item is _FINISHED:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


@dataclass
class BatchStats:
    steps: int = 0
    batched_steps: int = 0  # steps that advanced more than one request
    tokens: int = 0  # sampled and handed to readers
    prompt_tokens: int = 0  # of the requests' prompts, evaluated after the shared prefix
    drafted: int = 0
    accepted: int = 0


class DecodeScheduler:
    """Runs every generation of one `Llama` in a single thread, batching active requests.

    `warm(prefix)` makes sequence 0 hold `prefix` (it is called in the scheduler thread, with no request
    active); `exclusive()` lets another thread use the context alone (waits until no request is active)."""

    def __init__(self, llama, slots: int, n_draft: int, warm: Callable[[list[int]], None]) -> None:
        import llama_cpp

        self.llama = llama
        self.slots = slots
        self.n_draft = n_draft
        self._warm = warm
        self._low = llama_cpp
        self._memory = llama_cpp.llama_get_memory(llama._ctx.ctx)
        self._n_batch = llama.n_batch
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._waiting: deque[Request] = deque()
        self._active: list[Request] = []
        self._free = list(range(slots, 0, -1))  # sequence ids; 0 is the prefix
        self._exclusive = 0
        self._cond = threading.Condition()
        self._context_lock = threading.Lock()  # held by whoever uses the llama context
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._run, name="llm-decode", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- other threads

    def submit(self, request: Request) -> None:
        with self._cond:
            self._waiting.append(request)
            self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The context to oneself: no request is admitted meanwhile; active ones finish first."""
        with self._cond:
            self._exclusive += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._active)
        try:
            with self._context_lock:
                yield
        finally:
            with self._cond:
                self._exclusive -= 1
                self._cond.notify_all()

    # ---------------------------------------------------------------- the scheduler thread

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._active or (self._waiting and not self._exclusive))
            with self._context_lock:
                self._admit()
                if self._active:
                    self._step()
                self._release_finished()

    def _admit(self) -> None:
        """Move waiting requests into free sequences while the cache has room; a request for another prefix
        waits until the active ones are done, then the prefix is changed."""
        while True:
            with self._cond:
                if self._exclusive or not self._waiting or not self._free:
                    return
                request = self._waiting[0]
                if request.cancelled:
                    self._waiting.popleft()
                    request.out.put(_FINISHED)
                    continue
                used = len(request.prefix) + sum(r.reserve for r in self._active)
                if self._active and used + request.reserve > self.llama.n_ctx():
                    return  # checked first: comparing ~3,000 prefix tokens once a step while it waits is waste
                same_prefix = holds_prefix(self.llama, request.prefix)
                if not same_prefix and self._active:
                    return
                self._waiting.popleft()
            if not same_prefix:
                try:
                    self._warm(request.prefix)
                except Exception as exc:  # noqa: BLE001 - handed to the request's reader
                    request.out.put(BatchError(f"the prompt prefix could not be computed: {exc}"))
                    continue
            self._start(request)

    def _start(self, request: Request) -> None:
        seq = self._free.pop()
        self._low.llama_memory_seq_rm(self._memory, seq, -1, -1)
        self._low.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
        request.seq, request.n_past = seq, len(request.prefix)
        sampling = dict(request.sampling)
        if request.constraint is not None:
            constraint = request.constraint
            sampling["logits_processor"] = [lambda _ids, scores: constraint(np.asarray(request.written[-1:]), scores)]
        request.sampler = self.llama._init_sampler(**sampling)
        with self._cond:
            self._active.append(request)

    def _step(self) -> None:
        """One llama_decode for every active request: decoding ones first (one token and its drafts each),
        then prompt slices of new ones in what room is left."""
        plan: list[tuple[Request, list[int], int]] = []  # request, its tokens in the batch, their first index
        filled = 0
        decoding = [r for r in self._active if r.next_token is not None]
        prefilling = [r for r in self._active if r.next_token is None]
        for request in decoding:
            tokens = [request.next_token, *self._draft(request)]
            plan.append((request, tokens, filled))
            filled += len(tokens)
        for request in prefilling:
            room = min(PREFILL_CHUNK, self._n_batch - filled)
            if room <= 0:
                break
            tokens = request.tokens[request.n_past: request.n_past + room]
            plan.append((request, tokens, filled))
            filled += len(tokens)
        self._fill(plan)
        code = self._low.llama_decode(self.llama._ctx.ctx, self._batch)
        if code != 0:  # 1: no room in the cache for the batch; negative: llama.cpp failed
            for request, _, _ in plan:
                self._finish(request, BatchError(f"generation failed: llama_decode returned {code}"))
            return
        self.stats.steps += 1
        self.stats.batched_steps += len(plan) > 1
        for request, tokens, first in plan:
            if request.next_token is None:
                request.n_past += len(tokens)
                self.stats.prompt_tokens += len(tokens)
                if request.n_past == len(request.tokens):  # the prompt is in: its first token
                    self._take(request, request.sampler.sample(self.llama._ctx, first + len(tokens) - 1))
            else:
                self._accept(request, tokens, first)

    def _draft(self, request: Request) -> list[int]:
        room = min(self.n_draft, request.max_tokens - request.produced, self.llama.n_ctx() - request.n_past - 2)
        if request.constraint is not None or request.resting or room <= 0:
            request.resting = False
            return []
        return propose(np.asarray(request.tokens + request.written, dtype=np.intc), room)

    def _fill(self, plan: list[tuple[Request, list[int], int]]) -> None:
        batch = self._batch
        batch.n_tokens = 0
        for request, tokens, first in plan:
            decoding = request.next_token is not None
            last_of_prompt = not decoding and request.n_past + len(tokens) == len(request.tokens)
            for i, token in enumerate(tokens):
                j = first + i
                batch.token[j] = token
                batch.pos[j] = request.n_past + i
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = request.seq
                batch.logits[j] = decoding or (last_of_prompt and i == len(tokens) - 1)
            batch.n_tokens += len(tokens)

    def _accept(self, request: Request, tokens: list[int], first: int) -> None:
        """Sample at each position of the step: a drafted token is kept while it equals the sampled one; the
        first sampled token that differs is the next one. Cells of rejected drafts are removed."""
        drafted = len(tokens) - 1
        kept = 0
        token = -1
        for i in range(len(tokens)):
            token = request.sampler.sample(self.llama._ctx, first + i)
            if i < drafted and token == tokens[i + 1] and not self._is_end(token):
                kept += 1
                if self._emit(request, token):
                    continue
            break
        self.stats.drafted += drafted
        self.stats.accepted += kept
        if request.seq < 0:  # ended on a kept draft (its limit, or cancelled)
            return
        request.resting = drafted > 0 and kept == 0
        request.n_past += 1 + kept
        self._low.llama_memory_seq_rm(self._memory, request.seq, request.n_past, -1)
        self._take(request, token)

    def _take(self, request: Request, token: int) -> None:
        """`token` was sampled: the request's next token, or its end."""
        if self._is_end(token):
            self._finish(request)
            return
        request.next_token = token
        self._emit(request, token)

    def _emit(self, request: Request, token: int) -> bool:
        """Hand a sampled token to the reader; False when the request has ended (limit or cancelled)."""
        request.written.append(token)
        request.produced += 1
        self.stats.tokens += 1
        request.out.put(token)
        if request.produced >= request.max_tokens or request.cancelled:
            self._finish(request)
            return False
        return True

    def _is_end(self, token: int) -> bool:
        return bool(self._low.llama_vocab_is_eog(self.llama._model.vocab, token))

    def _finish(self, request: Request, error: BaseException | None = None) -> None:
        if request.seq < 0:
            return
        self._low.llama_memory_seq_rm(self._memory, request.seq, -1, -1)
        self._free.append(request.seq)
        request.seq = -1
        request.out.put(error if error is not None else _FINISHED)

    def _release_finished(self) -> None:
        """Free the sequences of requests cancelled by their readers; drop ended requests from the active."""
        for request in list(self._active):
            if request.seq >= 0 and request.cancelled:
                self._finish(request)
        with self._cond:
            self._active = [r for r in self._active if r.seq >= 0]
            self._cond.notify_all()


def holds_prefix(llama, prefix: list[int]) -> bool:
    """Whether sequence 0 of `llama`'s cache holds exactly `prefix` (what llama-cpp-python tracks for it)."""
    return llama.n_tokens == len(prefix) and list(llama.input_ids[: len(prefix)]) == prefix

"""Progress of the long first-run steps (downloads, model assembly, export, index, article prompt).

Off unless the CLI turns it on for a person at a terminal (`enable`): a bot under systemd logs events, not
bars. On, each step is one line: a live tqdm bar on a terminal, its label alone when output is a file.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

_stream: TextIO | None = None


def enable(stream: TextIO | None = None) -> None:
    global _stream
    _stream = stream or sys.stderr


def disable() -> None:
    global _stream
    _stream = None


def note(text: str) -> None:
    """A one-line step with nothing to count (skipped when progress is off)."""
    if _stream is not None:
        print(text, file=_stream, flush=True)


class Step:
    def __init__(self, label: str, total: float | None, unit: str, stream: TextIO | None) -> None:
        self.bar = None
        if stream is None:
            return
        if stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit=unit, unit_scale=unit == "B", unit_divisor=1024,
                            file=stream, dynamic_ncols=True, mininterval=0.5)
        else:
            print(f"{label} ...", file=stream, flush=True)

    def update(self, amount: float = 1) -> None:
        if self.bar is not None:
            self.bar.update(amount)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def step(label: str, total: float | None = None, unit: str = "it") -> Iterator[Step]:
    """One step's bar (`total` in `unit`s; None: elapsed time only)."""
    current = Step(label, total, unit, _stream)
    try:
        yield current
    finally:
        current.close()

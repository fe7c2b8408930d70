"""Language data and analysis shared by every stage: word lists live in `data/*.txt` (one entry per line,
`#` comments), read once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=None)
def words(name: str) -> frozenset[str]:
    """The entries of `data/<name>.txt`, lower-cased."""
    lines = (DATA_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(ln.strip().lower() for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))

"""Load prompt templates from prompts/ (one file per task and language) and fill them in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


class PromptError(RuntimeError):
    pass


@lru_cache(maxsize=64)
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"prompt file {path} cannot be read ({exc.strerror}); restore it from git") from None


class Prompts:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def text(self, name: str) -> str:
        return _read(self.directory / f"{name}.txt")

    def fill(self, name: str, **values: str) -> str:
        template = self.text(name)
        try:
            return template.format(**values)
        except (KeyError, IndexError) as exc:
            raise PromptError(f"prompt {name}.txt uses a placeholder we do not fill: {exc}") from None

    def fingerprint(self) -> str:
        """Changes whenever any prompt file changes (cached summaries and prefix states depend on it)."""
        import hashlib

        digest = hashlib.sha256()
        for path in sorted(self.directory.glob("*.txt")):
            digest.update(path.name.encode() + b"\0" + _read(path).encode())
        return digest.hexdigest()[:16]

"""Chat state in SQLite: bounded history and the last answer's sources per chat, one transaction per turn.

WAL mode so readers never block the writer; survives restarts.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from ..engine import Turn

log = logging.getLogger("articlebot.telegram.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    language TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_chat ON turns (chat_id, id);
CREATE TABLE IF NOT EXISTS chats (
    chat_id INTEGER PRIMARY KEY,
    language TEXT,
    last_sources TEXT NOT NULL DEFAULT '[]'
);
-- questions accepted but not yet answered: after a crash their askers are told to ask again
CREATE TABLE IF NOT EXISTS pending (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    language TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
-- messages already handled: an update delivered again after a crash is not answered twice
CREATE TABLE IF NOT EXISTS seen (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
"""
SEEN_KEEP_SECONDS = 3 * 24 * 3600


class StoreError(RuntimeError):
    """The chat database cannot be opened; the message names the file and the fix."""


class ChatStore:
    def __init__(self, path: Path, max_turns: int = 20) -> None:
        self.path = path
        self.max_turns = max_turns
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.execute("DELETE FROM seen WHERE created < ?", (time.time() - SEEN_KEEP_SECONDS,))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the chat database {path} ({exc}); make its folder writable "
                             "or point ARTICLEBOT_DATA_DIR at one that is") from None

    def history(self, chat_id: int, limit: int) -> list[Turn]:
        with self._lock:
            rows = self._db.execute(
                "SELECT question, answer, language, chunk_ids FROM turns WHERE chat_id=? ORDER BY id DESC LIMIT ?",
                (chat_id, limit)).fetchall()
        return [Turn(q, a, lang, json.loads(ids)) for q, a, lang, ids in reversed(rows)]

    def add_turn(self, chat_id: int, turn: Turn) -> None:
        """Append a turn, remember its sources and trim old turns: all or nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO turns (chat_id, question, answer, language, chunk_ids, created) VALUES (?,?,?,?,?,?)",
                    (chat_id, turn.question, turn.answer, turn.language, json.dumps(turn.chunk_ids), time.time()))
                self._set_chat(chat_id, turn.language, turn.chunk_ids)
                self._db.execute(
                    "DELETE FROM turns WHERE chat_id=? AND id NOT IN "
                    "(SELECT id FROM turns WHERE chat_id=? ORDER BY id DESC LIMIT ?)",
                    (chat_id, chat_id, self.max_turns))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_sources(self, chat_id: int, language: str, chunk_ids: list[int]) -> None:
        with self._lock:
            self._set_chat(chat_id, language, chunk_ids)

    def _set_chat(self, chat_id: int, language: str, chunk_ids: list[int]) -> None:
        self._db.execute(
            "INSERT INTO chats (chat_id, language, last_sources) VALUES (?,?,?) "
            "ON CONFLICT(chat_id) DO UPDATE SET language=excluded.language, last_sources=excluded.last_sources",
            (chat_id, language, json.dumps(chunk_ids)))

    def last_sources(self, chat_id: int) -> list[int]:
        with self._lock:
            row = self._db.execute("SELECT last_sources FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
        return json.loads(row[0]) if row else []

    def language(self, chat_id: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT language FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
        return row[0] if row else None

    def reset(self, chat_id: int) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM turns WHERE chat_id=?", (chat_id,))
            self._db.execute("UPDATE chats SET last_sources='[]' WHERE chat_id=?", (chat_id,))
            self._db.execute("COMMIT")

    # Bookkeeping below is best effort: on a full or broken disk the bot keeps answering.

    def first_time(self, chat_id: int, message_id: int) -> bool:
        """Record a message as handled; False if it was handled before (a redelivered update)."""
        cursor = self._best_effort("INSERT OR IGNORE INTO seen (chat_id, message_id, created) VALUES (?,?,?)",
                                   (chat_id, message_id, time.time()))
        return cursor is None or cursor.rowcount == 1

    def add_pending(self, chat_id: int, message_id: int, language: str) -> None:
        self._best_effort("INSERT OR REPLACE INTO pending (chat_id, message_id, language, created) VALUES (?,?,?,?)",
                          (chat_id, message_id, language, time.time()))

    def remove_pending(self, chat_id: int, message_id: int) -> None:
        self._best_effort("DELETE FROM pending WHERE chat_id=? AND message_id=?", (chat_id, message_id))

    def _best_effort(self, sql: str, params: tuple) -> sqlite3.Cursor | None:
        try:
            with self._lock:
                return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            log.error("event=state_write_failed table=%s error=%s", sql.split()[2], exc)
            return None

    def pending(self) -> list[tuple[int, int, str]]:
        with self._lock:
            return self._db.execute("SELECT chat_id, message_id, language FROM pending ORDER BY created").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

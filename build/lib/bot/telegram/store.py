"""Chat state: bounded history and the last answer's sources per chat, questions accepted but not yet
answered, and messages already handled. One transaction per turn.

SQLite (WAL, so readers never block the writer) is the zero-setup default; with a postgresql:// URL
the same tables live in PostgreSQL, so several bot replicas share every chat.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Iterator, Protocol

from ..config import POSTGRES_URL_SCHEMES, Settings
from ..engine import Turn

log = logging.getLogger("articlebot.telegram.store")

_TABLES = """
CREATE TABLE IF NOT EXISTS turns (
    id {serial},
    chat_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    language TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    created {float} NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_chat ON turns (chat_id, id);
CREATE TABLE IF NOT EXISTS chats (
    chat_id BIGINT PRIMARY KEY,
    language TEXT,
    last_sources TEXT NOT NULL DEFAULT '[]'
);
-- questions accepted but not yet answered: after a crash their askers are told to ask again
-- (by the replica that accepted them: `owner`)
CREATE TABLE IF NOT EXISTS pending (
    chat_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    language TEXT NOT NULL,
    created {float} NOT NULL,
    owner TEXT NOT NULL DEFAULT 'local',
    PRIMARY KEY (chat_id, message_id)
);
-- messages already handled: an update delivered again (after a crash, or to a second replica) is not
-- answered twice
CREATE TABLE IF NOT EXISTS seen (
    chat_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    created {float} NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
"""
SEEN_KEEP_SECONDS = 3 * 24 * 3600


class StoreError(RuntimeError):
    """The chat database cannot be opened or written; the message names the database and the fix."""


class _Database(Protocol):
    def execute(self, sql: str, params: tuple = ()) -> tuple[list[tuple], int]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


class _SQLite:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_TABLES.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", float="REAL"))
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
            if "owner" not in columns:  # a database from before replicas
                self._db.execute("ALTER TABLE pending ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the chat database {path} ({exc}); make its folder writable "
                             "or point ARTICLEBOT_DATA_DIR at one that is") from None

    def execute(self, sql: str, params: tuple = ()) -> tuple[list[tuple], int]:
        try:
            cursor = self._db.execute(sql, params)
            return (cursor.fetchall() if cursor.description else []), cursor.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"chat database: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the failed statement may have ended the transaction already
            raise
        self.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class _Postgres:
    """One autocommit connection, reopened once if the server dropped it (a restart, a failover)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._in_transaction = False
        self._connect()
        for statement in filter(str.strip, _TABLES.format(serial="BIGSERIAL PRIMARY KEY", float="DOUBLE PRECISION").split(";")):
            self.execute("\n".join(ln for ln in statement.splitlines() if not ln.startswith("--")))

    def _connect(self) -> None:
        import psycopg

        try:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to ARTICLEBOT_DATABASE_URL ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None

    def execute(self, sql: str, params: tuple = ()) -> tuple[list[tuple], int]:
        import psycopg

        sql = sql.replace("?", "%s")
        for attempt in (1, 2):
            try:
                cursor = self._conn.execute(sql, params)
                return (cursor.fetchall() if cursor.description else []), cursor.rowcount
            except psycopg.OperationalError as exc:
                if attempt == 2 or self._in_transaction or not self._conn.closed:
                    raise StoreError(f"chat database: {exc}") from None
                log.warning("event=database_reconnect error=%s", type(exc).__name__)
                self._connect()
            except psycopg.Error as exc:
                raise StoreError(f"chat database: {exc}") from None
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        try:
            with self._conn.transaction():
                self._in_transaction = True
                yield
        except psycopg.Error as exc:
            raise StoreError(f"chat database: {exc}") from None
        finally:
            self._in_transaction = False

    def close(self) -> None:
        self._conn.close()


class ChatStore:
    """`location`: a SQLite file path, or a postgresql:// URL. `owner` names this replica's pending questions."""

    def __init__(self, location: Path | str, max_turns: int = 20, owner: str = "local") -> None:
        self.max_turns = max_turns
        self.owner = owner
        self._lock = threading.Lock()
        is_url = isinstance(location, str) and location.startswith(POSTGRES_URL_SCHEMES)
        self._db: _Database = _Postgres(str(location)) if is_url else _SQLite(Path(location))
        self._best_effort("DELETE FROM seen WHERE created < ?", (time.time() - SEEN_KEEP_SECONDS,))

    @classmethod
    def open(cls, settings: Settings) -> "ChatStore":
        return cls(settings.database_url or settings.data_dir / "chats.sqlite3", owner=settings.replica_id)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params)[0]

    def history(self, chat_id: int, limit: int) -> list[Turn]:
        rows = self._query("SELECT question, answer, language, chunk_ids FROM turns WHERE chat_id=? "
                           "ORDER BY id DESC LIMIT ?", (chat_id, limit))
        return [Turn(q, a, lang, json.loads(ids)) for q, a, lang, ids in reversed(rows)]

    def add_turn(self, chat_id: int, turn: Turn) -> None:
        """Append a turn, remember its sources and trim old turns: all or nothing."""
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO turns (chat_id, question, answer, language, chunk_ids, created) VALUES (?,?,?,?,?,?)",
                (chat_id, turn.question, turn.answer, turn.language, json.dumps(turn.chunk_ids), time.time()))
            self._set_chat(chat_id, turn.language, turn.chunk_ids)
            self._db.execute(
                "DELETE FROM turns WHERE chat_id=? AND id NOT IN "
                "(SELECT id FROM turns WHERE chat_id=? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, self.max_turns))

    def set_sources(self, chat_id: int, language: str, chunk_ids: list[int]) -> None:
        with self._lock:
            self._set_chat(chat_id, language, chunk_ids)

    def _set_chat(self, chat_id: int, language: str, chunk_ids: list[int]) -> None:
        self._db.execute(
            "INSERT INTO chats (chat_id, language, last_sources) VALUES (?,?,?) "
            "ON CONFLICT (chat_id) DO UPDATE SET language=excluded.language, last_sources=excluded.last_sources",
            (chat_id, language, json.dumps(chunk_ids)))

    def last_sources(self, chat_id: int) -> list[int]:
        rows = self._query("SELECT last_sources FROM chats WHERE chat_id=?", (chat_id,))
        return json.loads(rows[0][0]) if rows else []

    def language(self, chat_id: int) -> str | None:
        rows = self._query("SELECT language FROM chats WHERE chat_id=?", (chat_id,))
        return rows[0][0] if rows else None

    def reset(self, chat_id: int) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM turns WHERE chat_id=?", (chat_id,))
            self._db.execute("UPDATE chats SET last_sources='[]' WHERE chat_id=?", (chat_id,))

    # Bookkeeping below is best effort: on a full or broken disk the bot keeps answering.

    def first_time(self, chat_id: int, message_id: int) -> bool:
        """Record a message as handled; False if it was handled before (a redelivered update)."""
        rowcount = self._best_effort("INSERT INTO seen (chat_id, message_id, created) VALUES (?,?,?) "
                                     "ON CONFLICT DO NOTHING", (chat_id, message_id, time.time()))
        return rowcount is None or rowcount == 1

    def add_pending(self, chat_id: int, message_id: int, language: str) -> None:
        self._best_effort("INSERT INTO pending (chat_id, message_id, language, created, owner) VALUES (?,?,?,?,?) "
                          "ON CONFLICT (chat_id, message_id) DO UPDATE SET language=excluded.language, "
                          "created=excluded.created, owner=excluded.owner",
                          (chat_id, message_id, language, time.time(), self.owner))

    def remove_pending(self, chat_id: int, message_id: int) -> None:
        self._best_effort("DELETE FROM pending WHERE chat_id=? AND message_id=?", (chat_id, message_id))

    def _best_effort(self, sql: str, params: tuple) -> int | None:
        try:
            with self._lock:
                return self._db.execute(sql, params)[1]
        except StoreError as exc:
            log.error("event=state_write_failed table=%s error=%s", sql.split()[2], exc)
            return None

    def pending(self) -> list[tuple[int, int, str]]:
        """This replica's questions accepted but not answered (another replica's are its own business)."""
        rows = self._query("SELECT chat_id, message_id, language FROM pending WHERE owner=? ORDER BY created",
                           (self.owner,))
        return [tuple(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""The state store: what the bot remembers between runs.

Behind the small :class:`Store` protocol; :class:`SqliteStore` is the implementation.  SQLite
uses a rollback journal, not WAL, because Toolforge keeps files on NFS, and each run's writes
go in one transaction, so a run killed at any point leaves the store as the last run left it.
The schema has a version and forward migrations.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from wmsocial_bot.errors import ConfigError
from wmsocial_bot.model import Identity

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE identities (
        account_key   TEXT PRIMARY KEY,
        platform      TEXT NOT NULL,
        ident         TEXT NOT NULL,
        handle        TEXT NOT NULL,
        posts_count   INTEGER,
        last_activity TEXT,
        seen_at       TEXT
    );
    """,
)


class Store(Protocol):
    """What the checks need from the store."""

    def identities(self) -> dict[str, Identity]: ...

    def save_identities(self, items: Iterable[Identity]) -> None: ...

    def close(self) -> None: ...


class SqliteStore:
    """The SQLite store; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            try:
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"state.path: cannot create {Path(self.path).parent}: {exc}"
                ) from None
            self.path = str(Path(self.path).expanduser())
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise ConfigError(f"state.path: cannot open {self.path}: {exc}") from None
        self._lock = threading.RLock()
        self._migrate()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self.transaction():
            version = self.schema_version
            if version > len(MIGRATIONS):
                raise ConfigError(
                    f"state.path: {self.path} has schema version {version}, newer than this "
                    f"wmsocial-bot knows ({len(MIGRATIONS)}); upgrade the bot"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of writes: all of it lands, or none of it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def identities(self) -> dict[str, Identity]:
        with self._lock:
            rows = self._db.execute(
                "SELECT account_key, platform, ident, handle, posts_count, last_activity, seen_at "
                "FROM identities"
            ).fetchall()
        return {
            row[0]: Identity(
                key=row[0],
                platform=row[1],
                ident=row[2],
                handle=row[3],
                posts_count=row[4],
                last_activity=date.fromisoformat(row[5]) if row[5] else None,
                seen_at=datetime.fromisoformat(row[6]) if row[6] else None,
            )
            for row in rows
        }

    def save_identities(self, items: Iterable[Identity]) -> None:
        rows = [
            (
                item.key,
                item.platform,
                item.ident,
                item.handle,
                item.posts_count,
                item.last_activity.isoformat() if item.last_activity else None,
                item.seen_at.isoformat() if item.seen_at else None,
            )
            for item in items
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(account_key) DO UPDATE SET platform=excluded.platform, "
                "ident=excluded.ident, handle=excluded.handle, posts_count=excluded.posts_count, "
                "last_activity=excluded.last_activity, seen_at=excluded.seen_at",
                rows,
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

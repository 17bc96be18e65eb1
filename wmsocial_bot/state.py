"""The state store: what the bot remembers between runs.

Behind the small :class:`Store` protocol; :class:`SqliteStore` is the implementation.  SQLite
uses a rollback journal, not WAL, because Toolforge keeps files on NFS, and each run's writes
go in one transaction, so a run killed at any point leaves the store as the last run left it.
The schema has a version and forward migrations.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from wmsocial_bot.errors import ConfigError
from wmsocial_bot.model import Identity

# Test hook for the crash tests (tests/faults, docs/faults.md), off unless this is set:
# WMSOCIAL_BOT_CRASH_AT=<point>[#<n>] kills the process with SIGKILL the n-th time (default:
# the first) it reaches the named point.  Points: "checks" (results in, nothing recorded),
# "state-commit" (inside a state transaction, just before COMMIT), "after-edit" (page saved,
# not yet recorded), "before-notice", "after-notice" (talk section saved, not yet recorded).
CRASH_AT = "WMSOCIAL_BOT_CRASH_AT"
_crash_counts: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Die here, as if killed, when ``$WMSOCIAL_BOT_CRASH_AT`` names this point (tests only)."""
    wanted = os.environ.get(CRASH_AT)
    if not wanted:
        return
    point, _, nth = wanted.partition("#")
    if point != name:
        return
    _crash_counts[name] += 1
    if _crash_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


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
    # 2: what `run` remembers: check history, status streaks, notices, edits, fixes, outages.
    """
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        pages       TEXT NOT NULL,
        dry_run     INTEGER NOT NULL
    );
    CREATE TABLE checks (
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        account_key TEXT NOT NULL,
        status      TEXT NOT NULL,
        detail      TEXT NOT NULL,
        new_url     TEXT,
        checked_at  TEXT NOT NULL
    );
    CREATE INDEX checks_by_account ON checks(account_key, checked_at);
    CREATE TABLE streaks (
        account_key TEXT PRIMARY KEY,
        status      TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        count       INTEGER NOT NULL
    );
    CREATE TABLE notices (
        marker      TEXT PRIMARY KEY,
        page        TEXT NOT NULL,
        talk_page   TEXT NOT NULL,
        revid       INTEGER,
        posted_at   TEXT NOT NULL,
        resolved_at TEXT
    );
    CREATE TABLE edits (
        page        TEXT NOT NULL,
        revid       INTEGER,
        summary     TEXT NOT NULL,
        made_at     TEXT NOT NULL
    );
    CREATE TABLE fixes (
        page        TEXT NOT NULL,
        old_key     TEXT NOT NULL,
        new_key     TEXT NOT NULL,
        new_url     TEXT NOT NULL,
        revid       INTEGER,
        made_at     TEXT NOT NULL,
        PRIMARY KEY (page, old_key)
    );
    CREATE TABLE outages (
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        scope       TEXT NOT NULL,
        bad         INTEGER NOT NULL,
        total       INTEGER NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class Streak:
    """How long an account has shown its current status, without a break."""

    status: str
    first_seen: datetime
    last_seen: datetime
    count: int


@dataclass(frozen=True)
class FixRecord:
    """A fix the bot made on a page: if the old account comes back, a human reverted it."""

    page: str
    old_key: str
    new_key: str
    new_url: str
    revid: int | None
    made_at: datetime


class Store(Protocol):
    """What the checks need from the store."""

    def identities(self) -> dict[str, Identity]: ...

    def save_identities(self, items: Iterable[Identity]) -> None: ...

    def streaks(self) -> dict[str, Streak]: ...

    def fixes(self, page: str) -> dict[str, FixRecord]: ...

    def notice_state(self) -> dict[str, datetime | None]: ...

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
            crash_point("state-commit")
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
        with self.transaction() as db:
            _upsert_identities(db, items)

    # -- what `run` remembers ------------------------------------------------------------

    def streaks(self) -> dict[str, Streak]:
        with self._lock:
            rows = self._db.execute(
                "SELECT account_key, status, first_seen, last_seen, count FROM streaks"
            ).fetchall()
        return {
            key: Streak(status, datetime.fromisoformat(first), datetime.fromisoformat(last), count)
            for key, status, first, last, count in rows
        }

    def fixes(self, page: str) -> dict[str, FixRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT page, old_key, new_key, new_url, revid, made_at FROM fixes WHERE page = ?",
                (page,),
            ).fetchall()
        return {
            row[1]: FixRecord(
                row[0], row[1], row[2], row[3], row[4], datetime.fromisoformat(row[5])
            )
            for row in rows
        }

    def notice_state(self) -> dict[str, datetime | None]:
        """Every finding marker ever reported, with when it was resolved (None: persists)."""
        with self._lock:
            rows = self._db.execute("SELECT marker, resolved_at FROM notices").fetchall()
        return {marker: datetime.fromisoformat(done) if done else None for marker, done in rows}

    def record_run(
        self,
        *,
        started: datetime,
        pages: Sequence[str],
        dry_run: bool,
        checks: Iterable[tuple[str, str, str, str | None]],
        streaks: Mapping[str, Streak],
        outages: Iterable[tuple[str, int, int]],
        identities: Iterable[Identity],
        resolved: Iterable[str],
    ) -> int:
        """Everything a run learned (identities too), in one transaction; returns its id."""
        stamp = started.isoformat()
        identity_rows = list(identities)
        with self.transaction() as db:
            run_id = db.execute(
                "INSERT INTO runs (started_at, pages, dry_run) VALUES (?, ?, ?)",
                (stamp, "\n".join(pages), int(dry_run)),
            ).lastrowid
            db.executemany(
                "INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, key, status, detail, url, stamp) for key, status, detail, url in checks],
            )
            db.executemany(
                "INSERT INTO streaks VALUES (?, ?, ?, ?, ?) ON CONFLICT(account_key) DO UPDATE "
                "SET status=excluded.status, first_seen=excluded.first_seen, "
                "last_seen=excluded.last_seen, count=excluded.count",
                [
                    (key, s.status, s.first_seen.isoformat(), s.last_seen.isoformat(), s.count)
                    for key, s in streaks.items()
                ],
            )
            db.executemany(
                "INSERT INTO outages VALUES (?, ?, ?, ?)",
                [(run_id, scope, bad, total) for scope, bad, total in outages],
            )
            db.executemany(
                "UPDATE notices SET resolved_at = ? WHERE marker = ? AND resolved_at IS NULL",
                [(stamp, marker) for marker in resolved],
            )
            _upsert_identities(db, identity_rows)
        assert run_id is not None
        return run_id

    def record_notice(
        self, markers: Iterable[str], *, page: str, talk_page: str, revid: int | None, at: datetime
    ) -> None:
        """Findings reported on a talk page: never again while they persist."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO notices VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(marker) DO UPDATE "
                "SET page=excluded.page, talk_page=excluded.talk_page, revid=excluded.revid, "
                "posted_at=excluded.posted_at, resolved_at=NULL",
                [(m, page, talk_page, revid, at.isoformat()) for m in markers],
            )

    def record_edit(
        self,
        *,
        page: str,
        revid: int | None,
        summary: str,
        fixes: Iterable[FixRecord],
        at: datetime,
    ) -> None:
        """A page edit and the fixes in it."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO edits VALUES (?, ?, ?, ?)", (page, revid, summary, at.isoformat())
            )
            db.executemany(
                "INSERT INTO fixes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(page, old_key) DO UPDATE "
                "SET new_key=excluded.new_key, new_url=excluded.new_url, revid=excluded.revid, "
                "made_at=excluded.made_at",
                [
                    (f.page, f.old_key, f.new_key, f.new_url, f.revid, f.made_at.isoformat())
                    for f in fixes
                ],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _upsert_identities(db: sqlite3.Connection, items: Iterable[Identity]) -> None:
    db.executemany(
        "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(account_key) DO UPDATE SET platform=excluded.platform, "
        "ident=excluded.ident, handle=excluded.handle, posts_count=excluded.posts_count, "
        "last_activity=excluded.last_activity, seen_at=excluded.seen_at",
        [
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
        ],
    )

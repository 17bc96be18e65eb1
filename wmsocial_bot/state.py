"""The state store: what the bot remembers between runs.

Behind the small :class:`Store` protocol; :class:`SqliteStore` is the implementation.  SQLite
uses a rollback journal, not WAL, because Toolforge keeps files on NFS, and each run's writes
go in one transaction, so a run killed at any point leaves the store as the last run left it.
The schema has a version and forward migrations.

One run at a time: ``run`` takes the *lease*, a row in the store itself (file locks are not
reliable on NFS), in a ``BEGIN IMMEDIATE`` transaction, so that of two runs started together
exactly one gets it.  The holder renews it from a background thread while it runs and deletes
it at the end; a killed holder's lease expires (or, on the same machine, is taken over as soon
as its process is gone).  See docs/configuration.md, "State and the run lease".
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from wmsocial_bot.errors import ConfigError, LeaseHeld

# FixRecord and Streak live in model (pure, so that decide needs no sqlite3); importable here too.
from wmsocial_bot.model import (  # records re-exported: callers import them from here too
    FixRecord,
    Identity,
    Reach,
    ReachRecord,
    RelMePage,
    RunRecord,
    Streak,
)

log = logging.getLogger(__name__)

# Raised inside each of a run's state transactions just before its COMMIT (sys.audit: nothing
# happens unless a hook is installed).  The crash tests' launcher installs one that kills the
# process there (docs/faults.md); the lease's own transactions raise none.
BEFORE_COMMIT_EVENT = "wmsocial_bot.state.before-commit"


_HOME_STATE = "~/.local/state/"
_KEYS_PER_QUERY = 500  # well under SQLite's oldest limit of 999 bound parameters


def state_file(path: str) -> Path:
    """The state file ``path`` names; under ``~/.local/state/`` it follows ``$XDG_STATE_HOME``
    (as Pywikibot's files do, docs/wiki.md), so one variable moves all of the bot's state."""
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and path.startswith(_HOME_STATE):
        return Path(xdg) / path.removeprefix(_HOME_STATE)
    return Path(path).expanduser()


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
    # 3: the run lease (one row while a run holds the store) and the space reserve.
    """
    CREATE TABLE lease (
        name        TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        pid_ns      TEXT NOT NULL,
        since       TEXT NOT NULL,
        expires     TEXT NOT NULL
    );
    CREATE TABLE reserve (
        filler      BLOB NOT NULL
    );
    """,
    # 4: activity and reach per account per run, for the dashboard (docs/dashboard.md).
    """
    CREATE TABLE reach (
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        account_key TEXT NOT NULL,
        platform    TEXT NOT NULL,
        checked_at  TEXT NOT NULL,
        posts_total INTEGER,
        followers   INTEGER,
        last_post   TEXT,
        post_dates  TEXT NOT NULL
    );
    CREATE INDEX reach_by_account ON reach(account_key, checked_at);
    """,
    # 5: verification help (docs/dashboard.md): the pages profile fields link to, as last read
    # (status and rel=me links only), and when each profile field was last seen verified.
    """
    CREATE TABLE relme_pages (
        url         TEXT PRIMARY KEY,
        fetched_at  TEXT NOT NULL,
        status      INTEGER,
        rel_me      TEXT NOT NULL,
        problem     TEXT
    );
    CREATE TABLE profile_fields (
        account_key   TEXT NOT NULL,
        name          TEXT NOT NULL,
        last_verified TEXT,
        PRIMARY KEY (account_key, name)
    );
    """,
    # 6: the movement's own servers: the last facts read per host (docs/dashboard.md).
    """
    CREATE TABLE servers (
        host        TEXT PRIMARY KEY,
        facts       TEXT NOT NULL,
        read_at     TEXT NOT NULL
    );
    """,
)
# Space written and freed again before a run's network work (SqliteStore.check_writable): the
# freed pages stay in the file for the run's own writes, so a disk that is (nearly) full is
# found before the run does anything, not when it records what it did.
RESERVE_BYTES = 1 << 20
LEASE_NAME = "run"


@dataclass(frozen=True)
class Lease:
    """Who holds the store: one ``run`` at a time (see the module docstring)."""

    owner: str  # a random token of the holding process
    host: str
    pid: int
    pid_ns: str  # the pid namespace: a pid means something only inside its own
    since: datetime
    expires: datetime

    def describe(self) -> str:
        return (
            f"host {self.host}, pid {self.pid}, since {_stamp(self.since)}, "
            f"lease expires {_stamp(self.expires)}"
        )

    def holder_is_gone(self) -> bool:
        """The holder ran on this machine (host and pid namespace) and its process is gone."""
        if self.host != socket.gethostname() or self.pid_ns != _pid_namespace():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, someone else's process
            return False
        return False


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def state_error(path: str, exc: sqlite3.Error, doing: str = "use") -> ConfigError:
    """One line that says what is wrong with the state file and what to do about it."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_READONLY"):
        return ConfigError(
            f"state.path: {path} is read-only ({exc}); the bot needs to write its state there"
        )
    if name == "SQLITE_FULL":
        return ConfigError(f"state.path: no space left to write {path} ({exc}); free some space")
    if name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT"):
        return ConfigError(f"state.path: {path} {DAMAGED} ({exc}); {MOVE_AWAY}")
    if name.startswith("SQLITE_CANTOPEN"):
        return ConfigError(f"state.path: cannot open {path} ({exc})")
    return ConfigError(f"state.path: cannot {doing} {path} ({exc})")


DAMAGED = "is damaged or not a wmsocial-bot state file"
MOVE_AWAY = (
    "move it away and the bot starts a new one (the talk-page markers and the page history "
    "keep it from repeating notices and reverted fixes)"
)


class Store(Protocol):
    """What the checks need from the store."""

    def identities(self) -> dict[str, Identity]: ...

    def save_identities(self, items: Iterable[Identity]) -> None: ...

    def streaks(self) -> dict[str, Streak]: ...

    def fixes(self, page: str) -> dict[str, FixRecord]: ...

    def notice_state(self) -> dict[str, datetime | None]: ...

    def close(self) -> None: ...


class RunStore(Store, Protocol):
    """What ``run`` needs besides: its records, and whether it still holds the lease."""

    def lease_problem(self) -> str | None: ...

    def record_run(self, record: RunRecord) -> int: ...

    def prune(self, before: datetime) -> int: ...

    def relme_pages(self) -> dict[str, RelMePage]: ...

    def verified_fields(self) -> dict[str, dict[str, datetime]]: ...

    def server_facts(self) -> dict[str, tuple[str, datetime]]: ...

    def reach_history(self, keys: Iterable[str] | None = None) -> dict[str, list[ReachRecord]]: ...

    def record_notice(
        self, markers: Iterable[str], *, page: str, talk_page: str, revid: int | None, at: datetime
    ) -> None: ...

    def record_edit(
        self,
        *,
        page: str,
        revid: int | None,
        summary: str,
        fixes: Iterable[FixRecord],
        at: datetime,
    ) -> None: ...


class SqliteStore:
    """The SQLite store; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating if needed) and check the store; ConfigError, one line, if unusable.

        What can be wrong with the file itself (a directory in its place, not a database,
        damaged, a newer schema) is found here, before any network work, and nothing is
        written to a file found wrong.  :meth:`check_writable` finds the rest.
        """
        self.path = str(path)
        self._lease: Lease | None = None
        self._lease_lost: str | None = None
        self._stop_heartbeat = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if self.path != ":memory:":
            given = state_file(self.path)
            if given.is_dir():
                raise ConfigError(
                    f"state.path: {given} is a directory; give the path of a file, "
                    f"e.g. {given / 'state.sqlite3'}"
                )
            try:
                given.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"state.path: cannot create {given.parent}: {exc}") from None
            self.path = str(given)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise state_error(self.path, exc, "open") from None
        try:
            self._check_file()
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _check_file(self) -> None:
        try:
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            version = self.schema_version
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.Error as exc:
            raise state_error(self.path, exc, "open") from None
        if problems != ["ok"]:
            first = problems[0].splitlines()[-1] if problems else "no answer"
            raise ConfigError(
                f"state.path: {self.path} {DAMAGED} (SQLite's quick_check: {first}); {MOVE_AWAY}"
            )
        if version > len(MIGRATIONS):
            raise ConfigError(
                f"state.path: {self.path} has schema version {version}, newer than this "
                f"wmsocial-bot knows ({len(MIGRATIONS)}); upgrade the bot"
            )

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Bring the schema up to date; an up-to-date store is not written (a dry run can
        then read a read-only one)."""
        if self.schema_version == len(MIGRATIONS):
            return
        with self.transaction():
            version = self.schema_version
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of writes: all of it lands, or none of it."""
        with self._atomic(announce=True) as db:
            yield db

    @contextmanager
    def _atomic(self, *, announce: bool = False) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; a failure of SQLite itself is a one-line error.

        SQLite rolls some failed transactions back by itself (a full disk, for one): then there
        is nothing left to roll back, and "cannot rollback" would hide the real problem.
        ``announce``: raise :data:`BEFORE_COMMIT_EVENT` before the COMMIT.  The lease's own
        transactions raise none, so that the crash tests' numbering of a run's transactions
        (``state-commit#n``) does not depend on them.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise state_error(self.path, exc, "write") from None
            try:
                yield self._db
                if announce:
                    sys.audit(BEFORE_COMMIT_EVENT)
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise state_error(self.path, exc, "write") from None
                raise

    def check_writable(self, reserve_bytes: int = RESERVE_BYTES) -> None:
        """Prove that the store can be written, with room to spare; ConfigError if not.

        Writes ``reserve_bytes`` and frees them again in a second transaction: without
        auto-vacuum the freed pages stay in the file, so the run's own writes need no new
        space.  A read-only file or directory and a full disk are found here, before any
        network work, and what the store holds is unchanged.
        """
        with self._atomic() as db:
            db.execute("INSERT INTO reserve VALUES (zeroblob(?))", (reserve_bytes,))
        with self._atomic() as db:
            db.execute("DELETE FROM reserve")

    # -- the run lease -----------------------------------------------------------------------

    def acquire_lease(self, seconds: float, *, now: datetime | None = None) -> Lease:
        """Take the run lease for ``seconds``, renewed until :meth:`release_lease`.

        Raises :class:`LeaseHeld` naming the holder while another run holds it.  An expired
        lease, or one whose holder ran on this machine and is gone, is taken over (logged).
        """
        now = now or datetime.now(UTC)
        mine = Lease(
            owner=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_ns=_pid_namespace(),
            since=now,
            expires=now + timedelta(seconds=seconds),
        )
        with self._atomic() as db:
            held = self._lease_row(db)
            if held is not None:
                if held.expires > now and not held.holder_is_gone():
                    raise LeaseHeld(
                        f"another run holds the state store {self.path} ({held.describe()}); "
                        "this run did nothing. A killed run's lease expires by itself; "
                        "docs/configuration.md says how to clear it sooner"
                    )
                why = "it expired" if held.expires <= now else "its process is gone"
                log.warning(
                    "taking over the lease of a run that ended (%s): %s", why, held.describe()
                )
            db.execute(
                "INSERT OR REPLACE INTO lease VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    LEASE_NAME,
                    mine.owner,
                    mine.host,
                    mine.pid,
                    mine.pid_ns,
                    mine.since.isoformat(),
                    mine.expires.isoformat(),
                ),
            )
        self._lease = mine
        self._lease_lost = None
        self._stop_heartbeat.clear()
        self._heartbeat = threading.Thread(
            target=self._keep_lease, args=(mine, seconds), name="lease heartbeat", daemon=True
        )
        self._heartbeat.start()
        return mine

    def lease_holder(self) -> Lease | None:
        """The lease as stored, expired or not; None when no run holds the store."""
        with self._lock:
            return self._lease_row(self._db)

    def lease_problem(self) -> str | None:
        """Why this process may no longer write as the one run; None if it may (or no lease).

        Asked before every wiki write: a run that lost its lease (its renewals failed and
        another run took over) must stop writing, or two runs would act at once.
        """
        if self._lease is None:
            return None
        if self._lease_lost:
            return self._lease_lost
        try:
            held = self.lease_holder()
        except sqlite3.Error as exc:
            return f"cannot read the run lease ({exc})"
        if held is None or held.owner != self._lease.owner:
            return "this run lost its lease on the state store to another run"
        if held.expires <= datetime.now(UTC):
            return "this run's lease on the state store expired (its renewals failed)"
        return None

    def release_lease(self) -> None:
        """Stop the heartbeat and delete our lease (only ours)."""
        lease, self._lease = self._lease, None
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        if lease is None:
            return
        with self._atomic() as db:
            db.execute("DELETE FROM lease WHERE name = ? AND owner = ?", (LEASE_NAME, lease.owner))

    def _keep_lease(self, lease: Lease, seconds: float) -> None:
        """The heartbeat: extend the lease every third of its length while the run goes on."""
        while not self._stop_heartbeat.wait(seconds / 3):
            expires = datetime.now(UTC) + timedelta(seconds=seconds)
            try:
                with self._atomic() as db:
                    renewed = db.execute(
                        "UPDATE lease SET expires = ? WHERE name = ? AND owner = ?",
                        (expires.isoformat(), LEASE_NAME, lease.owner),
                    ).rowcount
            except ConfigError as exc:  # busy, full, ...: try again at the next beat
                log.warning("cannot renew the run lease: %s", exc)
                continue
            if renewed != 1:
                self._lease_lost = "this run lost its lease on the state store to another run"
                log.error("%s; it writes nothing more to the wiki", self._lease_lost)
                return

    @staticmethod
    def _lease_row(db: sqlite3.Connection) -> Lease | None:
        row = db.execute(
            "SELECT owner, host, pid, pid_ns, since, expires FROM lease WHERE name = ?",
            (LEASE_NAME,),
        ).fetchone()
        if row is None:
            return None
        return Lease(
            owner=row[0],
            host=row[1],
            pid=int(row[2]),
            pid_ns=row[3],
            since=datetime.fromisoformat(row[4]),
            expires=datetime.fromisoformat(row[5]),
        )

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

    def record_run(self, record: RunRecord) -> int:
        """Everything a run learned (identities too), in one transaction; returns its id."""
        started, checks, streaks = record.started, record.checks, record.streaks
        outages, identities, resolved, reach = (
            record.outages,
            record.identities,
            record.resolved,
            record.reach,
        )
        pages, dry_run = record.pages, record.dry_run
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
            _insert_reach(db, run_id, started, reach)
            _insert_profiles(db, stamp, record)
            db.executemany(
                "INSERT INTO servers VALUES (?, ?, ?) ON CONFLICT(host) DO UPDATE "
                "SET facts=excluded.facts, read_at=excluded.read_at",
                [(host, facts, stamp) for host, facts in record.servers],
            )
        return run_id

    def server_facts(self) -> dict[str, tuple[str, datetime]]:
        """The last facts read of each server (JSON, :func:`wmsocial_bot.servers.facts_json`)
        and when they were read."""
        with self._lock:
            rows = self._db.execute("SELECT host, facts, read_at FROM servers").fetchall()
        return {host: (facts, datetime.fromisoformat(at)) for host, facts, at in rows}

    def relme_pages(self) -> dict[str, RelMePage]:
        """The linked pages as last read, by URL (verification help)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url, fetched_at, status, rel_me, problem FROM relme_pages"
            ).fetchall()
        return {
            url: RelMePage(
                url,
                datetime.fromisoformat(at),
                status,
                tuple(rel_me.split("\n")) if rel_me else (),
                problem,
            )
            for url, at, status, rel_me, problem in rows
        }

    def verified_fields(self) -> dict[str, dict[str, datetime]]:
        """Account key -> its profile fields seen verified, each with the last run that saw it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT account_key, name, last_verified FROM profile_fields "
                "WHERE last_verified IS NOT NULL"
            ).fetchall()
        found: dict[str, dict[str, datetime]] = {}
        for key, name, at in rows:
            found.setdefault(key, {})[name] = datetime.fromisoformat(at)
        return found

    def prune(self, before: datetime) -> int:
        """Forget the runs started before ``before``, with their checks, outages and activity
        figures (``[state] keep_days``); returns how many runs.  Streaks, fixes, notices and
        identities are the bot's memory, not history, and stay."""
        stamp = before.isoformat()
        with self.transaction() as db:
            old = "SELECT id FROM runs WHERE started_at < ?"
            db.execute(f"DELETE FROM checks WHERE run_id IN ({old})", (stamp,))
            db.execute(f"DELETE FROM outages WHERE run_id IN ({old})", (stamp,))
            db.execute(f"DELETE FROM reach WHERE run_id IN ({old})", (stamp,))
            gone = db.execute("DELETE FROM runs WHERE started_at < ?", (stamp,)).rowcount
        return gone

    def reach_history(self, keys: Iterable[str] | None = None) -> dict[str, list[ReachRecord]]:
        """Every recorded :class:`Reach` per account key, oldest first (``keys``: only these)."""
        columns = "account_key, platform, checked_at, posts_total, followers, last_post, post_dates"
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            if keys is None:
                rows = self._db.execute(
                    f"SELECT {columns} FROM reach ORDER BY checked_at, rowid"
                ).fetchall()
            else:
                # Only the page's accounts, through the (account_key, checked_at) index: a run
                # over several pages must not read the whole history once per page.
                wanted = sorted(set(keys))
                for start in range(0, len(wanted), _KEYS_PER_QUERY):
                    chunk = wanted[start : start + _KEYS_PER_QUERY]
                    marks = ", ".join("?" * len(chunk))
                    rows += self._db.execute(
                        f"SELECT {columns} FROM reach WHERE account_key IN ({marks}) "
                        "ORDER BY checked_at, rowid",
                        chunk,
                    ).fetchall()
        history: dict[str, list[ReachRecord]] = {}
        for key, platform, at, posts, followers, last, dates in rows:
            figures = Reach(
                posts_total=posts,
                followers=followers,
                post_dates=tuple(date.fromisoformat(d) for d in dates.split()),
                last_post=date.fromisoformat(last) if last else None,
            )
            history.setdefault(key, []).append(
                ReachRecord(key, platform, datetime.fromisoformat(at), figures)
            )
        return history

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
        """Release the lease if this store holds it, then close the file."""
        try:
            if self._lease is not None:
                self.release_lease()
        finally:
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


def _insert_reach(
    db: sqlite3.Connection, run_id: int, at: datetime, items: Iterable[tuple[str, str, Reach]]
) -> None:
    """One row per account per run; append-only (the trend is the difference between rows)."""
    db.executemany(
        "INSERT INTO reach VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                key,
                platform,
                at.isoformat(),
                figures.posts_total,
                figures.followers,
                figures.last_post.isoformat() if figures.last_post else None,
                " ".join(day.isoformat() for day in figures.post_dates),
            )
            for key, platform, figures in items
        ],
    )


def _insert_profiles(db: sqlite3.Connection, stamp: str, record: RunRecord) -> None:
    """The linked pages read (newest reading kept) and when each field was last verified."""
    db.executemany(
        "INSERT OR REPLACE INTO relme_pages VALUES (?, ?, ?, ?, ?)",
        [
            (p.url, p.fetched_at.isoformat(), p.status, "\n".join(p.rel_me), p.problem)
            for p in record.relme_pages
        ],
    )
    db.executemany(
        "INSERT INTO profile_fields VALUES (?, ?, ?) ON CONFLICT(account_key, name) "
        "DO UPDATE SET last_verified = COALESCE(excluded.last_verified, last_verified)",
        [(key, name, stamp if verified else None) for key, name, verified in record.fields],
    )

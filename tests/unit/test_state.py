"""The SQLite state store: schema versions, round trips, atomic writes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from wmsocial_bot.errors import ConfigError
from wmsocial_bot.model import Identity
from wmsocial_bot.state import MIGRATIONS, SqliteStore


def test_identities_round_trip_and_update(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite3"
    store = SqliteStore(path)
    first = Identity(
        "bluesky:a.bsky.social",
        "bluesky",
        "did:plc:x",
        "a.bsky.social",
        3,
        date(2026, 1, 2),
        datetime(2026, 1, 3, tzinfo=UTC),
    )
    store.save_identities([first])
    store.save_identities(
        [Identity("bluesky:a.bsky.social", "bluesky", "did:plc:x", "b.bsky.social")]
    )
    store.close()
    reopened = SqliteStore(path)
    assert reopened.identities()["bluesky:a.bsky.social"].handle == "b.bsky.social"
    assert reopened.schema_version == len(MIGRATIONS)
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "delete", "no WAL: the store lives on NFS on Toolforge"


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute(
            "INSERT INTO identities (account_key, platform, ident, handle) "
            "VALUES ('k', 'p', 'i', 'h')"
        )
        raise RuntimeError("killed mid-run")
    assert store.identities() == {}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(ConfigError, match="newer than this"):
        SqliteStore(path)

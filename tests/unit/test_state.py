"""The SQLite state store: schema versions, round trips, atomic writes."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from wmsocial_bot.errors import ConfigError, LeaseHeld
from wmsocial_bot.model import Identity, Reach, RunRecord, Streak
from wmsocial_bot.state import MIGRATIONS, SqliteStore, state_file


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


# ---- the run lease ---------------------------------------------------------------------------


def _other_machine(store: SqliteStore, *, expires_in: float, pid: int = 4242) -> None:
    """A lease as a run on another machine (another host name) leaves it."""
    now = datetime.now(UTC)
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT OR REPLACE INTO lease VALUES "
            "('run', 'someone', 'elsewhere', ?, 'pid:[1]', ?, ?)",
            (pid, now.isoformat(), (now + timedelta(seconds=expires_in)).isoformat()),
        )


def test_a_second_holder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "s.sqlite3")
    second = SqliteStore(tmp_path / "s.sqlite3")
    lease = first.acquire_lease(60)
    with pytest.raises(LeaseHeld) as refused:
        second.acquire_lease(60)
    message = str(refused.value)
    assert refused.value.exit_code == 4
    assert "\n" not in message
    assert f"host {socket.gethostname()}, pid {os.getpid()}, since " in message
    assert "lease expires " in message and str(tmp_path / "s.sqlite3") in message
    assert second.lease_holder() == lease
    first.close()  # releases it
    assert second.lease_holder() is None
    second.acquire_lease(60)
    assert second.lease_problem() is None
    second.close()


def test_a_lease_on_another_machine_holds_until_it_expires(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    _other_machine(store, expires_in=60)
    with pytest.raises(LeaseHeld, match="host elsewhere, pid 4242"):
        store.acquire_lease(60)
    _other_machine(store, expires_in=-1)  # its holder was killed a lease length ago
    mine = store.acquire_lease(60)
    assert store.lease_holder() == mine
    store.close()


def test_a_killed_holder_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SqliteStore(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from wmsocial_bot.state import SqliteStore; "
            "SqliteStore(sys.argv[1]).acquire_lease(600); print('held', flush=True); "
            "time.sleep(600)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        store = SqliteStore(path)
        with pytest.raises(LeaseHeld, match=f"pid {holder.pid},"):
            store.acquire_lease(60)  # alive: held
    finally:
        holder.kill()
        holder.wait()
    mine = store.acquire_lease(60)  # its process is gone: no need to wait 600 s
    assert mine.pid == os.getpid()
    store.close()


def test_the_heartbeat_keeps_a_long_run_s_lease(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    first = store.acquire_lease(0.6)
    time.sleep(1.5)  # more than twice the lease length
    held = store.lease_holder()
    assert held is not None and held.owner == first.owner and held.expires > first.expires
    assert store.lease_problem() is None
    other = SqliteStore(tmp_path / "s.sqlite3")
    with pytest.raises(LeaseHeld):
        other.acquire_lease(60)
    store.close()
    other.close()


def test_a_run_that_lost_its_lease_is_told_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.acquire_lease(60)
    _other_machine(store, expires_in=60)  # e.g. its renewals failed and another run took over
    assert "lost its lease" in (store.lease_problem() or "")
    store.close()
    held = SqliteStore(tmp_path / "s.sqlite3").lease_holder()
    assert held is not None and held.host == "elsewhere", "release deletes only its own lease"


# ---- a state file that cannot be used: one line, nothing written ------------------------------


def test_a_directory_in_place_of_the_state_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory") as error:
        SqliteStore(tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("damage", ["garbage", "damaged page"])
def test_a_damaged_state_file_is_refused_and_left_alone(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    store.save_identities(
        [Identity(f"mastodon:a{i}@x.example", "mastodon", str(i), "a") for i in range(300)]
    )
    store.close()
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data[:100] = b"\x13" * 100
    else:
        data[4096 * 3 : 4096 * 3 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="damaged or not a wmsocial-bot state file") as error:
        SqliteStore(path)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == bytes(data), "nothing is written to a damaged file"
    assert not Path(f"{path}-journal").exists()


def test_a_full_disk_is_found_before_the_run_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    store.save_identities([Identity("mastodon:a@x.example", "mastodon", "1", "a")])
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 10}")  # SQLite's own "disk full"
    with pytest.raises(ConfigError, match="no space left") as error:
        store.check_writable()
    assert "\n" not in str(error.value) and "rollback" not in str(error.value)
    assert list(store.identities()) == ["mastodon:a@x.example"]
    store.close()


def test_the_space_reserve_stays_in_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.check_writable(reserve_bytes=200_000)
    free = store._db.execute("PRAGMA freelist_count").fetchone()[0]
    assert free * 4096 >= 200_000 * 0.9, "the freed pages stay for the run's own writes"
    assert store._db.execute("SELECT count(*) FROM reserve").fetchone()[0] == 0
    store.close()


def test_the_default_state_file_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_file("~/.local/state/wmsocial-bot/state.sqlite3") == (
        tmp_path / "wmsocial-bot" / "state.sqlite3"
    )
    assert state_file("/data/state.sqlite3") == Path("/data/state.sqlite3")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_file("~/x.sqlite3") == Path.home() / "x.sqlite3"


def test_prune_forgets_old_runs_with_their_records_and_keeps_the_bots_memory() -> None:
    store = SqliteStore(":memory:")
    key = "mastodon:a@x.example"
    for started in (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)):
        store.record_run(
            RunRecord(
                started=started,
                pages=["P"],
                checks=[(key, "ok", "fine", None)],
                outages=[("mastodon:x.example", 0, 1)],
                streaks={key: Streak("ok", started, started, 1)},
                reach=[(key, "mastodon", Reach(posts_total=1))],
            )
        )
    assert store.prune(datetime(2026, 1, 1, tzinfo=UTC)) == 1
    assert [r.checked_at.year for r in store.reach_history()[key]] == [2026]
    db = store._db  # the history tables themselves
    assert db.execute("SELECT count(*) FROM checks").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM outages").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    assert key in store.streaks()
    store.close()


def test_reach_history_of_some_accounts_reads_just_those_in_order() -> None:
    store = SqliteStore(":memory:")
    keys = [f"mastodon:a{n}@x.example" for n in range(1200)]  # more than one query's worth
    for day in (2, 1):  # recorded newest first: history must still come oldest first
        started = datetime(2026, 11, day, tzinfo=UTC)
        store.record_run(
            RunRecord(
                started=started,
                pages=["P"],
                reach=[(key, "mastodon", Reach(posts_total=day)) for key in keys],
            )
        )
    wanted = [*keys[::3], "mastodon:never@x.example"]
    history = store.reach_history(wanted)
    assert sorted(history) == sorted(keys[::3])
    assert all([r.reach.posts_total for r in rows] == [1, 2] for rows in history.values())
    assert len(store.reach_history()) == 1200
    store.close()

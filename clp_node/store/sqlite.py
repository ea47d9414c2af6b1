"""SQLite (WAL, synchronous=NORMAL) block store: a SIGKILL never loses a committed block.

In WAL mode ``synchronous=NORMAL`` makes a commit an append to the WAL file (in the OS page
cache) without an fsync; only checkpoints fsync. A process crash (kill -9, the harness's
fault model) loses nothing the process had committed: the kernel still writes it out. A
power loss or kernel crash can lose the last transactions, which would let a validator
that lost its tail sign again for a slot it had signed: the price of taking four fsyncs
per block off the event loop (docs/scale.md). ``FULL`` would be the setting for a machine
whose power can fail under a validator with real stake.

Blocks are stored with their commit certificate; on restart the node replays them through
ChainState, so the store never holds derived state that could disagree with the chain.
It also keeps this validator's signed consensus messages of the heights not yet final (a
write-ahead log): a restarted node hands them back to consensus, so it never signs two
different votes for one step and keeps the lock its precommits stand for.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    block TEXT NOT NULL,
    certificate TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consensus_wal (
    height INTEGER NOT NULL,
    round INTEGER NOT NULL,
    slot TEXT NOT NULL,
    block_hash TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (height, round, slot)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StoreError(RuntimeError):
    """The store on disk does not fit this chain (another genesis, a gap in heights)."""


@dataclass(frozen=True)
class StoredBlock:
    height: int
    block: dict[str, Any]
    certificate: dict[str, Any]


class BlockStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{path.parent}: node.data_dir cannot be created ({exc.strerror or exc})"
            ) from exc
        if not path.parent.is_dir():
            raise StoreError(f"{path.parent}: node.data_dir is not a directory")
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.execute("SELECT COUNT(*) FROM blocks").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: not a usable block store ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    def check_genesis(self, genesis_hash: str) -> None:
        """Bind the store to one genesis: a data dir from another chain is an error."""
        stored = self.get_meta("genesis_hash")
        if stored is None:
            self.set_meta("genesis_hash", genesis_hash)
        elif stored != genesis_hash:
            raise StoreError(
                f"{self.path}: data directory belongs to another chain "
                f"(genesis {stored[:16]}…, this config's is {genesis_hash[:16]}…)"
            )

    def head_height(self) -> int:
        row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def append(
        self, height: int, block_hash: str, block: dict[str, Any], cert: dict[str, Any]
    ) -> None:
        head = self.head_height()
        if height != head + 1:
            raise StoreError(f"cannot store block {height} on top of {head}")
        # One transaction: the block, and the WAL of its height, which can no
        # longer conflict with anything we sign once the block is final.
        with self._transaction():
            self._db.execute(
                "INSERT INTO blocks(height, hash, block, certificate) VALUES (?, ?, ?, ?)",
                (height, block_hash, json.dumps(block), json.dumps(cert)),
            )
            self._db.execute("DELETE FROM consensus_wal WHERE height <= ?", (height,))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, height: int) -> StoredBlock | None:
        row = self._db.execute(
            "SELECT height, block, certificate FROM blocks WHERE height = ?", (height,)
        ).fetchone()
        if row is None:
            return None
        return StoredBlock(int(row[0]), json.loads(row[1]), json.loads(row[2]))

    def range(self, start: int, end: int) -> list[StoredBlock]:
        """Blocks start..=end that are stored, in height order."""
        rows = self._db.execute(
            "SELECT height, block, certificate FROM blocks WHERE height BETWEEN ? AND ? "
            "ORDER BY height",
            (start, end),
        ).fetchall()
        return [StoredBlock(int(r[0]), json.loads(r[1]), json.loads(r[2])) for r in rows]

    def record_signed(
        self, height: int, round_: int, slot: str, block_hash: str, message: dict[str, Any]
    ) -> str:
        """Log a consensus message before it is sent; returns the hash on record for the slot.

        ``slot`` is a vote type, or ``proposal`` for the proposal of the round we proposed
        or precommitted for. The first message for a slot wins: if the returned hash differs
        from ``block_hash``, the new message conflicts with one already signed and must not
        be sent.
        """
        self._db.execute(
            "INSERT OR IGNORE INTO consensus_wal(height, round, slot, block_hash, message) "
            "VALUES (?, ?, ?, ?, ?)",
            (height, round_, slot, block_hash, json.dumps(message)),
        )
        row = self._db.execute(
            "SELECT block_hash FROM consensus_wal WHERE height = ? AND round = ? AND slot = ?",
            (height, round_, slot),
        ).fetchone()
        return str(row[0])

    def signed_messages(self, height: int) -> list[dict[str, Any]]:
        """What this validator logged for ``height``, in (round, slot) order."""
        rows = self._db.execute(
            "SELECT message FROM consensus_wal WHERE height = ? ORDER BY round, slot",
            (height,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def prune_signed(self, below_height: int) -> None:
        """Messages of finalized heights can no longer conflict with anything we sign."""
        self._db.execute("DELETE FROM consensus_wal WHERE height < ?", (below_height,))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

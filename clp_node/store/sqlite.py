"""SQLite (WAL, synchronous=FULL) block store: a SIGKILL never loses a committed block.

Blocks are stored with their commit certificate; on restart the node replays them through
ChainState, so the store never holds derived state that could disagree with the chain.
It also keeps this validator's last signed (height, round, step) so that a restarted node
never signs two different votes for one step.
"""

from __future__ import annotations

import json
import sqlite3
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
CREATE TABLE IF NOT EXISTS signed_votes (
    height INTEGER NOT NULL,
    round INTEGER NOT NULL,
    type TEXT NOT NULL,
    block_hash TEXT NOT NULL,
    PRIMARY KEY (height, round, type)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

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
        self._db.execute(
            "INSERT INTO blocks(height, hash, block, certificate) VALUES (?, ?, ?, ?)",
            (height, block_hash, json.dumps(block), json.dumps(cert)),
        )

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

    def record_vote(self, height: int, round_: int, vote_type: str, block_hash: str) -> str:
        """Remember what this validator signed for a slot; returns the hash on record.

        The first vote for a slot wins: a later different one must not be sent.
        """
        self._db.execute(
            "INSERT OR IGNORE INTO signed_votes(height, round, type, block_hash) "
            "VALUES (?, ?, ?, ?)",
            (height, round_, vote_type, block_hash),
        )
        row = self._db.execute(
            "SELECT block_hash FROM signed_votes WHERE height = ? AND round = ? AND type = ?",
            (height, round_, vote_type),
        ).fetchone()
        return str(row[0])

    def prune_votes(self, below_height: int) -> None:
        """Votes of finalized heights can no longer conflict with anything we sign."""
        self._db.execute("DELETE FROM signed_votes WHERE height < ?", (below_height,))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

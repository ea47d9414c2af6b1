//! The node's durable state (docs/protocol.md §10 "Durability"): one SQLite file,
//! `data_dir/chain.sqlite`, in WAL mode with `synchronous=NORMAL` (nothing a killed process
//! committed is lost).
//!
//! - `blocks`: each finalized block with its commit certificate, written in one
//!   transaction, heights contiguous from 1. Block and certificate are stored as their
//!   JSON (§9.1, §9.2), so the API serves them as stored.
//! - `own_messages`: every proposal and vote this node signed, recorded BEFORE it is sent,
//!   so a restarted node re-sends the same messages instead of signing conflicting ones.
//! - `meta`: the chain id and genesis hash the store belongs to.
//!
//! The types stored are the caller's (any serde type): this module knows rows, not blocks.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The store's file name inside `data_dir`.
pub const STORE_FILE: &str = "chain.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("block {got} does not follow the stored head {head}")]
    NotNext { head: u64, got: u64 },
    #[error("belongs to {key} {stored:?}, not {given:?}")]
    OtherChain {
        key: &'static str,
        stored: String,
        given: String,
    },
    #[error("block {height}: {message}")]
    BadBlock { height: u64, message: String },
    #[error("height {0} is past the largest storable height")]
    TooHigh(u64),
}

/// One stored block row, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    pub height: u64,
    /// The block hash, 64 lowercase hex.
    pub hash: String,
    /// The block's JSON (§9.1).
    pub block: String,
    /// The commit certificate's JSON (§9.2).
    pub certificate: String,
}

/// The store. Writes go through one connection, reads through another (WAL lets readers
/// run beside the writer), so an API request never waits for a commit's fsync.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    block TEXT NOT NULL,
    certificate TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS own_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    height INTEGER NOT NULL,
    round INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS own_messages_height ON own_messages (height);
";

fn sql_height(h: u64) -> Result<i64, StoreError> {
    i64::try_from(h).map_err(|_| StoreError::TooHigh(h))
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite itself consistent (transactions).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        writer.execute_batch(SCHEMA)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// `data_dir/chain.sqlite`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(STORE_FILE)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Binds the store to a chain: a fresh store records `chain_id` and `genesis_hash`; a
    /// used one must have been written for the same ones.
    pub fn bind_chain(&self, chain_id: &str, genesis_hash: &str) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        for (key, given) in [("chain_id", chain_id), ("genesis_hash", genesis_hash)] {
            let stored: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            match stored {
                None => {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                        [key, given],
                    )?;
                }
                Some(stored) if stored == given => {}
                Some(stored) => {
                    return Err(StoreError::OtherChain {
                        key,
                        stored,
                        given: given.to_owned(),
                    })
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The highest stored height (0: only genesis).
    pub fn head_height(&self) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let h: Option<i64> = conn.query_row("SELECT MAX(height) FROM blocks", [], |r| r.get(0))?;
        Ok(h.map_or(0, |h| h.max(0) as u64))
    }

    /// Stores a finalized block and its certificate in one transaction. `height` must be
    /// the stored head + 1.
    pub fn put_block<B: Serialize, C: Serialize>(
        &self,
        height: u64,
        hash: &str,
        block: &B,
        certificate: &C,
    ) -> Result<(), StoreError> {
        let block = serde_json::to_string(block)?;
        let certificate = serde_json::to_string(certificate)?;
        let h = sql_height(height)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let head: Option<i64> = tx.query_row("SELECT MAX(height) FROM blocks", [], |r| r.get(0))?;
        let head = head.map_or(0, |h| h.max(0) as u64);
        if height != head + 1 {
            return Err(StoreError::NotNext { head, got: height });
        }
        tx.execute(
            "INSERT INTO blocks (height, hash, block, certificate) VALUES (?1, ?2, ?3, ?4)",
            params![h, hash, block, certificate],
        )?;
        // Our own messages below the new head can never be needed again.
        tx.execute("DELETE FROM own_messages WHERE height <= ?1", [h])?;
        tx.commit()?;
        Ok(())
    }

    /// The stored row of `height`, if finalized.
    pub fn block_row(&self, height: u64) -> Result<Option<BlockRow>, StoreError> {
        let Ok(h) = i64::try_from(height) else {
            return Ok(None);
        };
        let conn = lock(&self.reader);
        let row = conn
            .query_row(
                "SELECT hash, block, certificate FROM blocks WHERE height = ?1",
                [h],
                |r| {
                    Ok(BlockRow {
                        height,
                        hash: r.get(0)?,
                        block: r.get(1)?,
                        certificate: r.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// The block and certificate of `height`, decoded as the caller's types.
    pub fn block<B: DeserializeOwned, C: DeserializeOwned>(
        &self,
        height: u64,
    ) -> Result<Option<(B, C)>, StoreError> {
        match self.block_row(height)? {
            None => Ok(None),
            Some(row) => Ok(Some(decode(&row)?)),
        }
    }

    /// Rows `from..=to` (clipped to what is stored), in height order: replay and sync.
    pub fn block_rows(&self, from: u64, to: u64) -> Result<Vec<BlockRow>, StoreError> {
        let (from, to) = (sql_height(from)?, i64::try_from(to).unwrap_or(i64::MAX));
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(
            "SELECT height, hash, block, certificate FROM blocks
             WHERE height BETWEEN ?1 AND ?2 ORDER BY height",
        )?;
        let rows = stmt.query_map([from, to], |r| {
            Ok(BlockRow {
                height: r.get::<_, i64>(0)?.max(0) as u64,
                hash: r.get(1)?,
                block: r.get(2)?,
                certificate: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `check` over every stored block in height order, checking first that heights
    /// run 1, 2, 3, ... The first failure is returned as [`StoreError::BadBlock`].
    pub fn check_blocks(
        &self,
        mut check: impl FnMut(&BlockRow) -> Result<(), String>,
    ) -> Result<u64, StoreError> {
        const BATCH: u64 = 1000;
        let head = self.head_height()?;
        let mut next = 1;
        while next <= head {
            for row in self.block_rows(next, next + BATCH - 1)? {
                if row.height != next {
                    return Err(StoreError::BadBlock {
                        height: next,
                        message: "missing".into(),
                    });
                }
                check(&row).map_err(|message| StoreError::BadBlock {
                    height: row.height,
                    message,
                })?;
                next += 1;
            }
        }
        Ok(head)
    }

    /// Records a message this node signed (a proposal or vote), before it is sent.
    pub fn record_own<T: Serialize>(
        &self,
        height: u64,
        round: u64,
        message: &T,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(message)?;
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO own_messages (height, round, message) VALUES (?1, ?2, ?3)",
            params![sql_height(height)?, sql_height(round)?, text],
        )?;
        Ok(())
    }

    /// The messages this node signed at heights `>= from`, in the order they were recorded.
    pub fn own_messages<T: DeserializeOwned>(&self, from: u64) -> Result<Vec<T>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare("SELECT message FROM own_messages WHERE height >= ?1 ORDER BY id")?;
        let texts = stmt
            .query_map([sql_height(from)?], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(StoreError::from))
            .collect()
    }

    /// Folds the WAL into the database file (a clean shutdown's last step).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Decodes a row's block and certificate as the caller's types.
pub fn decode<B: DeserializeOwned, C: DeserializeOwned>(
    row: &BlockRow,
) -> Result<(B, C), StoreError> {
    let block = serde_json::from_str(&row.block).map_err(|e| StoreError::BadBlock {
        height: row.height,
        message: format!("block: {e}"),
    })?;
    let cert = serde_json::from_str(&row.certificate).map_err(|e| StoreError::BadBlock {
        height: row.height,
        message: format!("certificate: {e}"),
    })?;
    Ok((block, cert))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// A directory removed when dropped.
    pub struct TempDir(pub PathBuf);
    impl TempDir {
        pub fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("clp-node-rs-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Msg {
        height: u64,
        round: u64,
        kind: String,
    }

    fn put(s: &Store, h: u64) -> Result<(), StoreError> {
        s.put_block(
            h,
            &format!("{h:064x}"),
            &json!({"height": h}),
            &json!({"height": h, "votes": []}),
        )
    }

    #[test]
    fn blocks_go_in_one_after_another_and_come_back() {
        let d = TempDir::new("store-blocks");
        let s = Store::open(&Store::path_in(&d.0)).unwrap();
        assert_eq!(s.head_height().unwrap(), 0);
        assert!(matches!(
            put(&s, 2),
            Err(StoreError::NotNext { head: 0, got: 2 })
        ));
        for h in 1..=3 {
            put(&s, h).unwrap();
        }
        assert!(matches!(
            put(&s, 3),
            Err(StoreError::NotNext { head: 3, got: 3 })
        ));
        assert_eq!(s.head_height().unwrap(), 3);
        let row = s.block_row(2).unwrap().unwrap();
        assert_eq!(row.hash, format!("{:064x}", 2));
        let (b, c): (serde_json::Value, serde_json::Value) = s.block(3).unwrap().unwrap();
        assert_eq!(
            (b["height"].as_u64(), c["height"].as_u64()),
            (Some(3), Some(3))
        );
        assert_eq!(s.block_row(4).unwrap(), None);
        assert_eq!(s.block_row(u64::MAX).unwrap(), None);
        let rows = s.block_rows(2, 100).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.height).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn a_reopened_store_has_what_was_committed() {
        let d = TempDir::new("store-reopen");
        let path = Store::path_in(&d.0);
        {
            let s = Store::open(&path).unwrap();
            s.bind_chain("c", "aa").unwrap();
            put(&s, 1).unwrap();
            put(&s, 2).unwrap();
            s.record_own(
                3,
                0,
                &Msg {
                    height: 3,
                    round: 0,
                    kind: "prevote".into(),
                },
            )
            .unwrap();
            // No checkpoint, no clean close: as after SIGKILL (the WAL holds it all).
            std::mem::forget(s);
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.head_height().unwrap(), 2);
        s.bind_chain("c", "aa").unwrap();
        assert!(matches!(
            s.bind_chain("other", "aa"),
            Err(StoreError::OtherChain {
                key: "chain_id",
                ..
            })
        ));
        assert!(matches!(
            s.bind_chain("c", "bb"),
            Err(StoreError::OtherChain {
                key: "genesis_hash",
                ..
            })
        ));
        let own: Vec<Msg> = s.own_messages(3).unwrap();
        assert_eq!(
            own,
            vec![Msg {
                height: 3,
                round: 0,
                kind: "prevote".into()
            }]
        );
    }

    #[test]
    fn own_messages_are_kept_until_their_height_is_committed() {
        let d = TempDir::new("store-own");
        let s = Store::open(&Store::path_in(&d.0)).unwrap();
        for (h, r, k) in [(1, 0, "proposal"), (1, 1, "precommit"), (2, 0, "prevote")] {
            s.record_own(
                h,
                r,
                &Msg {
                    height: h,
                    round: r,
                    kind: k.into(),
                },
            )
            .unwrap();
        }
        let all: Vec<Msg> = s.own_messages(1).unwrap();
        assert_eq!(
            all.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
            ["proposal", "precommit", "prevote"]
        );
        put(&s, 1).unwrap();
        let left: Vec<Msg> = s.own_messages(0).unwrap();
        assert_eq!(
            left,
            vec![Msg {
                height: 2,
                round: 0,
                kind: "prevote".into()
            }]
        );
        s.checkpoint().unwrap();
    }

    #[test]
    fn check_blocks_reports_the_first_bad_row() {
        let d = TempDir::new("store-check");
        let s = Store::open(&Store::path_in(&d.0)).unwrap();
        for h in 1..=3 {
            put(&s, h).unwrap();
        }
        assert_eq!(s.check_blocks(|_| Ok(())).unwrap(), 3);
        let err = s
            .check_blocks(|r| {
                if r.height == 2 {
                    Err("bad".into())
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "block 2: bad");
        lock(&s.writer)
            .execute("DELETE FROM blocks WHERE height = 2", [])
            .unwrap();
        assert_eq!(
            s.check_blocks(|_| Ok(())).unwrap_err().to_string(),
            "block 2: missing"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let d = TempDir::new("store-garbage");
        let path = Store::path_in(&d.0);
        std::fs::write(&path, b"not a database at all".repeat(100)).unwrap();
        assert!(Store::open(&path).is_err());
    }
}

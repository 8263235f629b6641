//! The daemon's history: an embedded SQLite file of fingerprints and tokenizer observations.
//!
//! Two kinds of fact are kept, each as a sequence of *distinct* observations: a new row when
//! something changed, and only `last_seen` bumped when the same thing is seen again.
//! - tokenizer observations: which file (sha256) and spec stood behind a tokenizer label, when;
//! - fingerprint history per (prompt id, tokenizer label): fingerprint, token count, block
//!   hashes, per-breakpoint fingerprints, and the sha256s of the prompt content and tokenizer
//!   file that produced them.
//!
//! Invariant: the store never holds prompt text or token ids: fingerprints, counts, block
//! hashes, timestamps, labels, segment names and sha256s only. A unit test lists every column
//! so a new one has to be argued for.
//!
//! Invariant: the store depends on [`crate::fingerprint`] and nothing above it; the daemon
//! builds a [`RecordInput`] from an analyzer result. All calls are synchronous (the daemon calls
//! them from `spawn_blocking`), and time is passed in as unix seconds so tests choose it.
//!
//! The schema is versioned with `PRAGMA user_version` and upgraded by [`MIGRATIONS`], one
//! transaction per step; a file written by a newer binary is refused rather than guessed at.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};
use crate::fingerprint::{BreakpointFingerprint, PrefixFingerprints};

/// Schema migrations in order: entry `i` takes `user_version` from `i` to `i + 1`. Append only;
/// never edit an entry that has shipped.
///
/// Why these shapes:
/// - `pair` gives each (prompt, tokenizer) an integer id, so history rows do not repeat two
///   labels and "latest per pair" is one index seek on `(pair_id, id DESC)`;
/// - history rows are ordered by `id` (insertion order), not by timestamps, so a clock that
///   steps back cannot reorder the sequence;
/// - block hashes are 8-byte big-endian values concatenated in a BLOB (8 bytes per block
///   instead of 16 hex characters plus JSON punctuation);
/// - tables are `STRICT`, so a wrong type is an error instead of a silent coercion.
pub const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "CREATE TABLE tokenizer_observation (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        format TEXT NOT NULL,
        file_sha256 TEXT NOT NULL,
        spec_sha256 TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tokenizer_observation_latest ON tokenizer_observation (label, id DESC);

    CREATE TABLE pair (
        id INTEGER PRIMARY KEY,
        prompt TEXT NOT NULL,
        tokenizer TEXT NOT NULL,
        UNIQUE (prompt, tokenizer)
    ) STRICT;

    CREATE TABLE fingerprint_history (
        id INTEGER PRIMARY KEY,
        pair_id INTEGER NOT NULL REFERENCES pair (id),
        fingerprint TEXT NOT NULL,
        token_count INTEGER NOT NULL CHECK (token_count >= 0),
        tokenizer_sha256 TEXT NOT NULL,
        spec_sha256 TEXT,
        content_sha256 TEXT NOT NULL,
        block_size INTEGER NOT NULL CHECK (block_size > 0),
        block_hashes BLOB NOT NULL CHECK (length(block_hashes) % 8 = 0),
        breakpoints TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX fingerprint_history_latest ON fingerprint_history (pair_id, id DESC);",
];

/// The schema version this binary writes: the number of [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a call waits for another connection's write lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Handle on the history file. Not `Sync`: share it behind a mutex.
pub struct Store {
    /// Declared first so it is dropped (closed) before `file`.
    conn: Connection,
    /// The database file, opened once before SQLite opens it and kept open for as long as the
    /// connection: [`Store::check`] reads the header through it. POSIX advisory locks belong
    /// to the process, and closing *any* descriptor of a file drops all of them; a check that
    /// opened and closed the file on every pass dropped the connection's locks, so an outside
    /// reader's close (an operator's `sqlite3`) looked like the last connection's,
    /// checkpointed and deleted the `-wal` this process went on appending to (issue #18).
    file: std::fs::File,
    /// Kept for error messages, which always name the file.
    path: PathBuf,
    /// (device, inode) of the file opened, so a file deleted or replaced under the running
    /// daemon is noticed instead of written into the void.
    identity: Option<(u64, u64)>,
}

/// What [`Store::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The path no longer exists: writes would go to an unlinked file, lost at restart.
    Deleted,
    /// Another file now stands at the path (a restore, a careless `mv`).
    Replaced,
    /// The file is not a sound SQLite database (bad header, failed `quick_check`).
    Corrupt(String),
}

impl Health {
    /// The `reason` label of `prefix_warden_store_recoveries_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Deleted => "deleted",
            Health::Replaced => "replaced",
            Health::Corrupt(_) => "corrupt",
        }
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Ok => f.write_str("ok"),
            Health::Deleted => f.write_str("the database file was deleted"),
            Health::Replaced => f.write_str("the database file was replaced by another file"),
            Health::Corrupt(why) => write!(f, "the database file is corrupt: {why}"),
        }
    }
}

/// One fingerprinting result to record.
#[derive(Debug, Clone, Copy)]
pub struct RecordInput<'a> {
    pub prompt: &'a str,
    pub tokenizer: &'a str,
    /// sha256 of the tokenizer file that produced the ids.
    pub tokenizer_sha256: &'a str,
    /// sha256 of the tiktoken spec file, when there is one.
    pub spec_sha256: Option<&'a str>,
    /// sha256 of the prompt definition, so a change can be blamed on the prompt or the
    /// tokenizer without keeping the text.
    pub content_sha256: &'a str,
    pub fingerprints: &'a PrefixFingerprints,
}

/// A stored fingerprint result: one row of a pair's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub prompt: String,
    pub tokenizer: String,
    pub fingerprint: String,
    pub token_count: usize,
    pub tokenizer_sha256: String,
    pub spec_sha256: Option<String>,
    pub content_sha256: String,
    pub block_size: usize,
    /// 16-hex-digit prefix hashes, as [`PrefixFingerprints::blocks`].
    pub blocks: Vec<String>,
    pub breakpoints: Vec<BreakpointFingerprint>,
    /// Unix seconds when this result was first recorded.
    pub first_seen: i64,
    /// Unix seconds when this result was last recorded.
    pub last_seen: i64,
}

impl Snapshot {
    /// The stored fingerprints in the analyzer's shape, to compare with a fresh result.
    pub fn fingerprints(&self) -> PrefixFingerprints {
        PrefixFingerprints {
            token_count: self.token_count,
            fingerprint: self.fingerprint.clone(),
            breakpoints: self.breakpoints.clone(),
            block_size: self.block_size,
            blocks: self.blocks.clone(),
        }
    }
}

/// What [`Store::record`] found compared with the pair's latest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// First result for this (prompt, tokenizer) pair.
    New,
    /// Same fingerprint as the latest row: the provider's prompt cache is unaffected.
    ///
    /// Usually only `last_seen` is bumped. When the fingerprint is the same but something
    /// else differs (the tokenizer file or prompt content sha256, the block size, the
    /// breakpoints), a new row is inserted so history says truthfully what produced it.
    Same,
    /// Different fingerprint from the latest row, which is `previous`; a new row was
    /// inserted.
    Changed { previous: Box<Snapshot> },
}

/// What [`Store::record_tokenizer`] found compared with the label's latest observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerChange {
    /// First observation of this label.
    New,
    /// Same format, file sha256 and spec sha256 as the latest observation; `last_seen` bumped.
    Same,
    /// The content behind the label changed while the label stayed the same. A new row was
    /// inserted. `previous_sha256` is the previous *file* sha256; when only the spec or the
    /// format changed it equals the current one.
    ContentChanged { previous_sha256: String },
}

impl Store {
    /// Opens (creating if needed) the history at `path` and brings its schema up to date.
    ///
    /// Durability: the journal is WAL with `synchronous=NORMAL`. A commit has been written to
    /// the `-wal` file with `write(2)` before `record` returns, so it sits in the kernel's page
    /// cache and survives the process being killed (`kill -9`, OOM, panic); a crash test below
    /// checks this. Only an OS crash or power loss can roll back the last commits (WAL is
    /// fsynced at checkpoints), and the database stays consistent even then. That trade is
    /// right here: a lost row is re-observed on the next scan, and `FULL` would fsync on every
    /// record.
    ///
    /// The file is created with mode 0600 before SQLite opens it, so there is no moment when
    /// it is readable by others; SQLite gives `-wal` and `-shm` the database file's mode, and
    /// they are tightened again after opening in case an older file had a looser one.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = create_private(path)?;
        let err = |e: rusqlite::Error| db_error(path, e);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Other(format!(
                "{}: cannot use wal journal mode (sqlite kept `{mode}`)",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut store = Store {
            conn,
            file,
            path: path.to_owned(),
            identity: file_identity(path),
        };
        store.migrate()?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            restrict_existing(Path::new(&side))?;
        }
        Ok(store)
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the history at `path`; if it cannot be opened or fails `PRAGMA quick_check`, moves
    /// it (and its `-wal`, `-shm`) aside to `<path>.bad-<now>` and starts a new one. Returns the
    /// problem found, if any, for `/status` and the metrics.
    pub fn open_or_recover(path: &Path, now: i64) -> Result<(Store, Option<Health>)> {
        let problem = match Store::open(path) {
            Ok(s) => match s.quick_check() {
                Health::Ok => return Ok((s, None)),
                bad => bad,
            },
            Err(e) => Health::Corrupt(e.to_string()),
        };
        let aside = move_aside(path, now)?;
        tracing::error!(store = %path.display(), moved_to = %aside.display(), problem = %problem, "history database unusable: moved aside, starting a new one");
        Ok((Store::open(path)?, Some(problem)))
    }

    /// Cheap checks for every pass: the file is still the one opened and still starts like a
    /// SQLite database. [`Store::quick_check`] goes further.
    pub fn check(&self) -> Health {
        match (file_identity(&self.path), self.identity) {
            (None, _) => return Health::Deleted,
            (Some(now), Some(then)) if now != then => return Health::Replaced,
            _ => {}
        }
        let mut head = [0u8; 16];
        let read = read_head(&self.file, &mut head);
        match read {
            Ok(()) if &head == b"SQLite format 3\0" => Health::Ok,
            Ok(()) => Health::Corrupt("the file does not start with the SQLite header".into()),
            Err(e) => Health::Corrupt(format!("cannot read the header: {e}")),
        }
    }

    /// `PRAGMA quick_check` (at start and after an error): every page is read and checked.
    pub fn quick_check(&self) -> Health {
        match self.check() {
            Health::Ok => {}
            bad => return bad,
        }
        match self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
        {
            Ok(v) if v == "ok" => Health::Ok,
            Ok(v) => Health::Corrupt(v),
            Err(e) => Health::Corrupt(e.to_string()),
        }
    }

    /// Applies the missing migrations, one IMMEDIATE transaction each, re-reading the version
    /// inside each so two processes opening the same file cannot apply a step twice.
    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| db_error(&path, e);
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            let version: u32 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(err)?;
            if version > SCHEMA_VERSION {
                return Err(Error::Other(format!(
                    "{}: schema version {version} is newer than this binary knows \
                     ({SCHEMA_VERSION}); run a newer prefix-warden or move the file away",
                    path.display()
                )));
            }
            let Some(sql) = MIGRATIONS.get(version as usize) else {
                return Ok(());
            };
            tx.execute_batch(sql).map_err(|e| {
                Error::Other(format!(
                    "{}: migration to schema version {}: {e}",
                    path.display(),
                    version + 1
                ))
            })?;
            tx.pragma_update(None, "user_version", version + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
    }

    /// Records one fingerprint result for (prompt, tokenizer) at `now` (unix seconds).
    ///
    /// The read of the latest row and the write happen in one IMMEDIATE transaction, so two
    /// writers cannot both decide they saw something new.
    pub fn record(&mut self, e: &RecordInput, now: i64) -> Result<Change> {
        let fp = e.fingerprints;
        let blob = encode_blocks(&fp.blocks).map_err(|m| {
            Error::Other(format!(
                "{}: prompt `{}` tokenizer `{}`: {m}",
                self.path.display(),
                e.prompt,
                e.tokenizer
            ))
        })?;
        let breakpoints = serde_json::to_string(&fp.breakpoints)
            .map_err(|x| Error::Other(format!("{}: breakpoints: {x}", self.path.display())))?;
        let path = self.path.clone();
        let err = |x: rusqlite::Error| db_error(&path, x);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let pair_id: Option<i64> = tx
            .query_row(
                "SELECT id FROM pair WHERE prompt = ?1 AND tokenizer = ?2",
                params![e.prompt, e.tokenizer],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let pair_id = match pair_id {
            Some(id) => id,
            None => {
                tx.execute(
                    "INSERT INTO pair (prompt, tokenizer) VALUES (?1, ?2)",
                    params![e.prompt, e.tokenizer],
                )
                .map_err(err)?;
                tx.last_insert_rowid()
            }
        };
        let latest = tx
            .query_row(
                &format!("{SELECT_SNAPSHOT} WHERE h.pair_id = ?1 ORDER BY h.id DESC LIMIT 1"),
                params![pair_id],
                read_row,
            )
            .optional()
            .map_err(err)?;
        let latest = match latest {
            Some((row_id, raw)) => Some((row_id, raw.decode(&path)?)),
            None => None,
        };
        let change = match latest {
            Some((row_id, prev)) if is_same_result(&prev, e) => {
                tx.execute(
                    "UPDATE fingerprint_history SET last_seen = max(last_seen, ?2) WHERE id = ?1",
                    params![row_id, now],
                )
                .map_err(err)?;
                Change::Same
            }
            latest => {
                tx.execute(
                    "INSERT INTO fingerprint_history (pair_id, fingerprint, token_count,
                         tokenizer_sha256, spec_sha256, content_sha256, block_size,
                         block_hashes, breakpoints, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    params![
                        pair_id,
                        fp.fingerprint,
                        to_i64(fp.token_count),
                        e.tokenizer_sha256,
                        e.spec_sha256,
                        e.content_sha256,
                        to_i64(fp.block_size),
                        blob,
                        breakpoints,
                        now
                    ],
                )
                .map_err(err)?;
                match latest {
                    None => Change::New,
                    Some((_, prev)) if prev.fingerprint == fp.fingerprint => Change::Same,
                    Some((_, previous)) => Change::Changed {
                        previous: Box::new(previous),
                    },
                }
            }
        };
        tx.commit().map_err(err)?;
        Ok(change)
    }

    /// Records which file stands behind a tokenizer label at `now` (unix seconds).
    pub fn record_tokenizer(
        &mut self,
        label: &str,
        format: &str,
        file_sha256: &str,
        spec_sha256: Option<&str>,
        now: i64,
    ) -> Result<TokenizerChange> {
        let path = self.path.clone();
        let err = |x: rusqlite::Error| db_error(&path, x);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let latest: Option<(i64, String, String, Option<String>)> = tx
            .query_row(
                "SELECT id, format, file_sha256, spec_sha256 FROM tokenizer_observation
                 WHERE label = ?1 ORDER BY id DESC LIMIT 1",
                params![label],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(err)?;
        let change = match latest {
            Some((id, f, sha, spec))
                if f == format && sha == file_sha256 && spec.as_deref() == spec_sha256 =>
            {
                tx.execute(
                    "UPDATE tokenizer_observation SET last_seen = max(last_seen, ?2) WHERE id = ?1",
                    params![id, now],
                )
                .map_err(err)?;
                TokenizerChange::Same
            }
            latest => {
                tx.execute(
                    "INSERT INTO tokenizer_observation
                         (label, format, file_sha256, spec_sha256, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![label, format, file_sha256, spec_sha256, now],
                )
                .map_err(err)?;
                match latest {
                    None => TokenizerChange::New,
                    Some((_, _, previous_sha256, _)) => {
                        TokenizerChange::ContentChanged { previous_sha256 }
                    }
                }
            }
        };
        tx.commit().map_err(err)?;
        Ok(change)
    }

    /// The latest result for (prompt, tokenizer), if any was recorded.
    pub fn latest(&self, prompt: &str, tokenizer: &str) -> Result<Option<Snapshot>> {
        Ok(self.history(prompt, tokenizer, 1)?.pop())
    }

    /// The latest result of every pair, ordered by prompt then tokenizer.
    pub fn latest_all(&self) -> Result<Vec<Snapshot>> {
        self.snapshots(
            &format!(
                "{SELECT_SNAPSHOT}
                 WHERE h.id = (SELECT max(id) FROM fingerprint_history WHERE pair_id = p.id)
                 ORDER BY p.prompt, p.tokenizer"
            ),
            params![],
        )
    }

    /// Up to `limit` results for (prompt, tokenizer), newest first.
    pub fn history(&self, prompt: &str, tokenizer: &str, limit: usize) -> Result<Vec<Snapshot>> {
        self.snapshots(
            &format!(
                "{SELECT_SNAPSHOT}
                 WHERE p.prompt = ?1 AND p.tokenizer = ?2
                 ORDER BY h.id DESC LIMIT ?3"
            ),
            params![prompt, tokenizer, to_i64(limit)],
        )
    }

    /// When the pair's current fingerprint was first recorded: the `first_seen` of the oldest
    /// row in the trailing run of rows with the latest fingerprint. Differs from
    /// `latest().first_seen` when a row was added for the same fingerprint (a new tokenizer
    /// file or prompt content that tokenizes the same), which is not a cache-breaking change.
    pub fn stable_since(&self, prompt: &str, tokenizer: &str) -> Result<Option<i64>> {
        let err = |e: rusqlite::Error| db_error(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "WITH pr AS (SELECT id FROM pair WHERE prompt = ?1 AND tokenizer = ?2),
                 cur AS (SELECT fingerprint FROM fingerprint_history
                         WHERE pair_id = (SELECT id FROM pr) ORDER BY id DESC LIMIT 1)
                 SELECT first_seen FROM fingerprint_history
                 WHERE pair_id = (SELECT id FROM pr)
                   AND id > coalesce((SELECT max(id) FROM fingerprint_history
                                      WHERE pair_id = (SELECT id FROM pr)
                                        AND fingerprint <> (SELECT fingerprint FROM cur)), 0)
                 ORDER BY id LIMIT 1",
            )
            .map_err(err)?;
        stmt.query_row(params![prompt, tokenizer], |r| r.get(0))
            .optional()
            .map_err(err)
    }

    fn snapshots(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Snapshot>> {
        let err = |e: rusqlite::Error| db_error(&self.path, e);
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let rows = stmt.query_map(params, read_row).map_err(err)?;
        rows.map(|r| r.map_err(err)?.1.decode(&self.path)).collect()
    }
}

/// Index of the first block whose hash differs between a stored result and a new one, or
/// `None` when one block list is a prefix of the other, as
/// [`crate::fingerprint::first_divergent_block`].
///
/// Block lists with different block sizes are not comparable: that answers `Some(0)` (nothing
/// is known to be shared) unless the fingerprints are equal.
pub fn first_divergent_block(a: &Snapshot, b: &PrefixFingerprints) -> Option<usize> {
    if a.block_size != b.block_size {
        return (a.fingerprint != b.fingerprint).then_some(0);
    }
    crate::fingerprint::first_divergent_block(&a.blocks, &b.blocks)
}

/// Columns of a history row joined with its pair, in the order [`read_row`] expects.
const SELECT_SNAPSHOT: &str = "SELECT h.id, p.prompt, p.tokenizer, h.fingerprint, h.token_count,
        h.tokenizer_sha256, h.spec_sha256, h.content_sha256, h.block_size, h.block_hashes,
        h.breakpoints, h.first_seen, h.last_seen
    FROM fingerprint_history h JOIN pair p ON p.id = h.pair_id";

/// A history row as stored, before the blob and JSON are decoded.
struct RawRow {
    prompt: String,
    tokenizer: String,
    fingerprint: String,
    token_count: i64,
    tokenizer_sha256: String,
    spec_sha256: Option<String>,
    content_sha256: String,
    block_size: i64,
    block_hashes: Vec<u8>,
    breakpoints: String,
    first_seen: i64,
    last_seen: i64,
}

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, RawRow)> {
    Ok((
        r.get(0)?,
        RawRow {
            prompt: r.get(1)?,
            tokenizer: r.get(2)?,
            fingerprint: r.get(3)?,
            token_count: r.get(4)?,
            tokenizer_sha256: r.get(5)?,
            spec_sha256: r.get(6)?,
            content_sha256: r.get(7)?,
            block_size: r.get(8)?,
            block_hashes: r.get(9)?,
            breakpoints: r.get(10)?,
            first_seen: r.get(11)?,
            last_seen: r.get(12)?,
        },
    ))
}

impl RawRow {
    fn decode(self, path: &Path) -> Result<Snapshot> {
        let bad = |what: &str| {
            Error::Other(format!(
                "{}: prompt `{}` tokenizer `{}`: corrupt {what}",
                path.display(),
                self.prompt,
                self.tokenizer
            ))
        };
        let breakpoints =
            serde_json::from_str(&self.breakpoints).map_err(|_| bad("breakpoints"))?;
        let token_count = usize::try_from(self.token_count).map_err(|_| bad("token count"))?;
        let block_size = usize::try_from(self.block_size).map_err(|_| bad("block size"))?;
        let blocks = decode_blocks(&self.block_hashes).ok_or_else(|| bad("block hashes"))?;
        Ok(Snapshot {
            prompt: self.prompt,
            tokenizer: self.tokenizer,
            fingerprint: self.fingerprint,
            token_count,
            tokenizer_sha256: self.tokenizer_sha256,
            spec_sha256: self.spec_sha256,
            content_sha256: self.content_sha256,
            block_size,
            blocks,
            breakpoints,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        })
    }
}

/// True when `prev` records exactly what `e` would: then only `last_seen` moves.
fn is_same_result(prev: &Snapshot, e: &RecordInput) -> bool {
    let fp = e.fingerprints;
    prev.fingerprint == fp.fingerprint
        && prev.token_count == fp.token_count
        && prev.block_size == fp.block_size
        && prev.blocks == fp.blocks
        && prev.breakpoints == fp.breakpoints
        && prev.tokenizer_sha256 == e.tokenizer_sha256
        && prev.spec_sha256.as_deref() == e.spec_sha256
        && prev.content_sha256 == e.content_sha256
}

/// 16-lowercase-hex-digit block hashes to 8-byte big-endian values, concatenated. Only the
/// exact form [`crate::fingerprint`] produces is accepted, so decoding gives back the same
/// strings.
fn encode_blocks(blocks: &[String]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(8 * blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let ok = b.len() == 16 && b.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        let v = u64::from_str_radix(b, 16)
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| format!("block hash {i} is not 16 lower-case hex digits"))?;
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}

fn decode_blocks(blob: &[u8]) -> Option<Vec<String>> {
    if !blob.len().is_multiple_of(8) {
        return None;
    }
    Some(
        blob.chunks_exact(8)
            .map(|c| {
                format!(
                    "{:016x}",
                    u64::from_be_bytes(c.try_into().expect("8 bytes"))
                )
            })
            .collect(),
    )
}

/// Counts fit in SQLite's INTEGER on every platform this builds for.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// (device, inode) of `path`, `None` when it does not exist.
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|_| (0, 0))
}

/// Renames `path` and its `-wal` / `-shm` to `<name>.bad-<now>...`; returns the new main path.
fn move_aside(path: &Path, now: i64) -> Result<PathBuf> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".bad-{now}"));
    let aside = PathBuf::from(aside);
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(PathBuf::from(from), e)),
        }
    }
    Ok(aside)
}

/// The history's file name under `state_dir`.
pub const FILE_NAME: &str = "prefix-warden.sqlite";

/// Writes one consistent copy of the history at `src` to `dest` while a daemon may be writing
/// it: `VACUUM INTO` a new 0600 file beside `dest`, then a rename. `src` is opened as any
/// outside reader would (the daemon keeps its locks; see [`Store`]); nothing is written to it.
pub fn backup(src: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(Error::Other(format!(
            "{}: already exists; the backup writes a new file",
            dest.display()
        )));
    }
    crate::bounded::open_regular(src)?;
    let conn = Connection::open_with_flags(
        src,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(src, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_error(src, e))?;
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".prefix-warden-backup-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let tmp_path = tmp.path().to_owned();
    conn.execute("VACUUM INTO ?1", [tmp_path.to_string_lossy()])
        .map_err(|e| db_error(src, e))?;
    drop(conn);
    tmp.persist_noclobber(dest)
        .map_err(|e| Error::io(dest, e.error))?;
    Ok(())
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Other(format!("{}: {e}", path.display()))
}

/// Creates `path` with mode 0600 if it is missing, tightens it if it exists, and returns it
/// open for reading: the one descriptor besides SQLite's, held as long as the store. A path
/// that is not a regular file (a FIFO planted there) is refused without blocking.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    // Checked before anything else touches an existing file.
    let file = crate::bounded::open_regular(path)?;
    restrict_existing(path)?;
    Ok(file)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<std::fs::File> {
    crate::bounded::open_regular(path)
}

/// The first bytes of the file, read at offset 0 through the descriptor the store holds.
#[cfg(unix)]
fn read_head(f: &std::fs::File, head: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, head, 0)
}

#[cfg(not(unix))]
fn read_head(f: &std::fs::File, head: &mut [u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    let mut f = f;
    f.seek(std::io::SeekFrom::Start(0))?;
    f.read_exact(head)
}

/// Sets mode 0600 on `path` if it exists and is looser.
#[cfg(unix)]
fn restrict_existing(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.permissions().mode() & 0o777 != 0o600 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_existing(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::compute;

    fn fp(ids: &[u32], block_size: usize) -> PrefixFingerprints {
        compute(ids, &[("system".into(), ids.len() / 2)], block_size)
    }

    fn input<'a>(prompt: &'a str, tok: &'a str, fp: &'a PrefixFingerprints) -> RecordInput<'a> {
        RecordInput {
            prompt,
            tokenizer: tok,
            tokenizer_sha256: "aaaa",
            spec_sha256: None,
            content_sha256: "cccc",
            fingerprints: fp,
        }
    }

    fn user_version(store: &Store) -> u32 {
        store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_deleted_replaced_or_overwritten_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.check(), Health::Ok);
        assert_eq!(store.quick_check(), Health::Ok);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.check(), Health::Deleted);
        // Another file at the same path.
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        std::fs::rename(dir.path().join("other"), &path).unwrap();
        assert_eq!(store.check(), Health::Replaced);
        // Random bytes over the same inode.
        let path2 = dir.path().join("h2.sqlite");
        let store2 = Store::open(&path2).unwrap();
        std::fs::write(&path2, vec![0x5a; 8192]).unwrap();
        assert!(
            matches!(store2.check(), Health::Corrupt(_)),
            "{:?}",
            store2.check()
        );
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_a_new_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        std::fs::write(&path, vec![0xa5; 65536]).unwrap();
        let (mut store, problem) = Store::open_or_recover(&path, 1234).unwrap();
        assert!(matches!(problem, Some(Health::Corrupt(_))), "{problem:?}");
        assert!(
            dir.path().join("h.sqlite.bad-1234").exists(),
            "kept for forensics"
        );
        let f = fp(&[1, 2, 3, 4], 2);
        store.record(&input("p", "t", &f), 1).unwrap();
        assert_eq!(store.quick_check(), Health::Ok);
        drop(store);
        // A sound file opens as it is.
        let (_, problem) = Store::open_or_recover(&path, 1235).unwrap();
        assert_eq!(problem, None);
    }

    #[test]
    fn migrations_apply_once_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/nested/history.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store), SCHEMA_VERSION);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store), SCHEMA_VERSION);
        let f = fp(&[1, 2, 3], 2);
        assert_eq!(store.record(&input("p", "t", &f), 10).unwrap(), Change::New);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.latest("p", "t").unwrap().unwrap().fingerprint,
            f.fingerprint
        );
    }

    #[test]
    fn newer_schema_is_refused_naming_file_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 7)
            .unwrap();
        drop(store);
        let msg = match Store::open(&path) {
            Ok(_) => panic!("a newer schema was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("version {}", SCHEMA_VERSION + 7)),
            "{msg}"
        );
        assert!(msg.contains(&format!("({SCHEMA_VERSION})")), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut store = Store::open(&path).unwrap();
        let f = fp(&[1, 2, 3], 2);
        store.record(&input("p", "t", &f), 1).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            assert!(side.exists(), "{} missing", side.display());
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
        drop(store);
        // A file left with a loose mode is tightened on open.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn record_new_same_changed_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let a = fp(&[1, 2, 3, 4, 5], 2);
        let b = fp(&[1, 2, 3, 9, 5], 2);
        assert_eq!(
            store.record(&input("p", "t", &a), 100).unwrap(),
            Change::New
        );
        assert_eq!(
            store.record(&input("p", "t", &a), 200).unwrap(),
            Change::Same
        );
        let latest = store.latest("p", "t").unwrap().unwrap();
        assert_eq!((latest.first_seen, latest.last_seen), (100, 200));
        // A clock stepping back does not move last_seen backwards.
        assert_eq!(
            store.record(&input("p", "t", &a), 150).unwrap(),
            Change::Same
        );
        assert_eq!(store.latest("p", "t").unwrap().unwrap().last_seen, 200);

        let Change::Changed { previous } = store.record(&input("p", "t", &b), 300).unwrap() else {
            panic!("expected a change");
        };
        assert_eq!(*previous, latest);
        assert_eq!(first_divergent_block(&previous, &b), Some(1));
        // Back to the old fingerprint: a new row, not a rewrite of history.
        assert!(matches!(
            store.record(&input("p", "t", &a), 400).unwrap(),
            Change::Changed { .. }
        ));
        let h = store.history("p", "t", 10).unwrap();
        let seq: Vec<_> = h
            .iter()
            .map(|s| (s.fingerprint.as_str(), s.first_seen))
            .collect();
        assert_eq!(
            seq,
            [
                (a.fingerprint.as_str(), 400),
                (b.fingerprint.as_str(), 300),
                (a.fingerprint.as_str(), 100)
            ]
        );
        assert_eq!(store.history("p", "t", 2).unwrap().len(), 2);
        assert!(store.history("p", "other", 10).unwrap().is_empty());
        assert_eq!(store.latest("nope", "t").unwrap(), None);

        // Same fingerprint from a different tokenizer file: Same, but history records it.
        let mut other_file = input("p", "t", &a);
        other_file.tokenizer_sha256 = "bbbb";
        assert_eq!(store.record(&other_file, 500).unwrap(), Change::Same);
        let h = store.history("p", "t", 10).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].tokenizer_sha256, "bbbb");
        assert_eq!(h[1].tokenizer_sha256, "aaaa");
        // The fingerprint has been the same since the row at 400, not 500.
        assert_eq!(store.latest("p", "t").unwrap().unwrap().first_seen, 500);
        assert_eq!(store.stable_since("p", "t").unwrap(), Some(400));
        assert_eq!(store.stable_since("nope", "t").unwrap(), None);

        // latest_all: one per pair, sorted.
        store.record(&input("p", "t2", &b), 600).unwrap();
        store.record(&input("a", "t", &b), 600).unwrap();
        let all = store.latest_all().unwrap();
        let pairs: Vec<_> = all
            .iter()
            .map(|s| (s.prompt.as_str(), s.tokenizer.as_str(), s.last_seen))
            .collect();
        assert_eq!(pairs, [("a", "t", 600), ("p", "t", 500), ("p", "t2", 600)]);
    }

    #[test]
    fn snapshot_round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let ids: Vec<u32> = (0..1000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let mut f = compute(&ids, &[("system".into(), 10), ("tools".into(), 700)], 64);
        // Edge values of the 8-byte encoding.
        f.blocks.push("0000000000000000".into());
        f.blocks.push("ffffffffffffffff".into());
        f.blocks.push("00000000000000ff".into());
        let e = RecordInput {
            prompt: "support-bot",
            tokenizer: "o200k",
            tokenizer_sha256: "f00d",
            spec_sha256: Some("5bec"),
            content_sha256: "c0de",
            fingerprints: &f,
        };
        store.record(&e, 42).unwrap();
        let s = store.latest("support-bot", "o200k").unwrap().unwrap();
        assert_eq!(s.blocks, f.blocks);
        assert_eq!(s.breakpoints, f.breakpoints);
        assert_eq!(
            (s.fingerprint.as_str(), s.token_count, s.block_size),
            (f.fingerprint.as_str(), 1000, 64)
        );
        assert_eq!(
            (
                s.tokenizer_sha256.as_str(),
                s.spec_sha256.as_deref(),
                s.content_sha256.as_str()
            ),
            ("f00d", Some("5bec"), "c0de")
        );
        let bytes: Vec<u8> = store
            .conn
            .query_row("SELECT block_hashes FROM fingerprint_history", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(bytes.len(), 8 * f.blocks.len());
        assert_eq!(first_divergent_block(&s, &f), None);
    }

    #[test]
    fn malformed_block_hash_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        for bad in [
            "ABCDEF0123456789",
            "0123",
            "0123456789abcdefg",
            "+123456789abcdef",
        ] {
            let mut f = fp(&[1, 2, 3], 2);
            f.blocks[0] = bad.into();
            let err = store.record(&input("p", "t", &f), 1).unwrap_err();
            assert!(err.to_string().contains("block hash 0"), "{err}");
        }
        assert_eq!(store.latest("p", "t").unwrap(), None);
    }

    #[test]
    fn tokenizer_observations() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let mut rec = |sha: &str, spec: Option<&str>, now| {
            store
                .record_tokenizer("o200k", "tiktoken", sha, spec, now)
                .unwrap()
        };
        assert_eq!(rec("s1", Some("spec"), 1), TokenizerChange::New);
        assert_eq!(rec("s1", Some("spec"), 2), TokenizerChange::Same);
        assert_eq!(
            rec("s2", Some("spec"), 3),
            TokenizerChange::ContentChanged {
                previous_sha256: "s1".into()
            }
        );
        assert_eq!(
            rec("s2", None, 4),
            TokenizerChange::ContentChanged {
                previous_sha256: "s2".into()
            }
        );
        assert_eq!(rec("s2", None, 5), TokenizerChange::Same);
        assert_eq!(
            store
                .record_tokenizer("cl100k", "tiktoken", "s1", None, 6)
                .unwrap(),
            TokenizerChange::New
        );
        let rows: Vec<(String, i64, i64)> = store
            .conn
            .prepare("SELECT file_sha256, first_seen, last_seen FROM tokenizer_observation WHERE label = 'o200k' ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("s1".into(), 1, 2),
                ("s2".into(), 3, 3),
                ("s2".into(), 4, 5)
            ]
        );
    }

    /// Every column of every table. A new column must be added here, after checking it holds
    /// neither prompt text nor token ids.
    #[test]
    fn schema_holds_no_text_or_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).unwrap();
        let columns: Vec<(String, String)> = store
            .conn
            .prepare(
                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' ORDER BY m.name, c.cid",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (table, col) in &columns {
            let c = col.to_lowercase();
            assert!(
                !["text", "ids", "token_id", "content", "body", "message"]
                    .iter()
                    .any(|w| c.contains(w))
                    || c == "content_sha256",
                "{table}.{col} looks like it could hold prompt text or token ids"
            );
        }
        let listed: Vec<String> = columns.iter().map(|(t, c)| format!("{t}.{c}")).collect();
        assert_eq!(
            listed,
            [
                "fingerprint_history.id",
                "fingerprint_history.pair_id",
                "fingerprint_history.fingerprint",
                "fingerprint_history.token_count",
                "fingerprint_history.tokenizer_sha256",
                "fingerprint_history.spec_sha256",
                "fingerprint_history.content_sha256",
                "fingerprint_history.block_size",
                "fingerprint_history.block_hashes",
                "fingerprint_history.breakpoints",
                "fingerprint_history.first_seen",
                "fingerprint_history.last_seen",
                "pair.id",
                "pair.prompt",
                "pair.tokenizer",
                "tokenizer_observation.id",
                "tokenizer_observation.label",
                "tokenizer_observation.format",
                "tokenizer_observation.file_sha256",
                "tokenizer_observation.spec_sha256",
                "tokenizer_observation.first_seen",
                "tokenizer_observation.last_seen",
            ]
        );
    }
}

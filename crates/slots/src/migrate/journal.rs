//! The apply journal: what an interrupted `cairn slots apply` was doing, so that
//! `cairn slots resume` can finish it.
//!
//! # Format
//! JSON lines, appended *before* the step they announce is sent to the cluster:
//! - `{"kind":"start", ...}`: the plan fingerprint, the layout apply started from, the moves,
//!   the method and settings;
//! - `{"kind":"step","slot":s,"step":"open"|"keys"|"assign"|"atomic"}` before each protocol step
//!   of a slot;
//! - `{"kind":"done","slot":s}` after a slot is owned by its target everywhere;
//! - `{"kind":"finished"}` after the final verification.
//!
//! A journal without `finished` means work may be left: resume reads it, checks the cluster is
//! still the one it was writing about, and finishes every move without `done`.
//!
//! # Durability
//! The `start` and `finished` records are `fsync`ed at once. Step and `done` records are written
//! before their step but synced as a group (at most [`SYNC_EVERY`] apart): an `fsync` per step
//! costs more than the step itself (thousands of small slots). Losing the last unsynced records
//! in a machine crash is safe, because resume decides from the *live* state of each unfinished
//! move (a slot already at its target is only confirmed), and the start record, which is always
//! on disk, lists every move.

use cairn_slots_planner::{Move, SlotRange};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// The apply began.
    Start {
        /// The plan's `snapshot_fingerprint`.
        plan_fingerprint: String,
        /// The slot owners when apply began.
        start_layout: Vec<SlotRange>,
        /// The seed used.
        seed: String,
        /// Every move of the plan, in order.
        moves: Vec<Move>,
        /// `legacy` or `atomic`.
        method: String,
    },
    /// A protocol step of one slot is about to be sent.
    Step {
        /// The slot.
        slot: u16,
        /// `open`, `keys`, `assign` or `atomic`.
        step: String,
    },
    /// A slot is fully moved.
    Done {
        /// The slot.
        slot: u16,
    },
    /// Every move is done and the cluster verified.
    Finished,
}

/// Journal I/O errors, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a journal record.
    #[error("journal {path} line {line} is not a cairn journal record: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parse error.
        reason: String,
    },
    /// The journal has no start record.
    #[error("journal {path} is empty or has no start record; nothing to resume")]
    NoStart {
        /// The file.
        path: PathBuf,
    },
}

/// Longest time a written step record may stay unsynced.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// An open journal being appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    synced_at: std::time::Instant,
}

impl Journal {
    /// Creates (or truncates) a journal at `path`.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn create(path: &Path) -> Result<Journal, JournalError> {
        let file = File::create(path).map_err(|source| JournalError::Io {
            path: path.into(),
            source,
        })?;
        Ok(Journal {
            path: path.into(),
            file,
            synced_at: std::time::Instant::now(),
        })
    }

    /// Opens an existing journal for appending.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn append(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Io {
                path: path.into(),
                source,
            })?;
        Ok(Journal {
            path: path.into(),
            file,
            synced_at: std::time::Instant::now(),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (one `write`, so it survives a process crash at once); `start` and
    /// `finished` records, and any record [`SYNC_EVERY`] after the last sync, are also synced to
    /// disk.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn write(&mut self, record: &Record) -> Result<(), JournalError> {
        let path = self.path.clone();
        let io = |source| JournalError::Io { path, source };
        // Records are plain data: serializing cannot fail.
        let mut line = serde_json::to_vec(record).expect("journal records serialize");
        line.push(b'\n');
        self.file.write_all(&line).map_err(io)?;
        let must = matches!(record, Record::Start { .. } | Record::Finished);
        if must {
            self.sync()?;
        } else if self.synced_at.elapsed() >= SYNC_EVERY {
            self.sync_soon()?;
        }
        Ok(())
    }

    /// Appends several records in one `write`; synced like [`Journal::write`].
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn write_many(&mut self, records: &[Record]) -> Result<(), JournalError> {
        let mut buf = Vec::new();
        for r in records {
            // Records are plain data: serializing cannot fail.
            serde_json::to_writer(&mut buf, r).expect("journal records serialize");
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        if self.synced_at.elapsed() >= SYNC_EVERY {
            self.sync_soon()?;
        }
        Ok(())
    }

    /// Starts a sync without waiting for it when running inside a Tokio runtime (the hot path
    /// of an apply must not wait for the disk), else syncs at once. A failed background sync is
    /// logged; the final [`Journal::sync`] of a run reports errors.
    fn sync_soon(&mut self) -> Result<(), JournalError> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return self.sync();
        };
        let file = self.file.try_clone().map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        let path = self.path.clone();
        rt.spawn_blocking(move || {
            if let Err(e) = file.sync_data() {
                tracing::warn!(path = %path.display(), error = %e, "journal sync failed");
            }
        });
        self.synced_at = std::time::Instant::now();
        Ok(())
    }

    /// Syncs everything written so far to disk.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.synced_at = std::time::Instant::now();
        Ok(())
    }
}

/// A journal read back.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalState {
    /// The start record's fields.
    pub plan_fingerprint: String,
    /// Layout at start.
    pub start_layout: Vec<SlotRange>,
    /// Seed.
    pub seed: String,
    /// All moves.
    pub moves: Vec<Move>,
    /// Method.
    pub method: String,
    /// Slots with a `done` record.
    pub done: BTreeSet<u16>,
    /// Slots with a step but no `done`.
    pub started: BTreeSet<u16>,
    /// Whether the apply finished.
    pub finished: bool,
}

impl JournalState {
    /// Moves without a `done` record, in plan order.
    pub fn pending(&self) -> Vec<Move> {
        self.moves
            .iter()
            .filter(|m| !self.done.contains(&m.slot))
            .cloned()
            .collect()
    }
}

/// Reads a journal. A torn last line (a crash mid-write) is ignored.
///
/// # Errors
/// [`JournalError`] when the file cannot be read, a line in the middle is corrupt, or there is
/// no start record.
pub fn read(path: &Path) -> Result<JournalState, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.into(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| JournalError::Io {
            path: path.into(),
            source,
        })?;
    let mut state: Option<JournalState> = None;
    let last = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if i + 1 == last => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.into(),
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
        };
        match (record, state.as_mut()) {
            (
                Record::Start {
                    plan_fingerprint,
                    start_layout,
                    seed,
                    moves,
                    method,
                },
                _,
            ) => {
                state = Some(JournalState {
                    plan_fingerprint,
                    start_layout,
                    seed,
                    moves,
                    method,
                    done: BTreeSet::new(),
                    started: BTreeSet::new(),
                    finished: false,
                });
            }
            (Record::Step { slot, .. }, Some(s)) => {
                s.started.insert(slot);
            }
            (Record::Done { slot }, Some(s)) => {
                s.started.remove(&slot);
                s.done.insert(slot);
            }
            (Record::Finished, Some(s)) => s.finished = true,
            (_, None) => return Err(JournalError::NoStart { path: path.into() }),
        }
    }
    state.ok_or_else(|| JournalError::NoStart { path: path.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(slot: u16) -> Move {
        Move {
            slot,
            from: "a".into(),
            to: "b".into(),
            keys: 1,
            bytes: 10,
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut j = Journal::create(&path).unwrap();
        j.write(&Record::Start {
            plan_fingerprint: "f".into(),
            start_layout: vec![SlotRange {
                start: 0,
                end: 16383,
                node: "a".into(),
            }],
            seed: "h:1".into(),
            moves: vec![mv(1), mv(2), mv(3)],
            method: "legacy".into(),
        })
        .unwrap();
        j.write(&Record::Step {
            slot: 1,
            step: "open".into(),
        })
        .unwrap();
        j.write(&Record::Done { slot: 1 }).unwrap();
        j.write(&Record::Step {
            slot: 2,
            step: "keys".into(),
        })
        .unwrap();
        drop(j);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"kind\":\"do")
            .unwrap();
        let s = read(&path).unwrap();
        assert_eq!(s.done.iter().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.started.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(
            s.pending().iter().map(|m| m.slot).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(!s.finished);
    }

    #[test]
    fn rejects_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, "{\"kind\":\"done\",\"slot\":1}\n{}\n").unwrap();
        assert!(matches!(read(&path), Err(JournalError::NoStart { .. })));
        std::fs::write(&path, "garbage\n{\"kind\":\"finished\"}\n").unwrap();
        assert!(matches!(
            read(&path),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(JournalError::Io { .. })
        ));
    }
}

//! The audit file: JSON lines appended in batches, each batch written with
//! one `write` and made durable with `fsync` before the next is taken;
//! rotation by size or by UTC date, by renaming the file aside (the one
//! writer thread rotates between batches, so no record is lost or split).
//! A file moved or deleted under it (logrotate, an operator) is noticed
//! before the next batch and a new one is created at the configured path.

use super::record::Record;
use super::Rotation;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The audit file as the writer thread holds it.
pub struct FileSink {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    /// (device, inode) of the open file, to notice it was moved or deleted.
    identity: (u64, u64),
    size: u64,
    /// The UTC date of the file's first record (or its last change, for a
    /// file found at start), for daily rotation.
    date: jiff::civil::Date,
}

impl FileSink {
    /// Opens (or creates) `path` for appending; an error names the file.
    pub fn open(path: &Path, rotation: Rotation) -> Result<FileSink, String> {
        let (file, identity, size, date) = open_append(path).map_err(|e| {
            format!(
                "audit log {}: cannot open it for appending: {e}",
                path.display()
            )
        })?;
        Ok(FileSink {
            path: path.to_path_buf(),
            rotation,
            file,
            identity,
            size,
            date,
        })
    }

    /// Appends `records` as JSON lines and syncs them to disk. On error the
    /// file is cut back to where it was, so a retry writes no record twice.
    pub fn write(&mut self, records: &[Record]) -> Result<(), String> {
        let mut text = String::new();
        for record in records {
            match serde_json::to_string(record) {
                Ok(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                Err(e) => log::error!("audit: cannot encode a {} record: {e}", record.kind()),
            }
        }
        self.write_text(text.as_bytes())
            .map_err(|e| format!("audit log {}: {e}", self.path.display()))
    }

    fn write_text(&mut self, text: &[u8]) -> io::Result<()> {
        self.reopen_if_moved()?;
        self.rotate_if_due(text.len() as u64)?;
        let before = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(text)
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // Leave no partial line behind; the batch is written again later.
            let _ = self.file.set_len(before);
            return Err(error);
        }
        if self.size == 0 {
            self.date = today();
        }
        self.size = before + text.len() as u64;
        Ok(())
    }

    fn reopen_if_moved(&mut self) -> io::Result<()> {
        let current = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if current != Some(self.identity) {
            log::warn!(
                "audit log {} was moved or deleted; writing a new file there",
                self.path.display()
            );
            self.reopen()?;
        }
        Ok(())
    }

    fn rotate_if_due(&mut self, adding: u64) -> io::Result<()> {
        if self.size == 0 {
            return Ok(());
        }
        let by_size = self
            .rotation
            .max_bytes
            .is_some_and(|max| self.size + adding > max);
        let by_date = self.rotation.daily && self.date != today();
        if !(by_size || by_date) {
            return Ok(());
        }
        self.file.sync_all()?;
        let aside = rotated_name(&self.path);
        std::fs::rename(&self.path, &aside)?;
        log::info!(
            "audit log {} rotated to {}",
            self.path.display(),
            aside.display()
        );
        self.reopen()
    }

    fn reopen(&mut self) -> io::Result<()> {
        let (file, identity, size, date) = open_append(&self.path)?;
        self.file = file;
        self.identity = identity;
        self.size = size;
        self.date = date;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<(File, (u64, u64), u64, jiff::civil::Date)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let meta = file.metadata()?;
    let date = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map_or_else(today, |t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
        });
    Ok((file, (meta.dev(), meta.ino()), meta.len(), date))
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

/// The name a file rotated now gets: `audit.jsonl` ->
/// `audit.20261205T131500.123456Z.jsonl` (UTC, so names sort in time
/// order), `-2`, `-3` ... when taken.
fn rotated_name(path: &Path) -> PathBuf {
    let (stem, ext) = stem_and_extension(path);
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let stamp = now.strftime("%Y%m%dT%H%M%S%.6fZ").to_string();
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let candidate = dir.join(format!("{stem}.{stamp}{suffix}{ext}"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

fn stem_and_extension(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    (stem, ext)
}

/// Every audit file of `path`: the rotated ones, oldest first, then `path`
/// itself (when it exists).
pub fn all_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (stem, ext) = stem_and_extension(path);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!("{stem}.");
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|candidate| {
            let name = candidate
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let middle = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&ext));
            // `<date>T<time>Z[-n]`: starts with the 8 digits of a date.
            middle.is_some_and(|m| m.len() > 8 && m[..8].bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    rotated.sort();
    if path.exists() {
        rotated.push(path.to_path_buf());
    }
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{Event, Outcome, SourceDisabled};

    fn record(n: usize) -> Record {
        Record::now(
            Outcome::Success,
            None,
            Event::SourceDisabled(SourceDisabled {
                source: format!("s{n}"),
            }),
        )
    }

    fn lines(files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn rotation_by_size_keeps_every_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let rotation = Rotation {
            max_bytes: Some(1000),
            daily: false,
        };
        let mut sink = FileSink::open(&path, rotation).unwrap();
        for batch in 0..50 {
            let records: Vec<Record> = (0..3).map(|i| record(batch * 3 + i)).collect();
            sink.write(&records).unwrap();
        }
        let files = all_files(&path).unwrap();
        assert!(files.len() > 5, "{files:?}");
        let sources: Vec<String> = lines(&files)
            .iter()
            .map(|l| serde_json::from_str::<Record>(l).unwrap())
            .map(|r| match r.event {
                Event::SourceDisabled(s) => s.source,
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<String> = (0..150).map(|n| format!("s{n}")).collect();
        assert_eq!(sources, expected);
    }

    #[test]
    fn a_deleted_file_is_created_again_before_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = FileSink::open(&path, Rotation::default()).unwrap();
        sink.write(&[record(1)]).unwrap();
        std::fs::remove_file(&path).unwrap();
        sink.write(&[record(2)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"s2\""), "{text}");
    }
}

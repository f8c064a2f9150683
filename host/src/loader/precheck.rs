//! Checks a plugin file before it is handed to the dynamic loader: a truncated
//! shared object kills the process with SIGBUS inside `dlopen`, and a file
//! other users can write is someone else's code running as pylantir.

use object::read::ReadCache;
use object::{Architecture, FileKind, Object, ObjectKind, ObjectSegment};
use std::fs::File;
use std::path::Path;

/// Checks that `path` is a complete shared library for this platform and,
/// unless `allow_insecure`, that neither it nor its directory is writable by
/// other users. The error is a one-line reason.
pub fn precheck(path: &Path, allow_insecure: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if !allow_insecure {
        check_permissions(path, &meta)?;
    }
    check_shared_library(path, meta.len())
}

fn check_shared_library(path: &Path, len: u64) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let data = ReadCache::new(file);
    let kind = FileKind::parse(&data)
        .map_err(|_| "not a shared library (unknown file format)".to_string())?;
    if !native_kind(kind) {
        return Err(format!(
            "not a shared library for this platform (file format {kind:?})"
        ));
    }
    let object = object::File::parse(&data)
        .map_err(|e| format!("truncated or damaged shared library ({len} bytes: {e})"))?;
    if let Some(host) = host_architecture() {
        if object.architecture() != host {
            return Err(format!(
                "built for {:?}, this host is {host:?}",
                object.architecture()
            ));
        }
    }
    if object.kind() != ObjectKind::Dynamic {
        return Err(format!(
            "not a shared library (object kind {:?})",
            object.kind()
        ));
    }
    let needed = object
        .segments()
        .map(|segment| {
            let (offset, size) = segment.file_range();
            offset.saturating_add(size)
        })
        .max()
        .unwrap_or(0);
    if needed > len {
        return Err(format!(
            "truncated shared library: {len} bytes, its segments need {needed}"
        ));
    }
    Ok(())
}

/// Whether files of `kind` are what this platform's loader opens.
fn native_kind(kind: FileKind) -> bool {
    if cfg!(target_os = "macos") {
        matches!(
            kind,
            FileKind::MachO64 | FileKind::MachO32 | FileKind::MachOFat64 | FileKind::MachOFat32
        )
    } else if cfg!(windows) {
        matches!(kind, FileKind::Pe64 | FileKind::Pe32)
    } else {
        matches!(kind, FileKind::Elf64 | FileKind::Elf32)
    }
}

/// The architecture this binary runs on, when it is one we can name.
fn host_architecture() -> Option<Architecture> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Architecture::X86_64),
        "aarch64" => Some(Architecture::Aarch64),
        "x86" => Some(Architecture::I386),
        "riscv64" => Some(Architecture::Riscv64),
        _ => None,
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let writable = |mode: u32| mode & 0o022 != 0;
    let mode = meta.permissions().mode();
    if writable(mode) {
        return Err(format!(
            "the file is writable by other users (mode {:04o}); run `chmod go-w` on it or pass --allow-insecure-plugins",
            mode & 0o7777
        ));
    }
    let mut dirs = vec![path.parent().map(Path::to_path_buf)];
    if let Ok(real) = std::fs::canonicalize(path) {
        dirs.push(real.parent().map(Path::to_path_buf));
    }
    for dir in dirs.into_iter().flatten() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".").to_path_buf()
        } else {
            dir
        };
        let mode = std::fs::metadata(&dir)
            .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if writable(mode) {
            return Err(format!(
                "directory {} is writable by other users (mode {:04o}); run `chmod go-w` on it or pass --allow-insecure-plugins",
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut file = File::create(&path).unwrap();
        file.write_all(bytes).unwrap();
        path
    }

    #[test]
    fn a_text_file_is_not_a_shared_library() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "libpylantir_x.so", b"hello, I am text\n");
        assert_eq!(
            precheck(&path, true),
            Err("not a shared library (unknown file format)".to_string())
        );
    }

    #[test]
    fn an_empty_file_is_not_a_shared_library() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "libpylantir_x.so", b"");
        assert!(precheck(&path, true)
            .unwrap_err()
            .starts_with("not a shared library"));
    }

    #[test]
    fn a_directory_is_not_a_plugin() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            precheck(dir.path(), true),
            Err("not a regular file".to_string())
        );
    }
}

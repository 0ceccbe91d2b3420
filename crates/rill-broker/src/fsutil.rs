//! Small file-system helpers: atomic file replacement.

use std::io::Write;
use std::path::Path;

use crate::error::{BrokerError, Result};

/// Replaces `path` with `bytes` atomically: write a temp file, fsync it, rename it over
/// `path`, fsync the directory.
///
/// # Errors
/// Any I/O error on the way; `path` is then either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |op: &'static str| {
        let path = path.to_path_buf();
        move |source| BrokerError::Io { op, path, source }
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io("create temp file"))?;
    f.write_all(bytes).map_err(io("write temp file"))?;
    f.sync_all().map_err(io("fsync temp file"))?;
    std::fs::rename(&tmp, path).map_err(io("rename temp file"))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory"))?;
    }
    Ok(())
}

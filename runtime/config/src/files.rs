//! Reading the files a pipeline names (the pipeline itself, `file:` secrets) with a size limit,
//! and only when they are regular files.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest pipeline file read: real ones are a few KiB.
pub const MAX_PIPELINE_FILE: u64 = 1 << 20;
/// Largest `file:` secret read: a PEM private key with its certificate chain fits many times.
pub const MAX_SECRET_FILE: u64 = 64 << 10;

/// Why a file was not read. The messages name no path: callers say which file it was.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A FIFO, device, socket or directory: reading could block forever or never end
    /// (`/dev/zero`).
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than the limit.
    #[error("it is larger than {} KiB", .0 >> 10)]
    TooLarge(u64),
    /// The content is not UTF-8 text.
    #[error("it is not UTF-8 text")]
    NotText,
}

/// Reads a regular file of at most `limit` bytes.
///
/// The path is checked before it is opened, since opening a FIFO blocks until a writer
/// appears, and the open handle is checked again so a file swapped in between is caught too;
/// the read stops one byte past the limit whatever the file claims its size to be.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    regular(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    regular(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// [`read_limited`], as UTF-8 text.
pub fn read_text_limited(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_limited(path, limit)?).map_err(|_| ReadError::NotText)
}

fn regular(metadata: &std::fs::Metadata) -> Result<(), ReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(if kind.is_dir() {
        "a directory"
    } else {
        special_kind(&kind)
    }))
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_oversized_files_are_refused() {
        let error = read_limited(Path::new("/dev/zero"), 1 << 10).map(|b| b.len());
        assert!(
            matches!(error, Err(ReadError::NotRegular("a character device"))),
            "{error:?}"
        );
        let dir = std::env::temp_dir().join(format!("junction-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        assert!(matches!(
            read_limited(&dir, 10),
            Err(ReadError::NotRegular("a directory"))
        ));
        let big = dir.join("big");
        std::fs::write(&big, [b'x'; 11]).expect("write");
        assert!(matches!(
            read_limited(&big, 10),
            Err(ReadError::TooLarge(10))
        ));
        assert_eq!(read_limited(&big, 11).map(|b| b.len()).ok(), Some(11));
        std::fs::write(&big, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            read_text_limited(&big, 10),
            Err(ReadError::NotText)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

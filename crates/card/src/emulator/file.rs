//! The card file: reading it (refusing anything damaged or foreign, never touching it) and
//! writing it atomically (temporary file in the same folder, fsync, rename, fsync of the
//! folder; mode 0600).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::failpoint;
use super::state::{FORMAT, State, VERSION};
use crate::error::CardFileError;

/// A card file is small; anything larger is not one.
const MAX_FILE: u64 = 1 << 20;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CardFileError + '_ {
    move |source| CardFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Only the header, to tell a foreign or newer file from a damaged one.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Reads and validates a card file.
pub(crate) fn read(path: &Path) -> Result<State, CardFileError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut bytes = Zeroizing::new(Vec::new());
    Read::by_ref(&mut file)
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    let corrupt = |reason: String| CardFileError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_FILE {
        return Err(corrupt("larger than any card file".into()));
    }
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_eof() {
            corrupt("the file ends too early".into())
        } else if bytes.first() == Some(&b'{') {
            corrupt(format!("not valid JSON: {e}"))
        } else {
            CardFileError::Foreign(path.to_owned())
        }
    })?;
    if header.format.as_ref().and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(CardFileError::Foreign(path.to_owned()));
    }
    match header.version.as_ref().and_then(|v| v.as_u64()) {
        Some(VERSION) => {}
        Some(version) if version > VERSION => {
            return Err(CardFileError::TooNew {
                path: path.to_owned(),
                version,
            });
        }
        _ => return Err(corrupt("no valid format version".into())),
    }
    let state: State =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("bad content: {e}")))?;
    state.validate().map_err(corrupt)?;
    Ok(state)
}

/// Writes `state` to `path` atomically. With `create_new`, fails with
/// [`CardFileError::Exists`] if the path exists (and never replaces it).
pub(crate) fn write(path: &Path, state: &State, create_new: bool) -> Result<(), CardFileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| CardFileError::Io {
        path: path.to_owned(),
        source: std::io::Error::other("the path names no file"),
    })?;
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CardFileError::Io {
        path: path.to_owned(),
        source: std::io::Error::other("no randomness for a temporary file name"),
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(nonce)
    ));
    let result = write_tmp(&tmp, state).and_then(|()| {
        failpoint::hit(failpoint::FILE_BEFORE_RENAME);
        if create_new {
            fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    CardFileError::Exists(path.to_owned())
                } else {
                    io(path)(e)
                }
            })?;
            fs::remove_file(&tmp).map_err(io(&tmp))
        } else {
            fs::rename(&tmp, path).map_err(io(path))
        }
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))
}

fn write_tmp(tmp: &Path, state: &State) -> Result<(), CardFileError> {
    // Room enough that the buffer does not reallocate (and leave copies behind) on the way.
    let mut bytes = Zeroizing::new(Vec::with_capacity(64 * 1024));
    serde_json::to_writer_pretty(&mut *bytes, state).map_err(|e| CardFileError::Io {
        path: tmp.to_owned(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp).map_err(io(tmp))?;
    file.write_all(&bytes).map_err(io(tmp))?;
    file.sync_all().map_err(io(tmp))
}

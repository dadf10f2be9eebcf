//! Reading input files with a size limit.
//!
//! Everything dtrplay reads as input goes through here, so no input file,
//! however large (or endless, like a device), can take more memory than the
//! limit. It sits below every other module that reads files.

use std::io::Read;
use std::path::Path;

/// The largest file dtrplay reads as input (playbooks, inventories,
/// variable files, `-e @file`, template and `copy` sources): 64 MiB. Reading
/// stops just past it, so a huge file or a device like `/dev/zero` costs at
/// most this much memory before the error.
pub const MAX_INPUT_FILE: u64 = 64 * 1024 * 1024;

/// Reads a whole input file, at most [`MAX_INPUT_FILE`] bytes; a larger one
/// is an `InvalidData` error that says so.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, the limit for input files",
                MAX_INPUT_FILE / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

//! Reading files with a size limit checked while reading, never after: a path that names
//! `/dev/zero`, a FIFO or a runaway file fails with a one-line error instead of exhausting
//! memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The whole file at `path`, or an error if it holds more than `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::Other(format!(
            "{}: larger than the {max}-byte limit",
            path.display()
        )));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_at_the_limit() {
        let e = read_limited(Path::new("/dev/zero"), 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero: larger than the 65536-byte limit"),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(read_limited(&p, 3).unwrap(), b"abc");
        assert!(read_limited(&p, 2).is_err());
    }
}

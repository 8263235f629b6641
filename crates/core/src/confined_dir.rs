//! Files written inside one opened directory and never through a link (`--write-prompts`).
//!
//! The directory is opened once; every subdirectory and file below it is opened or created
//! relative to that descriptor with `O_NOFOLLOW`. A file is written under a fresh temporary
//! name (`O_CREAT | O_EXCL`, mode 0600) and renamed over its name (`renameat`), which replaces
//! whatever has that name, a planted symlink included, without following it; a subdirectory
//! that is a symlink is refused. Names are single components, so nothing can climb out with
//! `..` or `/`.
//!
//! The directory itself is the path the caller was given (a path the user typed): it is created
//! if missing and may be a symlink, followed once when it is opened, as the user's own path.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// An opened directory and the path it was opened as (for messages).
#[derive(Debug)]
pub struct ConfinedDir {
    /// Every name below is resolved from this descriptor: a rename or a symlink planted on the
    /// path after opening changes nothing.
    fd: OwnedFd,
    path: PathBuf,
}

/// Distinguishes temporary names within this process.
static NEXT_TEMP: AtomicU32 = AtomicU32::new(0);

impl ConfinedDir {
    /// Opens the directory at `path`, creating it (and its parents) if missing.
    pub fn create(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(path, e.into()))?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path of this directory, as opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the subdirectory `name` (created mode 0700 if missing); a symlink there, or
    /// anything but a directory, is refused.
    pub fn subdir(&self, name: &str) -> Result<Self> {
        let path = self.path_of(name)?;
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::io(&path, e.into())),
        }
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => Error::Other(format!(
                "{}: a symbolic link or not a directory; nothing is written through it",
                path.display()
            )),
            e => Error::io(&path, e.into()),
        })?;
        Ok(Self { fd, path })
    }

    /// Writes `body` as the file `name` (mode 0600), replacing what has that name (a file or a
    /// symlink, never its target). Returns the file's path.
    pub fn write_private(&self, name: &str, body: &[u8]) -> Result<PathBuf> {
        let path = self.path_of(name)?;
        let (tmp, fd) = self.create_temp(name, &path)?;
        let mut f = std::fs::File::from(fd);
        if let Err(e) = f.write_all(body).and_then(|()| f.flush()) {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
            return Err(Error::io(&path, e));
        }
        drop(f);
        if let Err(e) = rustix::fs::renameat(&self.fd, &tmp, &self.fd, name) {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
            return Err(match e {
                Errno::ISDIR => Error::Other(format!(
                    "{}: a directory has this name; not replaced",
                    path.display()
                )),
                e => Error::io(&path, e.into()),
            });
        }
        Ok(path)
    }

    /// A new file `.NAME.PID-N.tmp` (never an existing one: `O_EXCL`), open for writing.
    fn create_temp(&self, name: &str, path: &Path) -> Result<(String, OwnedFd)> {
        let mut last = Errno::EXIST;
        for _ in 0..100 {
            let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
            let tmp = format!(".{name}.{}-{n}.tmp", std::process::id());
            match rustix::fs::openat(
                &self.fd,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => return Ok((tmp, fd)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        Err(Error::io(path, last.into()))
    }

    /// `self.path/name`, if `name` is one plain component.
    fn path_of(&self, name: &str) -> Result<PathBuf> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::Other(format!(
                "{}: `{}` is not a file name",
                self.path.display(),
                crate::escape::Escaped(name)
            )));
        }
        Ok(self.path.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        let dir = ConfinedDir::create(&d.path().join("out")).unwrap();
        symlink(&outside, d.path().join("out/a.yaml")).unwrap();
        symlink(d.path().join("missing"), d.path().join("out/b.yaml")).unwrap();
        for name in ["a.yaml", "b.yaml", "c.yaml"] {
            let p = dir.write_private(name, b"new").unwrap();
            let m = std::fs::symlink_metadata(&p).unwrap();
            assert!(m.file_type().is_file(), "{name}");
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{name}");
            assert_eq!(std::fs::read(&p).unwrap(), b"new");
        }
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert!(!d.path().join("missing").exists());
        let names: Vec<String> = std::fs::read_dir(d.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_symlinked_subdirectory_is_refused_and_a_real_one_is_used() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let dir = ConfinedDir::create(&d.path().join("out")).unwrap();
        symlink(&outside, d.path().join("out/texts")).unwrap();
        let e = dir.subdir("texts").unwrap_err().to_string();
        assert!(e.contains("out/texts: a symbolic link"), "{e}");
        assert_eq!(e.lines().count(), 1);
        std::fs::write(d.path().join("out/file"), "").unwrap();
        let e = dir.subdir("file").unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        let sub = dir.subdir("real").unwrap();
        sub.write_private("x.txt", b"x").unwrap();
        assert_eq!(
            std::fs::read(d.path().join("out/real/x.txt")).unwrap(),
            b"x"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn names_are_one_component_and_a_directory_is_not_replaced() {
        let d = tempfile::tempdir().unwrap();
        let dir = ConfinedDir::create(d.path()).unwrap();
        for bad in ["", ".", "..", "../x", "a/b", "a\0b"] {
            let e = dir.write_private(bad, b"x").unwrap_err().to_string();
            assert!(e.contains("is not a file name"), "{bad:?}: {e}");
        }
        std::fs::create_dir(d.path().join("taken")).unwrap();
        let e = dir.write_private("taken", b"x").unwrap_err().to_string();
        assert!(e.contains("taken: a directory has this name"), "{e}");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "the temporary file is removed"
        );
    }
}

//! Files and folders the commands write: atomic writes, and checks that an output location can
//! be created and written before any work is spent on what goes there.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename, so a reader
/// (or a kill) never sees half a file. The temporary file is removed on every failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temporary_beside(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// `DIR/.NAME.PID.tmp` for `DIR/NAME`: hidden, and unique to this process.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Why an output location cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{flag} {}: is a file, not a folder; give a folder (created if missing)", path.display())]
    NotAFolder { flag: String, path: PathBuf },
    #[error("{flag} {}: is a folder; give a file name", path.display())]
    IsAFolder { flag: String, path: PathBuf },
    #[error("{flag} {}: cannot create this folder ({error}); give a folder you can write to", path.display())]
    Create {
        flag: String,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{flag} {}: cannot write into this folder ({error}); give a folder you can write to", path.display())]
    Write {
        flag: String,
        path: PathBuf,
        error: io::Error,
    },
}

/// Creates the folder `dir` (and its parents) if missing and checks that files can be written
/// into it, by writing and removing a probe file. `flag` names the option the folder came from,
/// for the error.
pub fn prepare_dir(flag: &str, dir: &Path) -> Result<(), OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::NotAFolder {
            flag: flag.into(),
            path: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|error| OutputError::Create {
        flag: flag.into(),
        path: dir.to_path_buf(),
        error,
    })?;
    probe(dir).map_err(|error| OutputError::Write {
        flag: flag.into(),
        path: dir.to_path_buf(),
        error,
    })
}

/// Checks that the file `path` can be written: its folder is created if missing and must take a
/// probe file; `path` itself must not be a folder.
pub fn prepare_file(flag: &str, path: &Path) -> Result<(), OutputError> {
    if path.is_dir() {
        return Err(OutputError::IsAFolder {
            flag: flag.into(),
            path: path.to_path_buf(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    prepare_dir(flag, dir).map_err(|e| match e {
        // Name the file the user gave, not only its folder.
        OutputError::Create { error, .. } => OutputError::Create {
            flag: flag.into(),
            path: path.to_path_buf(),
            error,
        },
        OutputError::Write { error, .. } => OutputError::Write {
            flag: flag.into(),
            path: path.to_path_buf(),
            error,
        },
        // A file where the folder should be: the folder cannot be created.
        OutputError::NotAFolder { path: dir, .. } => OutputError::Create {
            flag: flag.into(),
            path: path.to_path_buf(),
            error: io::Error::other(format!("{} is a file, not a folder", dir.display())),
        },
        other => other,
    })
}

/// Writes and removes a hidden probe file in `dir`.
fn probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(format!(".cimle-probe.{}", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(b"probe"));
    let _ = std::fs::remove_file(&path);
    written
}

/// A folder this process created, removed again (with everything in it) unless
/// [`CreatedDir::keep`] is called: a command that fails leaves nothing behind.
#[derive(Debug)]
pub struct CreatedDir {
    path: Option<PathBuf>,
}

impl CreatedDir {
    /// Creates `dir` for `flag` (see [`prepare_dir`]); only a folder that did not exist before
    /// is removed on drop.
    pub fn create(flag: &str, dir: &Path) -> Result<Self, OutputError> {
        let existed = dir.exists();
        prepare_dir(flag, dir)?;
        Ok(Self {
            path: (!existed).then(|| dir.to_path_buf()),
        })
    }

    /// Keeps the folder: the work succeeded.
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for CreatedDir {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cimle-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let dir = scratch("atomic");
        let path = dir.join("sub").join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        // Writing onto a folder fails, and the temporary file goes too.
        std::fs::create_dir_all(dir.join("d")).unwrap();
        assert!(write_atomic(&dir.join("d"), b"x").is_err());
        assert!(!temporary_beside(&dir.join("d")).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prepare_checks_kinds_and_creates_folders() {
        let dir = scratch("prepare");
        prepare_dir("--out", &dir.join("a/b")).unwrap();
        assert!(dir.join("a/b").is_dir());
        assert_eq!(std::fs::read_dir(dir.join("a/b")).unwrap().count(), 0);
        std::fs::write(dir.join("file"), b"x").unwrap();
        let err = prepare_dir("--out", &dir.join("file")).unwrap_err();
        assert!(err.to_string().starts_with("--out "), "{err}");
        assert!(err.to_string().contains("is a file"), "{err}");
        let err = prepare_file("--out", &dir.join("a")).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        prepare_file("--out", &dir.join("c/grid.png")).unwrap();
        assert!(dir.join("c").is_dir() && !dir.join("c/grid.png").exists());
        // A folder under a file cannot be created.
        let err = prepare_file("--out", &dir.join("file/grid.png")).unwrap_err();
        assert!(err.to_string().contains("cannot create"), "{err}");
        assert!(err.to_string().contains("file/grid.png"), "{err}");
        assert!(
            err.to_string().contains("file is a file, not a folder"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_created_folder_goes_unless_kept() {
        let dir = scratch("created");
        {
            let _created = CreatedDir::create("--out", &dir.join("x")).unwrap();
            std::fs::write(dir.join("x/f"), b"1").unwrap();
        }
        assert!(!dir.join("x").exists());
        CreatedDir::create("--out", &dir.join("y")).unwrap().keep();
        assert!(dir.join("y").is_dir());
        // A folder that existed before is never removed.
        drop(CreatedDir::create("--out", &dir.join("y")).unwrap());
        assert!(dir.join("y").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

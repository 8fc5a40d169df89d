//! Opening an rpm database: format detection (sqlite, or the BDB / ndb formats we refuse) and
//! reading every `Packages` row of an `rpmdb.sqlite` without ever writing next to it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{Error, Package};

/// The on-disk formats rpm has used for its package database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbFormat {
    /// `rpmdb.sqlite` (rpm ≥ 4.16: Fedora 33+, RHEL 9+).
    Sqlite,
    /// Berkeley DB `Packages` (RHEL 8 and older).
    BerkeleyDb,
    /// rpm's own `Packages.db` (SUSE).
    Ndb,
}

/// How to treat bad rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Skip a row whose header cannot be decoded (recording why) instead of failing.
    pub keep_going: bool,
}

/// A row that was skipped under `keep_going`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    pub hnum: i64,
    pub reason: String,
}

/// Everything read from one database.
#[derive(Clone, Debug)]
pub struct Rpmdb {
    pub path: PathBuf,
    /// In row order (`hnum`).
    pub packages: Vec<Package>,
    pub skipped: Vec<SkippedRow>,
}

/// File names of each format inside an rpm database directory, in the order we look for them.
pub const DB_FILES: [(&str, DbFormat); 3] = [
    ("rpmdb.sqlite", DbFormat::Sqlite),
    ("Packages", DbFormat::BerkeleyDb),
    ("Packages.db", DbFormat::Ndb),
];

/// Finds the database file in an rpm database directory (`/usr/lib/sysimage/rpm`).
pub fn find_in_dir(dir: &Path) -> Option<(PathBuf, DbFormat)> {
    DB_FILES
        .iter()
        .map(|(name, format)| (dir.join(name), *format))
        .find(|(path, _)| path.is_file())
}

/// Tells the format from the file's first bytes, whatever it is called.
pub fn detect_format(path: &Path) -> Result<Option<DbFormat>, Error> {
    let mut head = [0u8; 16];
    let mut file = File::open(path).map_err(|err| Error::Io {
        path: path.to_owned(),
        err,
    })?;
    let n = file.read(&mut head).map_err(|err| Error::Io {
        path: path.to_owned(),
        err,
    })?;
    let head = &head[..n];
    if head.starts_with(b"SQLite format 3\0") {
        return Ok(Some(DbFormat::Sqlite));
    }
    if head.starts_with(b"RpmP") {
        return Ok(Some(DbFormat::Ndb));
    }
    // BDB keeps its magic at offset 12, in the byte order of the machine that wrote it.
    const BDB_MAGICS: [u32; 2] = [0x0006_1561, 0x0005_3162]; // hash, btree
    if let Some(m) = head.get(12..16) {
        let le = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        let be = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        if BDB_MAGICS.contains(&le) || BDB_MAGICS.contains(&be) {
            return Ok(Some(DbFormat::BerkeleyDb));
        }
    }
    Ok(None)
}

/// Reads an rpm database file. Only sqlite is supported; BDB and ndb are refused by name.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Rpmdb, Error> {
    match detect_format(path)? {
        Some(DbFormat::Sqlite) => read_sqlite(path, opts),
        Some(DbFormat::BerkeleyDb) => Err(unsupported(path, "Berkeley DB (rpm < 4.16)")),
        Some(DbFormat::Ndb) => Err(unsupported(path, "ndb")),
        None => Err(unsupported(path, "not an rpm database")),
    }
}

/// Reads the database of an rpm database directory (`/usr/lib/sysimage/rpm`).
pub fn read_dir(dir: &Path, opts: &ReadOptions) -> Result<Rpmdb, Error> {
    match find_in_dir(dir) {
        Some((path, _)) => read(&path, opts),
        None => Err(Error::NotFound(dir.to_owned())),
    }
}

fn unsupported(path: &Path, format: &str) -> Error {
    Error::UnsupportedFormat {
        path: path.to_owned(),
        format: format.to_owned(),
    }
}

/// An open database, and the private copy it was opened from when it had to be copied.
struct Opened {
    conn: Connection,
    _copy: Option<tempfile::TempDir>,
}

/// Opens without ever creating or changing a file next to the database (it may sit in a
/// read-only image or in the rootfs being scanned). With no WAL content to replay,
/// `immutable=1` reads the main file as is. A WAL with committed rows must be replayed, which
/// even a read-only connection does through a `-shm` file it creates beside the database: so
/// the database and its WAL (a regular file, never followed through a link) are copied into a
/// private temporary directory and opened there.
fn open(path: &Path) -> Result<Opened, Error> {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_has_data = std::fs::symlink_metadata(&wal)
        .map(|m| m.is_file() && m.len() > 0)
        .unwrap_or(false);
    let io_err = |path: &Path, err| Error::Io {
        path: path.to_owned(),
        err,
    };
    let (target, mode, copy) = if wal_has_data {
        let dir = tempfile::Builder::new()
            .prefix(".rechunk-rpmdb-")
            .tempdir()
            .map_err(|e| io_err(path, e))?;
        let main = dir.path().join("rpmdb.sqlite");
        copy_regular(path, &main).map_err(|e| io_err(path, e))?;
        copy_regular(&wal, &dir.path().join("rpmdb.sqlite-wal")).map_err(|e| io_err(&wal, e))?;
        (main, "mode=ro", Some(dir))
    } else {
        (path.to_owned(), "immutable=1", None)
    };
    let uri = format!("file:{}?{mode}", uri_escape(&target));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(&uri, flags).map_err(|err| Error::Sqlite {
        path: path.to_owned(),
        err,
    })?;
    Ok(Opened { conn, _copy: copy })
}

/// Copies the regular file `from` (a final symlink is refused) to a new file `to`.
fn copy_regular(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = rechunk_fsio::open_regular(from, rechunk_fsio::Links::NoFollow)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    Ok(())
}

/// Percent-encodes what a SQLite URI path may not hold literally.
fn uri_escape(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_sqlite(path: &Path, opts: &ReadOptions) -> Result<Rpmdb, Error> {
    let opened = open(path)?;
    let conn = &opened.conn;
    let sql_err = |err| Error::Sqlite {
        path: path.to_owned(),
        err,
    };
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql_err)?;
    let mut rows = stmt.query([]).map_err(sql_err)?;
    let mut db = Rpmdb {
        path: path.to_owned(),
        packages: Vec::new(),
        skipped: Vec::new(),
    };
    while let Some(row) = rows.next().map_err(sql_err)? {
        let hnum: i64 = row.get(0).map_err(sql_err)?;
        let blob = row.get_ref(1).map_err(sql_err)?;
        let decoded = match blob.as_blob() {
            Ok(bytes) => Package::from_header(hnum, bytes).map_err(|e| e.0),
            Err(_) => Err("the blob column is not a BLOB".to_owned()),
        };
        match decoded {
            Ok(pkg) => db.packages.push(pkg),
            // Reported by the caller, with the other warnings.
            Err(reason) if opts.keep_going => db.skipped.push(SkippedRow { hnum, reason }),
            Err(reason) => {
                return Err(Error::CorruptRow {
                    path: path.to_owned(),
                    hnum,
                    reason,
                })
            }
        }
    }
    Ok(db)
}

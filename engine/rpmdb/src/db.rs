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

/// Opens without ever creating `-wal`/`-shm` files next to the database (it may sit in a
/// read-only image or in the rootfs being scanned). With no WAL content to replay,
/// `immutable=1` reads the main file as is; otherwise a read-only open replays the WAL.
fn open(path: &Path) -> Result<Connection, Error> {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_has_data = wal.metadata().map(|m| m.len() > 0).unwrap_or(false);
    let mode = if wal_has_data {
        "mode=ro"
    } else {
        "immutable=1"
    };
    let uri = format!("file:{}?{mode}", uri_escape(path));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    Connection::open_with_flags(&uri, flags).map_err(|err| Error::Sqlite {
        path: path.to_owned(),
        err,
    })
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
    let conn = open(path)?;
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

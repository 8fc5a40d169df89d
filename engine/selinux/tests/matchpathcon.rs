//! Our `file_contexts` matching against libselinux's own: every path of `data/paths.tsv`
//! (Fedora paths and hand-picked corner cases, see `data/SOURCE.md`) looked up in the real
//! policy that Debian's `selinux-policy-default` compiles at install time (scripts/test.sh
//! installs it with `selinux-utils`), by `matchpathcon` and by [`FileContexts::lookup`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rechunk_selinux::{selinux_type, FileContexts, FileKind, PolicyFiles};

/// The host's installed policy, copied as text only (no `.bin`, which matchpathcon would
/// otherwise prefer) into a scratch directory both lookups read.
fn host_policy(scratch: &Path) -> (PathBuf, PolicyFiles) {
    let config = std::fs::read("/etc/selinux/config")
        .expect("/etc/selinux/config: install selinux-policy-default (scripts/test.sh does)");
    let kind = selinux_type(&config).expect("SELINUXTYPE in /etc/selinux/config");
    let dir = Path::new("/etc/selinux").join(kind).join("contexts/files");
    let read = |name: &str| {
        let text = std::fs::read(dir.join(name)).ok()?;
        std::fs::write(scratch.join(name), &text).unwrap();
        Some(text)
    };
    let [fc, homedirs, local, subs, subs_dist] = PolicyFiles::NAMES;
    let files = PolicyFiles {
        file_contexts: read(fc).unwrap_or_else(|| panic!("{}/{fc} missing", dir.display())),
        homedirs: read(homedirs),
        local: read(local),
        subs: read(subs),
        subs_dist: read(subs_dist),
    };
    (scratch.join(fc), files)
}

fn sample() -> Vec<(FileKind, &'static str, Vec<u8>)> {
    let text = include_bytes!("data/paths.tsv");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(|line| {
            let tab = line
                .iter()
                .position(|&b| b == b'\t')
                .expect("type<TAB>path");
            let (kind, arg) = match &line[..tab] {
                b"file" => (FileKind::Regular, "file"),
                b"dir" => (FileKind::Directory, "dir"),
                b"lnk" => (FileKind::Symlink, "lnk"),
                other => panic!("unknown type {:?}", String::from_utf8_lossy(other)),
            };
            (kind, arg, line[tab + 1..].to_vec())
        })
        .collect()
}

/// `matchpathcon -N -n -m TYPE -f FILE_CONTEXTS PATH...`: one raw context per path, in order.
fn matchpathcon(file_contexts: &Path, mode: &str, paths: &[&[u8]]) -> Vec<String> {
    let out = Command::new("matchpathcon")
        .args(["-N", "-n", "-m", mode, "-f"])
        .arg(file_contexts)
        .args(paths.iter().map(|p| OsStr::from_bytes(p)))
        .output()
        .expect("running matchpathcon (Debian package selinux-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), paths.len(), "one line per path");
    lines
}

#[test]
fn lookups_equal_matchpathcon_on_a_real_policy() {
    let scratch = tempfile::tempdir().unwrap();
    let (fc_path, files) = host_policy(scratch.path());
    let contexts = FileContexts::new(&files).unwrap();
    assert!(
        contexts.len() > 1000,
        "a real policy has thousands of rules"
    );

    let sample = sample();
    assert!(sample.len() >= 1000, "{} paths", sample.len());
    let mut differences = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for mode in ["file", "dir", "lnk"] {
        let group: Vec<&(FileKind, &str, Vec<u8>)> =
            sample.iter().filter(|(_, m, _)| *m == mode).collect();
        for chunk in group.chunks(500) {
            let paths: Vec<&[u8]> = chunk.iter().map(|(_, _, p)| p.as_slice()).collect();
            let expected = matchpathcon(&fc_path, mode, &paths);
            for ((kind, _, path), want) in chunk.iter().zip(expected) {
                let got = contexts.lookup(path, *kind).unwrap_or("<<none>>");
                distinct.insert(want.clone());
                if got != want {
                    differences.push(format!(
                        "{mode} {}: matchpathcon {want}, ours {got}",
                        String::from_utf8_lossy(path)
                    ));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The sample exercises many rules, not one catch-all.
    assert!(
        distinct.len() >= 30,
        "only {} distinct contexts",
        distinct.len()
    );
}

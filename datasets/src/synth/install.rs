//! Installing packages with the real `rpm` (Debian's rpm 4.18 writes sqlite rpmdbs) into a
//! root's `/usr/lib/sysimage/rpm`, as an image build does. The test fixture installs its
//! hand-made packages through [`rpm_install`] too, so both build trees one way.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Where the database goes inside the root (Fedora ≥ 36).
pub const DBPATH: &str = "/usr/lib/sysimage/rpm";

/// `rpm -i` options every install uses: no dependency checks, scriptlets, arch checks or
/// signature/digest checks (the packages are made here; rpm still checks every file's digest
/// while unpacking).
pub const INSTALL_FLAGS: [&str; 6] = [
    "-i",
    "--nodeps",
    "--noscripts",
    "--ignorearch",
    "--nosignature",
    "--nodigest",
];

/// How a synthesized tree is installed, on top of [`INSTALL_FLAGS`]: progress lines, no host
/// plugins, and the macros that decide which files land on disk pinned to rpm's defaults (a
/// user's `~/.rpmmacros` is not read either: `HOME` points nowhere).
pub const SYNTH_FLAGS: [&str; 6] = [
    "--percent",
    "--noplugins",
    "--define",
    "_install_langs all",
    "--define",
    "_excludedocs 0",
];

/// Runs `rpm --root ROOT --dbpath /usr/lib/sysimage/rpm` with [`INSTALL_FLAGS`], `extra` and the
/// packages, with `env` added to the environment. `on_done` is called once per package rpm
/// reports finished (only with `--percent` in `extra`). An error carries rpm's output.
pub fn rpm_install(
    root: &Path,
    rpms: &[&Path],
    extra: &[&str],
    env: &[(&str, &str)],
    mut on_done: impl FnMut(),
) -> Result<()> {
    let mut child = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", DBPATH])
        .args(INSTALL_FLAGS)
        .args(extra)
        .args(rpms)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rpm (install Debian's rpm package; scripts/test.sh does)")?;
    let mut stderr = child.stderr.take().context("rpm stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut output = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading rpm's output")?;
            if line.trim() == "%% 100.000000" {
                on_done();
            } else if !line.starts_with("%%") {
                output.push_str(&line);
                output.push('\n');
            }
        }
    }
    let status = child.wait().context("waiting for rpm")?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "rpm -i into {} failed ({status}): {}{}",
            root.display(),
            output,
            errors.trim_end()
        );
    }
    Ok(())
}

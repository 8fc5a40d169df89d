//! What several subcommands share: where the tree comes from (`--rootfs DIR`, `--from IMAGE`
//! or `--from ostree:REPO:REF`) and its loading with a progress spinner, the build date (`SOURCE_DATE_EPOCH`),
//! stdout that tolerates a closed pipe, and human-readable sizes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rechunk_model::Timestamp;
use rechunk_oci::{interrupt, read_image_tree, FromOptions, ImageRef, StageReport};
use rechunk_ostree::OstreeRef;
use rechunk_rootfs::{load, load_tree, LoadOptions, LoadedRoot, Scan, Warning, WarningKind};
use rechunk_tree::{ContentSource, DirSource, SelinuxMode, WriteRules};
use serde_json::Value;

/// How a root filesystem is loaded (`build`, `scan`, `plan --rootfs`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LoadArgs {
    /// Leave out sockets, FIFOs and device nodes (with a warning) instead of failing on them.
    #[arg(long)]
    pub skip_special_files: bool,
    /// Leave out unreadable paths and corrupt rpmdb rows (with a warning) instead of failing.
    #[arg(long)]
    pub keep_going: bool,
    /// One component per source rpm instead of per binary package.
    #[arg(long)]
    pub group_by_source: bool,
    /// What becomes of the xattrs a build host sets on its own (`security.selinux`,
    /// `security.ima`, `security.evm`): `strip` leaves them out of the image (what podman
    /// writes; bootc labels from the image's policy when it imports it), `keep` writes them as
    /// found (trees labelled on purpose), `policy` labels every path from the tree's own
    /// SELinux policy, as rpm-ostree does.
    #[arg(long, value_enum, default_value_t = Selinux::Strip)]
    pub selinux: Selinux,
}

/// `--selinux` (see [`LoadArgs::selinux`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selinux {
    #[default]
    Strip,
    Keep,
    Policy,
}

impl Selinux {
    /// What the mode does, for summaries.
    pub fn describe(self) -> &'static str {
        match self {
            Selinux::Strip => "left out of the image (--selinux strip)",
            Selinux::Keep => "written as found (--selinux keep)",
            Selinux::Policy => "from the tree's policy (--selinux policy)",
        }
    }
}

impl From<Selinux> for SelinuxMode {
    fn from(s: Selinux) -> Self {
        match s {
            Selinux::Strip => SelinuxMode::Strip,
            Selinux::Keep => SelinuxMode::Keep,
            Selinux::Policy => SelinuxMode::Policy,
        }
    }
}

/// What the writer writes and the versions hash, from the environment and the options: the
/// one value the load and the build share.
pub fn write_rules(args: &LoadArgs) -> Result<WriteRules> {
    Ok(WriteRules {
        clamp_mtime: source_date_epoch()?,
        selinux: args.selinux.into(),
    })
}

/// Where the tree to re-layer comes from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A root filesystem directory (`--rootfs`).
    Rootfs(PathBuf),
    /// An existing image (`--from`), its files staged under the directory given.
    Image {
        reference: ImageRef,
        tmpdir: PathBuf,
    },
    /// A commit of an ostree repository (`--from ostree:REPO:REF`), read in place.
    Ostree {
        reference: OstreeRef,
        /// Where its rpm database is copied to be read.
        tmpdir: PathBuf,
    },
}

impl Input {
    /// `--rootfs` or `--from` (exactly one); `tmpdir` is where `--from` stages files.
    pub fn new(rootfs: Option<&Path>, from: Option<&str>, tmpdir: PathBuf) -> Result<Input> {
        match (rootfs, from) {
            (Some(dir), None) => Ok(Input::Rootfs(dir.to_path_buf())),
            (None, Some(commit)) if OstreeRef::is_ostree(commit) => Ok(Input::Ostree {
                reference: OstreeRef::parse(commit)?,
                tmpdir,
            }),
            (None, Some(image)) => {
                let reference = ImageRef::parse(image)?;
                if matches!(reference, ImageRef::Json(_)) {
                    bail!(
                        "--from {image}: a JSON file holds no layers; give oci:DIR[:TAG], \
                         oci-archive:FILE[:TAG], docker-archive:FILE or ostree:REPO:REF"
                    );
                }
                Ok(Input::Image { reference, tmpdir })
            }
            (Some(_), Some(_)) => bail!("give --rootfs DIR or --from IMAGE, not both"),
            (None, None) => bail!("give --rootfs DIR or --from IMAGE"),
        }
    }

    /// For messages and reports.
    pub fn describe(&self) -> String {
        match self {
            Input::Rootfs(dir) => dir.display().to_string(),
            Input::Image { reference, .. } => reference.to_string(),
            Input::Ostree { reference, .. } => reference.to_string(),
        }
    }
}

/// A loaded input: its components, how to read its files, and for an image what it brought.
pub struct Loaded {
    pub root: LoadedRoot,
    pub content: Box<dyn ContentSource>,
    /// The image's config (to carry over) and what staging its files cost.
    pub image: Option<(Value, StageReport)>,
    /// The ostree commit the tree was read from.
    pub commit: Option<rechunk_ostree::CommitInfo>,
}

/// Loads an input (walk, image layers or ostree commit; rpmdb, components) with a counter on
/// stderr, component versions following the default image format's rules.
pub fn load_input(input: &Input, args: &LoadArgs, verify_digests: bool) -> Result<Loaded> {
    let purpose = LoadFor {
        verify_digests,
        rules: write_rules(args)?,
        late_content_versions: false,
    };
    load_input_with(input, args, &purpose)
}

/// What a load is for, besides the input and its command-line options.
pub struct LoadFor {
    /// Compare every package-owned file's digest with the rpmdb (`scan`).
    pub verify_digests: bool,
    /// The rules of the format that will be written (versions hash exactly what the writer
    /// writes).
    pub rules: WriteRules,
    /// Leave content-hashed versions for the image writer to finish
    /// ([`rechunk_oci::LateVersions`]).
    pub late_content_versions: bool,
}

/// [`load_input`] for a given purpose.
pub fn load_input_with(input: &Input, args: &LoadArgs, purpose: &LoadFor) -> Result<Loaded> {
    match input {
        Input::Rootfs(root) => {
            let root_loaded = load_rootfs(root, args, purpose)?;
            let content = DirSource::open(&root_loaded.tree.root)
                .with_context(|| format!("opening {}", root.display()))?;
            Ok(Loaded {
                root: root_loaded,
                content: Box::new(content),
                image: None,
                commit: None,
            })
        }
        Input::Image { reference, tmpdir } => load_image(reference, tmpdir, args, purpose),
        Input::Ostree { reference, tmpdir } => load_ostree(reference, tmpdir, args, purpose),
    }
}

fn load_options(args: &LoadArgs, purpose: &LoadFor) -> LoadOptions {
    LoadOptions {
        skip_special_files: args.skip_special_files,
        keep_going: args.keep_going,
        group_by_source: args.group_by_source,
        verify_digests: purpose.verify_digests,
        progress: None,
        tmpdir: None,
        rules: purpose.rules,
        late_content_versions: purpose.late_content_versions,
    }
}

/// Loads `root` (scan, rpmdb, components) with an entry counter on stderr.
fn load_rootfs(root: &Path, args: &LoadArgs, purpose: &LoadFor) -> Result<LoadedRoot> {
    let count = Arc::new(AtomicU64::new(0));
    let opts = LoadOptions {
        progress: Some(count.clone()),
        ..load_options(args, purpose)
    };
    // Every load error names its full path already; the context says which step failed.
    with_counter(&count, "scanning", || load(root, &opts))
        .with_context(|| format!("scanning {}", root.display()))
}

/// Reads an image's layers into a tree (files staged under `tmpdir`), then its rpmdb and
/// components.
fn load_image(
    reference: &ImageRef,
    tmpdir: &Path,
    args: &LoadArgs,
    purpose: &LoadFor,
) -> Result<Loaded> {
    // Ctrl-C while staging stops it and removes the staging directory.
    interrupt::install_handlers();
    let count = Arc::new(AtomicU64::new(0));
    let from = FromOptions {
        tmpdir: tmpdir.to_path_buf(),
        skip_special_files: args.skip_special_files,
        entries: Some(count.clone()),
        staged: None,
    };
    let image = with_counter(&count, "reading layers", || {
        read_image_tree(reference, &from)
    })
    .with_context(|| format!("reading {reference}"))?;
    let warnings = image
        .warnings
        .iter()
        .map(|(path, message)| Warning {
            kind: WarningKind::Skipped,
            path: image.tree.root.join(path),
            message: message.clone(),
        })
        .collect();
    let scanned = Scan {
        tree: image.tree,
        skipped: image.skipped,
        warnings,
    };
    let opts = LoadOptions {
        tmpdir: Some(tmpdir.to_path_buf()),
        ..load_options(args, purpose)
    };
    let root = load_tree(scanned, &image.content, &opts)
        .with_context(|| format!("reading the tree of {reference}"))?;
    if interrupt::requested() {
        // Dropping the staged content removes the staging directory.
        return Err(rechunk_oci::Error::Interrupted)
            .with_context(|| format!("reading {reference}"));
    }
    Ok(Loaded {
        root,
        content: Box::new(image.content),
        image: Some((image.config, image.report)),
        commit: None,
    })
}

/// Reads an ostree commit's tree (nothing checked out: contents stay in the repository),
/// then its rpmdb and components.
fn load_ostree(
    reference: &OstreeRef,
    tmpdir: &Path,
    args: &LoadArgs,
    purpose: &LoadFor,
) -> Result<Loaded> {
    let count = Arc::new(AtomicU64::new(0));
    let read = with_counter(&count, "reading the commit", || {
        rechunk_ostree::read_commit(reference, Some(&count))
    })
    .with_context(|| format!("reading {reference}"))?;
    let scanned = Scan {
        tree: read.tree,
        skipped: read.skipped,
        warnings: Vec::new(),
    };
    let opts = LoadOptions {
        tmpdir: Some(tmpdir.to_path_buf()),
        ..load_options(args, purpose)
    };
    let root = load_tree(scanned, &read.content, &opts)
        .with_context(|| format!("reading the tree of {reference}"))?;
    Ok(Loaded {
        root,
        content: Box::new(read.content),
        image: None,
        commit: Some(read.commit),
    })
}

/// Runs `work` while a spinner shows `count` (hidden when stderr is not a terminal).
fn with_counter<T>(count: &Arc<AtomicU64>, what: &str, work: impl FnOnce() -> T) -> T {
    let bar = progress_bar(&format!(
        "{{spinner}} {what}: {{pos}} entries ({{per_sec}}, {{elapsed}})"
    ));
    // The ticker waits on a channel rather than sleeping, so that dropping the sender ends it
    // at once: joining a sleeping ticker held every build up to 100 ms (on a 2 s build, all
    // cores idle for 2 to 5% of it).
    let (stop, stopped) = mpsc::channel::<()>();
    let ticker = {
        let (bar, count) = (bar.clone(), count.clone());
        std::thread::spawn(move || loop {
            bar.set_position(count.load(Ordering::Relaxed));
            bar.tick();
            if stopped.recv_timeout(Duration::from_millis(100)) != Err(RecvTimeoutError::Timeout) {
                break;
            }
        })
    };
    let result = work();
    drop(stop);
    let _ = ticker.join();
    bar.finish_and_clear();
    result
}

/// A bar on stderr; indicatif hides it when stderr is not a terminal.
pub fn progress_bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `SOURCE_DATE_EPOCH`, when set: the image date, and the clamp for file mtimes.
pub fn source_date_epoch() -> Result<Option<Timestamp>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<Timestamp>()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds")),
        _ => Ok(None),
    }
}

/// The date of this build: `SOURCE_DATE_EPOCH`, else now.
pub fn build_date() -> Result<Timestamp> {
    Ok(source_date_epoch()?.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as Timestamp)
    }))
}

/// Writes `text` to stdout with control characters other than newlines and tabs escaped
/// (names and labels come from the input: a file name must not drive the terminal; JSON has
/// none raw); a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let text = rechunk_fsio::shown::escape_keep_lines(text);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// `12.3 MiB`-style sizes for tables.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_pick_the_largest_unit_below_1024() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}

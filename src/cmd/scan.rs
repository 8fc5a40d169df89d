//! `rechunk scan`: load a root filesystem or an image and report its packages, components,
//! unowned content, skipped paths and `rpm -V` style warnings, as a table or as one JSON
//! object.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use rechunk_model::ComponentKind;
use rechunk_rootfs::{LoadedRoot, Rule};
use serde::Serialize;

use super::common::{load_input, print_stdout, Input, LoadArgs, Selinux};

/// Options of `rechunk scan`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["rootfs", "from"])))]
pub struct Args {
    /// Root filesystem to scan (a directory).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Image to scan: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE; or an
    /// ostree commit, ostree:REPO:REF (needs the `ostree` build feature).
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// Where --from copies the files of compressed layers while it runs [default: the system's
    /// temporary directory].
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// Print one JSON object (packages, components, unowned totals, skipped, warnings, drift).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Do not read package files to compare their digests with the rpmdb (sizes, modes and
    /// types are still compared).
    #[arg(long)]
    pub no_verify: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let tmpdir = args.tmpdir.clone().unwrap_or_else(std::env::temp_dir);
    let input = Input::new(args.rootfs.as_deref(), args.from.as_deref(), tmpdir)?;
    let loaded = load_input(&input, &args.load, !args.no_verify)?;
    let report = Report::new(&input, &loaded.root, args.load.selinux);
    let mut out = Vec::new();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        report.print(&mut out)?;
    }
    print_stdout(&String::from_utf8_lossy(&out))
}

#[derive(Serialize)]
struct PackageRow<'a> {
    name: &'a str,
    epoch: Option<u32>,
    version: &'a str,
    release: &'a str,
    arch: &'a str,
    /// Files the rpmdb lists for the package.
    files: usize,
    /// Installed size the rpmdb records.
    size: u64,
}

#[derive(Serialize)]
struct ComponentRow<'a> {
    name: &'a str,
    kind: ComponentKind,
    version: &'a str,
    /// Non-directory entries placed in the component.
    files: u64,
    /// Bytes of its regular files (hardlinks counted once).
    size: u64,
}

#[derive(Serialize, Default)]
struct Totals {
    entries: u64,
    files: u64,
    size: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    rootfs: String,
    rpmdb: Option<String>,
    packages: Vec<PackageRow<'a>>,
    components: Vec<ComponentRow<'a>>,
    /// Everything, then what no package owns (split by the rule that placed it).
    total: Totals,
    unowned: Totals,
    unowned_by_rule: BTreeMap<Rule, Totals>,
    skipped: &'a [rechunk_rootfs::Skipped],
    warnings: &'a [rechunk_rootfs::Warning],
    /// Package paths that differ from their rpmdb record: why a package's version carries a
    /// `+digest` after its EVR.
    drift: &'a [rechunk_rootfs::Drift],
    /// `--selinux` and, under `policy`, what the tree's policy labelled.
    selinux: SelinuxReport<'a>,
}

#[derive(Serialize)]
struct SelinuxReport<'a> {
    mode: Selinux,
    policy: Option<&'a rechunk_rootfs::labels::PolicyLabels>,
    /// Under `strip`: what `keep` would have warned about the tree's labels (they are left
    /// out, so it is a note, not a warning).
    note: Option<String>,
}

impl<'a> Report<'a> {
    fn new(input: &Input, l: &'a LoadedRoot, mode: Selinux) -> Self {
        let packages = l
            .packages
            .iter()
            .map(|p| PackageRow {
                name: &p.name,
                epoch: p.epoch,
                version: &p.version,
                release: &p.release,
                arch: &p.arch,
                files: p.files.len(),
                size: p.size,
            })
            .collect();
        let components = l
            .components
            .iter()
            .map(|c| ComponentRow {
                name: &c.name,
                kind: c.kind,
                version: &c.version,
                files: c.files,
                size: c.size,
            })
            .collect();
        let (total, unowned, unowned_by_rule) = totals(l);
        Report {
            rootfs: input.describe(),
            rpmdb: l.rpmdb.as_ref().map(|p| p.display().to_string()),
            packages,
            components,
            total,
            unowned,
            unowned_by_rule,
            skipped: &l.skipped,
            warnings: &l.warnings,
            drift: &l.drift,
            selinux: SelinuxReport {
                mode,
                policy: l.labels.as_ref(),
                note: (mode == Selinux::Strip)
                    .then(|| rechunk_rootfs::labels::host_label_warning(&l.tree))
                    .flatten()
                    .map(|w| w.message),
            },
        }
    }

    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut rows: Vec<&ComponentRow> = self.components.iter().collect();
        rows.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(b.name)));
        writeln!(
            out,
            "{:<48} {:<14} {:>8} {:>12}",
            "COMPONENT", "KIND", "FILES", "SIZE"
        )?;
        for c in rows {
            let kind = serde_json::to_value(c.kind).unwrap_or_default();
            let kind = kind.as_str().unwrap_or("?");
            writeln!(
                out,
                "{:<48} {:<14} {:>8} {:>12}",
                c.name,
                kind,
                c.files,
                human(c.size)
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{} entries, {} files, {} in {} components from {} packages (rpmdb: {})",
            self.total.entries,
            self.total.files,
            human(self.total.size),
            self.components.len(),
            self.packages.len(),
            self.rpmdb.as_deref().unwrap_or("none")
        )?;
        writeln!(
            out,
            "unowned: {} files, {}",
            self.unowned.files,
            human(self.unowned.size)
        )?;
        for (rule, t) in &self.unowned_by_rule {
            let rule = serde_json::to_value(rule).unwrap_or_default();
            let rule = rule.as_str().unwrap_or("?");
            writeln!(out, "  {rule}: {} files, {}", t.files, human(t.size))?;
        }
        if !self.skipped.is_empty() {
            writeln!(out, "skipped: {} paths (see --json)", self.skipped.len())?;
        }
        match self.selinux.policy {
            Some(p) => writeln!(
                out,
                "SELinux labels from the policy in {} ({} rules): {} entries labelled, {} without a label",
                p.policy.display(),
                p.rules,
                p.labelled,
                p.unlabelled
            )?,
            None => writeln!(out, "SELinux labels: {}", self.selinux.mode.describe())?,
        }
        if let Some(note) = &self.selinux.note {
            writeln!(out, "  note: {note}")?;
        }
        const SHOWN: usize = 20;
        writeln!(out, "warnings: {}", self.warnings.len())?;
        for w in self.warnings.iter().take(SHOWN) {
            writeln!(out, "  {w}")?;
        }
        if self.warnings.len() > SHOWN {
            writeln!(
                out,
                "  ... {} more (see --json)",
                self.warnings.len() - SHOWN
            )?;
        }
        writeln!(
            out,
            "drift from the rpmdb (moves the package's version): {}",
            self.drift.len()
        )?;
        for d in self.drift.iter().take(SHOWN) {
            let what = d.differs.join(",");
            writeln!(out, "  {}: /{} ({what})", d.component, d.path.display())?;
        }
        if self.drift.len() > SHOWN {
            writeln!(out, "  ... {} more (see --json)", self.drift.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// All entries, and the unowned ones by rule.
fn totals(l: &LoadedRoot) -> (Totals, Totals, BTreeMap<Rule, Totals>) {
    let mut total = Totals::default();
    let mut unowned = Totals::default();
    let mut by_rule: BTreeMap<Rule, Totals> = BTreeMap::new();
    for (i, e) in l.tree.entries.iter().enumerate() {
        let file = !e.is_dir() as u64;
        let add = |t: &mut Totals| {
            t.entries += 1;
            t.files += file;
            t.size += e.size;
        };
        add(&mut total);
        if l.package_of[i].is_none() {
            add(&mut unowned);
            add(by_rule.entry(l.rule[i]).or_default());
        }
    }
    (total, unowned, by_rule)
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

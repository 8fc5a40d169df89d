//! Real .rpm files for package specs, built with the `rpm` crate and kept in a cache keyed by
//! NEVRA and spec digest, so a chain builds each package once.
//!
//! Payloads are zstd level 1 (rpm ≥ 4.14 reads them): it halves the cache, which at desktop
//! scale would otherwise hold as many gigabytes as a tree, for little CPU (level 1 compresses
//! at several hundred MB/s; rpm decompresses faster still). Build time and file mtimes are the spec's build time (the crate's
//! `source_date`), so the same spec always gives the same bytes. The crate always writes
//! SOURCERPM `(none)`; [`set_source_rpm`] rewrites that one header tag and recomputes the
//! signature header's header digest and size, exactly as the crate's own build step does.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use rpm::{
    BuildConfig, CompressionWithLevel, Dependency, FileOptions, Header, HeaderEntry, IndexData,
    IndexTag, PackageBuilder, RpmFormat, SignatureHeaderBuilder,
};

use super::chain::PackageSpec;
use super::content;
use super::layout::{EntrySpec, FileSpec, Flags};

/// A directory of built packages.
#[derive(Clone, Debug)]
pub struct RpmCache {
    dir: PathBuf,
}

impl RpmCache {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<RpmCache> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating the package cache {}", dir.display()))?;
        Ok(RpmCache {
            dir: crate::absolute(dir),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the spec's package is (or will be).
    pub fn path(&self, spec: &PackageSpec) -> PathBuf {
        self.dir.join(spec.rpm_file_name())
    }

    pub fn contains(&self, spec: &PackageSpec) -> bool {
        self.path(spec).is_file()
    }

    /// Builds the spec's package unless the cache has it; returns its path. The file appears
    /// under its name only when complete (written to a temporary name, then renamed).
    pub fn ensure(&self, spec: &PackageSpec) -> Result<PathBuf> {
        let path = self.path(spec);
        if path.is_file() {
            return Ok(path);
        }
        let pkg = build(spec).with_context(|| {
            format!(
                "building package {} (component {:?})",
                spec.rpm_file_name(),
                spec.component
            )
        })?;
        // A fresh temporary name (two runs sharing a cache never write one file, and a link
        // planted in the cache is never written through), renamed into place.
        let mut file = rechunk_fsio::StagedFile::create(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        pkg.write(&mut file)
            .map_err(|e| anyhow!("writing {}: {e}", file.staged_path().display()))?;
        file.commit_unsynced()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The package of a spec, in memory.
pub fn build(spec: &PackageSpec) -> Result<rpm::Package> {
    let config = BuildConfig::v4()
        .source_date(u32::try_from(spec.build_time).context("build time out of range")?)
        .compression(CompressionWithLevel::Zstd(1))
        .reserved_space(None);
    let r = &spec.rpm;
    let mut b = PackageBuilder::new(
        &r.name,
        &r.version,
        "MIT",
        &r.arch,
        &format!("synthesized package {}", spec.key),
    );
    b.using_config(config).release(&r.release);
    if let Some(e) = r.epoch {
        b.epoch(e);
    }
    b.build_host("rechunk-synth")
        .vendor("rechunk synth")
        .description(format!("Synthesized by rechunk ({}).", spec.key));
    for f in spec.files() {
        add_entry(&mut b, &f)?;
    }
    for r in &spec.requires {
        b.requires(Dependency::any(r.as_str()));
    }
    // Oldest first: the crate stores entries in call order and rpm lists the newest first.
    let evr = r.evr();
    for (i, &t) in spec.changelog.iter().enumerate().rev() {
        b.add_changelog_entry(
            format!("rechunk synth <synth@rechunk.invalid> - {evr}"),
            format!("- change {}", spec.changelog.len() - i),
            u32::try_from(t).context("changelog time out of range")?,
        );
    }
    let mut pkg = b.build()?;
    if let Some(source) = &spec.source {
        set_source_rpm(
            &mut pkg,
            &format!("{source}-{}-{}.src.rpm", r.version, r.release),
        )?;
    }
    Ok(pkg)
}

fn add_entry(b: &mut PackageBuilder, f: &FileSpec) -> Result<()> {
    let with_flags = |mut o: rpm::FileOptionsBuilder, flags: Flags| {
        if flags.config {
            o = o.config();
        }
        if flags.noreplace {
            o = o.noreplace();
        }
        if flags.missingok {
            o = o.missingok();
        }
        if flags.doc {
            o = o.doc();
        }
        if flags.license {
            o = o.license();
        }
        o
    };
    match &f.entry {
        EntrySpec::Regular {
            size,
            seed,
            texture,
            mode,
            flags,
            caps,
            link_group,
            mtime,
        } => {
            let len = usize::try_from(*size).context("file too large for memory")?;
            let mut o = with_flags(FileOptions::new(&f.path).permissions(*mode), *flags);
            if let Some(caps) = caps {
                o = o.caps(*caps)?;
            }
            if let Some(g) = link_group {
                o = o.hardlink(format!("g{g}"));
            }
            let mtime = u32::try_from(*mtime).context("file mtime out of range")?;
            o = o.modified_at(mtime.into());
            b.with_file_contents(content::generate(*seed, *texture, len), o)?;
        }
        EntrySpec::Symlink { target } => {
            b.with_symlink(FileOptions::symlink(&f.path, target))?;
        }
        EntrySpec::Dir => {
            b.with_dir_entry(FileOptions::dir(&f.path).permissions(0o755))?;
        }
        EntrySpec::Ghost { mode, flags } => {
            b.with_ghost(with_flags(
                FileOptions::ghost(&f.path).permissions(*mode),
                *flags,
            ))?;
        }
    }
    Ok(())
}

/// Replaces the SOURCERPM tag (the crate writes `(none)` and has no setter) and rebuilds the
/// signature header the way `PackageBuilder::build` does for v4 packages.
fn set_source_rpm(pkg: &mut rpm::Package, source_rpm: &str) -> Result<()> {
    let region = IndexTag::RPMTAG_HEADERIMMUTABLE as u32;
    let source = IndexTag::RPMTAG_SOURCERPM as u32;
    let entries = pkg
        .metadata
        .header
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| *tag != region)
        .map(|(tag, data)| match tag == source {
            true => HeaderEntry::new(tag, IndexData::StringTag(source_rpm.to_string())),
            false => HeaderEntry::new(tag, data),
        });
    pkg.metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
    let bytes = pkg.metadata.header_bytes()?;
    pkg.metadata.signature = SignatureHeaderBuilder::new()
        .format(RpmFormat::V4)
        .reserved_space(None)
        .set_content_length(bytes.len() as u64 + pkg.payload.len() as u64)
        .calculate_digests(&bytes)
        .build()?;
    Ok(())
}

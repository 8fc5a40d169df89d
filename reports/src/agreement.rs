//! The agreement report of `rechunk compare --build`: the simulator's figures next to the
//! built images' for the same versions (one table per client and layer budget, the oracles
//! `per-package` and the file-level bound beside them), how `cluster` does against every peer
//! from the first update on, and the per-update CSV.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use rechunk_sim::agreement::{AgreementRow, BuiltRun, FileLevelUpdate, FILE_LEVEL};
use rechunk_sim::{Client, Simulation};
use serde::Serialize;

const MIB: f64 = 1024.0 * 1024.0;

/// The strategy measured against the peers update by update.
const OURS: &str = "cluster";

/// What the report says about how the figures were made.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    pub history: String,
    /// Ids of the versions built, oldest first.
    pub versions: Vec<String>,
    /// `real`, `desktop` or the factor.
    pub scale: String,
    /// `gzip:6` ...
    pub compression: String,
    /// Builds that planned exactly what the simulator planned for the same version, and all.
    pub same_plans: (usize, usize),
    /// The clients measured (a client whose schedule has no update among the versions has no
    /// rows: the report says so).
    pub clients: Vec<Client>,
}

/// The markdown report.
pub fn markdown(
    ctx: &Context,
    rows: &[AgreementRow],
    built: &[BuiltRun],
    sim: &Simulation,
) -> String {
    let mut out = String::new();
    let (first, last) = (
        ctx.versions.first().map_or("", String::as_str),
        ctx.versions.last().map_or("", String::as_str),
    );
    let _ = writeln!(
        out,
        "History `{}`, versions {first} .. {last} ({} versions, scale {}), each synthesized \
         (`rechunk synth`) and built with every strategy (`rechunk build`, each build given the \
         strategy's previous image as `--previous`, {} layers, `SOURCE_DATE_EPOCH` = the \
         version's date), both starting cold at the first version. Simulated = the \
         simulator's replay of the realised history of the same versions: component bytes \
         plus their tar framing ({} bytes per file, {} per directory, as the scan counts \
         them); built = `rechunk diff` on the built images: the layers a client does not \
         hold, as tar bytes (uncompressed), as the file bytes in them (content alone) and as \
         blob bytes (compressed, {}). One table per client and layer budget: `every` \
         fetches each version holding the one before; `weekly` and `monthly` check every 7 \
         and 30 days from the first version's date and fetch the newest version published by \
         then, so a fetch may skip versions: the image held is diffed against the image \
         fetched, both built by the same strategy. Ratio = blob / tar bytes of the downloads, \
         per strategy and client: the measured ratio the lockfile replays apply to that \
         client in place of the old fixed × 0.516 (the gzip ratio of a real FCOS image), \
         written with the image ratio (for fresh installs) to `compression-ratios.csv`; image \
         ratio = the same over all layers of its images; × 0.516 Δ = how far the fixed \
         estimate is from the built compressed download. MiB = 2^20 bytes; Δ = (simulated − \
         built) / built; worst = the largest |simulated − built| of one update / the mean \
         built download.\n",
        ctx.history,
        ctx.versions.len(),
        ctx.scale,
        ctx.compression,
        rechunk_model::TAR_BYTES_PER_FILE,
        rechunk_model::TAR_BYTES_PER_DIRECTORY,
        ctx.compression
    );
    let _ = writeln!(
        out,
        "{} of {} builds planned exactly the layers the simulator planned for the same \
         version.\n",
        ctx.same_plans.0, ctx.same_plans.1
    );
    fetches(&mut out, ctx, built);
    // Rows come contender by contender, each with every client: one table per client.
    let mut clients: Vec<Client> = rows.iter().map(|r| r.client).collect();
    clients.sort();
    clients.dedup();
    let mut budgets: Vec<usize> = rows
        .iter()
        .filter(|r| !r.oracle)
        .map(|r| r.max_layers)
        .collect();
    budgets.sort_unstable();
    budgets.dedup();
    for &client in &clients {
        for &budget in &budgets {
            table(&mut out, rows, client, budget);
        }
    }
    if clients.contains(&Client::Every) {
        for &budget in &budgets {
            cold_start(&mut out, built, sim, budget);
        }
    }
    out
}

/// Which fetches each client's rows are made of (every contender's built images go through
/// the same ones), and the clients with none.
fn fetches(out: &mut String, ctx: &Context, built: &[BuiltRun]) {
    let Some(b) = built.first() else {
        return;
    };
    let mut listed = Vec::new();
    let mut without = Vec::new();
    for &client in &ctx.clients {
        let steps: Vec<String> = b
            .updates
            .iter()
            .filter(|u| u.client == client)
            .map(|u| format!("{} → {}", u.from.as_deref().unwrap_or("nothing"), u.to))
            .collect();
        match steps.is_empty() {
            true => without.push(format!("`{}`", client.name())),
            false => listed.push(format!("`{}` {}", client.name(), steps.join(", "))),
        }
    }
    if !listed.is_empty() {
        let _ = writeln!(
            out,
            "Fetches measured (held → fetched): {}.\n",
            listed.join("; ")
        );
    }
    if !without.is_empty() {
        let _ = writeln!(
            out,
            "Nothing measured for {} (no update among these versions): for such a client the \
             lockfile replays move `every`'s ratio toward the whole images' (marked `†`).\n",
            without.join(", ")
        );
    }
}

fn table(out: &mut String, rows: &[AgreementRow], client: Client, budget: usize) {
    let mut selected: Vec<&AgreementRow> = rows
        .iter()
        .filter(|r| r.client == client && (r.max_layers == budget || r.oracle))
        .collect();
    // Oracles first, then by built download.
    selected.sort_by(|a, b| {
        (!a.oracle, a.built_compressed_bytes)
            .partial_cmp(&(!b.oracle, b.built_compressed_bytes))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let _ = writeln!(
        out,
        "### client `{}`, {budget} layers\n\n\
         | strategy | updates | simulated MiB | built MiB | Δ | worst | built file MiB | built compressed MiB | ratio | image ratio | × 0.516 Δ |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        client.name()
    );
    for r in selected {
        let name = match (r.oracle, r.label.as_str()) {
            (true, FILE_LEVEL) => "file-level (oracle: changed files)".to_owned(),
            (true, l) => format!("{l} (oracle)"),
            (false, l) => l.to_owned(),
        };
        let mib = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{:.1}", v / MIB));
        let pct = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{:+.2}%", v * 100.0));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.1} | {} | {} | {} | {:.1} | {:.3} | {} | {} |",
            r.updates,
            mib(r.simulated_bytes),
            r.built_bytes / MIB,
            pct(r.deviation),
            r.max_update_deviation
                .map_or("–".to_owned(), |v| format!("{:.2}%", v * 100.0)),
            mib(r.built_content_bytes),
            r.built_compressed_bytes / MIB,
            r.download_ratio,
            r.image_ratio.map_or("–".to_owned(), |v| format!("{v:.3}")),
            pct(r.fixed_ratio_deviation),
        );
    }
    out.push('\n');
}

/// `cluster` against every peer, update by update, on the built images (client `every`).
fn cold_start(out: &mut String, built: &[BuiltRun], sim: &Simulation, budget: usize) {
    let run = |label: &str| {
        built
            .iter()
            .find(|b| b.label == label && b.max_layers == budget)
    };
    let Some(ours) = run(OURS) else { return };
    let peers: Vec<&BuiltRun> = sim
        .runs
        .iter()
        .filter(|r| r.peer && r.params.is_empty() && r.max_layers == budget)
        .filter_map(|r| run(&r.label))
        .collect();
    if peers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### `{OURS}` against every peer, update by update (client `every`, {budget} layers, built images, compressed)\n\n\
         | update | {OURS} MiB | lowest peer MiB | lowest peer | {OURS} / lowest peer |\n\
         |---|---:|---:|---|---:|"
    );
    let mut wins = 0;
    let mut total = 0;
    for u in ours.updates.iter().filter(|u| u.client == Client::Every) {
        let peer_costs = peers.iter().filter_map(|p| {
            p.updates
                .iter()
                .find(|v| v.client == Client::Every && v.to == u.to && v.from == u.from)
                .map(|v| (p.label.as_str(), v.compressed.download_bytes))
        });
        let Some((name, best)) = peer_costs.min_by_key(|(_, b)| *b) else {
            continue;
        };
        let mine = u.compressed.download_bytes;
        total += 1;
        if mine <= best {
            wins += 1;
        }
        let _ = writeln!(
            out,
            "| {} → {} | {:.1} | {:.1} | {name} | {:.3} |",
            u.from.as_deref().unwrap_or("(none)"),
            u.to,
            mine as f64 / MIB,
            best as f64 / MIB,
            if best > 0 {
                mine as f64 / best as f64
            } else {
                f64::NAN
            }
        );
    }
    let _ = writeln!(
        out,
        "\n`{OURS}` downloads no more than every peer on {wins} of {total} updates.\n"
    );
}

/// One row per update × contender (and the file-level bound): `strategy, max_layers, client,
/// from, to, simulated_bytes, built_bytes, built_file_bytes, built_compressed_bytes`.
pub fn write_updates_csv(
    sim: &Simulation,
    built: &[BuiltRun],
    file_level: &[FileLevelUpdate],
    out: impl Write,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "strategy",
        "max_layers",
        "client",
        "from",
        "to",
        "simulated_bytes",
        "built_bytes",
        "built_file_bytes",
        "built_compressed_bytes",
    ])?;
    for b in built {
        let run = sim
            .runs
            .iter()
            .find(|r| r.label == b.label && r.max_layers == b.max_layers);
        for u in &b.updates {
            let simulated = run
                .and_then(|r| {
                    r.updates
                        .iter()
                        .find(|s| s.client == u.client && s.from == u.from && s.to == u.to)
                })
                .map_or(String::new(), |s| s.cost.download_bytes.to_string());
            w.write_record([
                b.label.as_str(),
                &b.max_layers.to_string(),
                u.client.name(),
                u.from.as_deref().unwrap_or(""),
                &u.to,
                &simulated,
                &u.uncompressed.download_bytes.to_string(),
                &u.content.download_bytes.to_string(),
                &u.compressed.download_bytes.to_string(),
            ])?;
        }
    }
    for u in file_level {
        w.write_record([
            FILE_LEVEL,
            "",
            u.client.name(),
            u.from.as_deref().unwrap_or(""),
            &u.to,
            "",
            &u.bytes.to_string(),
            &u.bytes.to_string(),
            &u.compressed_bytes.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

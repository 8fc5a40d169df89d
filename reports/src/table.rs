//! The summary table: one row per run × client with averages, percentiles and the ratios to the
//! `per-package` bound and to the best peer (and, in the JSON, to `rpm-ostree`); rendered as
//! markdown for `summary.md` and the terminal.
//!
//! The best peer of a table (one client, one layer budget) is the peer as deployed with the
//! lowest mean download: the registered ports of the field's tools (`Strategy::is_peer`:
//! rpm-ostree, rpm-ostree+prior, hhd-rechunk, chunkah) at their default parameters. Swept
//! parameter settings, our own strategies and the oracle never count as the best peer.

use std::fmt::Write;

use rechunk_sim::{
    summarize, AppliedRatio, Client, CompressionModel, RatioBasis, Run, Simulation, Summary,
};
use rechunk_strategies::Params;
use serde::Serialize;

/// Name of the oracle that ratios are taken against.
pub const ORACLE: &str = "per-package";
/// Name of the field's reference tool that ratios are taken against.
pub const REFERENCE: &str = "rpm-ostree";

const MIB: f64 = 1024.0 * 1024.0;

/// One strategy × client × layer budget (× parameter setting).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    pub strategy: String,
    /// Strategy and parameter overrides: `cluster half_life_builds=8`.
    pub label: String,
    pub params: Params,
    pub client: Client,
    pub max_layers: usize,
    pub oracle: bool,
    #[serde(flatten)]
    pub summary: Summary,
    /// The ratio `summary.mean_compressed_download_bytes` was estimated with
    /// ([`rechunk_sim::compression`]).
    pub compression_ratio: AppliedRatio,
    /// Mean download / the `per-package` bound's mean for the same client.
    pub ratio_to_per_package: Option<f64>,
    /// Mean download / `rpm-ostree`'s (default parameters, same budget, same client).
    pub ratio_to_rpm_ostree: Option<f64>,
    /// True for the ports of the field's tools.
    pub peer: bool,
    /// Mean download / the best peer's (lowest mean among the peers at default parameters,
    /// same budget, same client); `None` when no peer ran.
    pub best_peer_ratio: Option<f64>,
    /// Label of that best peer.
    pub best_peer: Option<String>,
}

/// Summary rows for every run × client of the simulation, in run order.
pub fn summary_rows(sim: &Simulation, clients: &[Client]) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for run in &sim.runs {
        for &client in clients {
            let summary = summarize(run, client);
            let ratio = |reference: Option<&Run>| {
                let base = summarize(reference?, client).mean_download_bytes;
                (base > 0.0).then(|| summary.mean_download_bytes / base)
            };
            let oracle = sim
                .runs
                .iter()
                .find(|r| r.strategy == ORACLE && r.params.is_empty());
            let reference = sim.runs.iter().find(|r| {
                r.strategy == REFERENCE && r.params.is_empty() && r.max_layers == run.max_layers
            });
            let best = best_peer(sim, client, run.max_layers);
            rows.push(SummaryRow {
                strategy: run.strategy.clone(),
                label: run.label.clone(),
                params: run.params.clone(),
                client,
                max_layers: run.max_layers,
                oracle: run.oracle,
                ratio_to_per_package: ratio(oracle),
                ratio_to_rpm_ostree: ratio(reference),
                peer: run.peer,
                best_peer_ratio: best
                    .filter(|(_, mean)| *mean > 0.0)
                    .map(|(_, mean)| summary.mean_download_bytes / mean),
                best_peer: best.map(|(r, _)| r.label.clone()),
                compression_ratio: run.ratio(client),
                summary,
            });
        }
    }
    rows
}

/// The peer as deployed (default parameters) with the lowest mean download for `client` at
/// `max_layers`, and that mean.
pub fn best_peer(sim: &Simulation, client: Client, max_layers: usize) -> Option<(&Run, f64)> {
    sim.runs
        .iter()
        .filter(|r| r.peer && r.params.is_empty() && r.max_layers == max_layers)
        .map(|r| (r, summarize(r, client).mean_download_bytes))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// The markdown summary: one table per client at `budget` (oracles first, then by mean
/// download), then, when several budgets ran, mean download per budget for `every` updates.
pub fn markdown(sim: &Simulation, rows: &[SummaryRow], budget: usize) -> String {
    let mut out = String::new();
    let (first, last) = match (sim.versions.first(), sim.versions.last()) {
        (Some(f), Some(l)) => (f.as_str(), l.as_str()),
        _ => ("-", "-"),
    };
    let _ = writeln!(
        out,
        "History `{}`, versions {first} .. {last} ({} versions). Download = uncompressed bytes of \
         the layers a client does not hold (MiB = 2^20 bytes); {} Replanned = bytes re-fetched \
         only because the plan regrouped them.",
        sim.history,
        sim.versions.len(),
        compression_note(&sim.compression)
    );
    let mut clients: Vec<Client> = rows.iter().map(|r| r.client).collect();
    clients.dedup();
    clients.sort();
    clients.dedup();
    for client in clients {
        let mut section: Vec<&SummaryRow> = rows
            .iter()
            .filter(|r| r.client == client && r.max_layers == budget)
            .collect();
        section.sort_by(|a, b| {
            b.oracle.cmp(&a.oracle).then(
                a.summary
                    .mean_download_bytes
                    .total_cmp(&b.summary.mean_download_bytes),
            )
        });
        let _ = writeln!(out, "\n### client `{}`, {budget} layers\n", client.name());
        out.push_str(&client_table(&section));
        if let Some(best) = section.iter().find_map(|r| r.best_peer.as_deref()) {
            let _ = writeln!(
                out,
                "\nBest peer (lowest mean of the peers as deployed: {}): `{best}`.",
                peer_names(rows).join(", ")
            );
        }
    }
    out.push_str(&budget_table(rows));
    out
}

/// What the compressed column means: which ratio, measured how, picked how.
pub fn compression_note(model: &CompressionModel) -> String {
    let fixed = rechunk_sim::COMPRESSION_RATIO;
    match model {
        CompressionModel::Fixed => format!(
            "compressed = download × {fixed:.3} for every strategy (`--fixed-ratio`: the gzip \
             ratio of one real FCOS image, not measured per strategy)."
        ),
        CompressionModel::Measured(t) => {
            let budgets: Vec<String> = t.budgets().iter().map(usize::to_string).collect();
            // The updating clients the file measured on their own downloads.
            let measured: Vec<String> = [Client::Every, Client::Weekly, Client::Monthly]
                .into_iter()
                .filter(|&c| t.rows().iter().any(|r| r.client == c))
                .map(|c| format!("`{}`", c.name()))
                .collect();
            format!(
                "compressed = download × `ratio`, the strategy's {c} compression ratio measured \
                 on built images (blob / tar bytes of what a client downloaded; `rechunk compare \
                 --build` on synthesized versions, {origin}): the client's own, measured on its \
                 downloads from the built versions ({measured}), the whole images' for \
                 `fresh`; for a client without a measured ratio in the file (one written before \
                 `weekly` and `monthly` were measured) `every`'s moved toward the whole images' \
                 in proportion to how much more of the image the client fetches than `every` \
                 (marked `†`); at the row's \
                 layer budget when measured ({budgets} layers), else linear in ln(layers) \
                 between the two nearest measured budgets (marked `~`) or, outside them, the \
                 nearest one's (`≈`); `*` = no ratio measured for the strategy: the fixed × \
                 {fixed:.3} (gzip of one real FCOS image).",
                c = t.compression(),
                origin = t.origin,
                measured = match measured.is_empty() {
                    true => "none".to_owned(),
                    false => measured.join(", "),
                },
                budgets = budgets.join(", "),
            )
        }
    }
}

/// The ratio column's cell: the ratio and its mark ([`compression_note`]).
pub fn ratio_cell(r: &AppliedRatio) -> String {
    let mark = match r.basis {
        RatioBasis::Measured | RatioBasis::Fixed => "",
        RatioBasis::Interpolated => "~",
        RatioBasis::Nearest => "≈",
        RatioBasis::Fallback => "*",
    };
    let scaled = if r.share_scaled.is_some() { "†" } else { "" };
    format!("{:.3}{mark}{scaled}", r.ratio)
}

fn client_table(rows: &[&SummaryRow]) -> String {
    let header = [
        "strategy",
        "updates",
        "mean MiB",
        "median MiB",
        "p90 MiB",
        "compressed MiB",
        "ratio",
        "reuse %",
        "replanned MiB",
        "layers",
        "× per-package",
        "× best peer",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.summary;
            vec![
                if r.oracle {
                    format!("{} (oracle)", r.label)
                } else {
                    r.label.clone()
                },
                s.updates.to_string(),
                mib(s.mean_download_bytes),
                mib(s.median_download_bytes as f64),
                mib(s.p90_download_bytes as f64),
                mib(s.mean_compressed_download_bytes),
                ratio_cell(&r.compression_ratio),
                format!("{:.1}", s.mean_reuse_ratio * 100.0),
                mib(s.mean_replanned_bytes),
                format!("{:.0}", s.mean_layer_count),
                ratio(r.ratio_to_per_package),
                ratio(r.best_peer_ratio),
            ]
        })
        .collect();
    render(&header.map(String::from), &body)
}

/// Mean MiB per strategy (default parameters) and budget, client `every`; empty with one budget.
fn budget_table(rows: &[SummaryRow]) -> String {
    let every: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| r.client == Client::Every && r.params.is_empty() && !r.oracle)
        .collect();
    let mut budgets: Vec<usize> = every.iter().map(|r| r.max_layers).collect();
    budgets.sort_unstable();
    budgets.dedup();
    if budgets.len() < 2 {
        return String::new();
    }
    let mut strategies: Vec<&str> = Vec::new();
    for r in &every {
        if !strategies.contains(&r.strategy.as_str()) {
            strategies.push(&r.strategy);
        }
    }
    let mut header = vec!["strategy".to_string()];
    header.extend(budgets.iter().map(|b| format!("{b} layers")));
    let cells = |cell: &dyn Fn(&SummaryRow) -> String| -> Vec<Vec<String>> {
        strategies
            .iter()
            .map(|s| {
                let mut line = vec![s.to_string()];
                for b in &budgets {
                    line.push(
                        every
                            .iter()
                            .find(|r| r.strategy == *s && r.max_layers == *b)
                            .map_or("-".to_string(), |r| cell(r)),
                    );
                }
                line
            })
            .collect()
    };
    let body = cells(&|r| mib(r.summary.mean_download_bytes));
    let compressed = cells(&|r| {
        format!(
            "{} ({})",
            mib(r.summary.mean_compressed_download_bytes),
            ratio_cell(&r.compression_ratio)
        )
    });
    let mut ratios = vec!["strategy".to_string()];
    ratios.extend(budgets.iter().map(|b| format!("{b} layers")));
    let mut ratio_body: Vec<Vec<String>> = strategies
        .iter()
        .filter(|s| every.iter().any(|r| r.strategy == **s && !r.peer))
        .map(|s| {
            let mut line = vec![s.to_string()];
            for b in &budgets {
                let cell = every
                    .iter()
                    .find(|r| r.strategy == *s && r.max_layers == *b)
                    .map_or("-".to_string(), |r| ratio(r.best_peer_ratio));
                line.push(cell);
            }
            line
        })
        .collect();
    let mut best_line = vec!["(best peer)".to_string()];
    for b in &budgets {
        let best = every
            .iter()
            .find(|r| r.max_layers == *b)
            .and_then(|r| r.best_peer.clone());
        best_line.push(best.unwrap_or_else(|| "-".to_string()));
    }
    ratio_body.push(best_line);
    format!(
        "\n### mean MiB per update by layer budget (client `every`)\n\n{}\n\
         ### mean compressed MiB per update by layer budget (client `every`, ratio in brackets)\n\n{}\n\
         ### × best peer by layer budget (client `every`)\n\n{}",
        render(&header, &body),
        render(&header, &compressed),
        render(&ratios, &ratio_body)
    )
}

/// Names of the peers that ran at default parameters, in run order.
fn peer_names(rows: &[SummaryRow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| r.peer && r.params.is_empty()) {
        if !names.contains(&r.label) {
            names.push(r.label.clone());
        }
    }
    names
}

/// A markdown table with columns padded to equal width, readable as plain text too.
fn render(header: &[String], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header);
    // Numbers align right: `---:`.
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                "-".repeat(w + 2)
            } else {
                format!("{}:", "-".repeat(w + 1))
            }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in body {
        out.push_str(&line(row));
    }
    out
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / MIB)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}"))
}

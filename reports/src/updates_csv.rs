//! The per-update CSV: one row per update × strategy × client × layer budget (× parameter
//! setting), every figure the simulator measured.

use std::io::Write;

use anyhow::Result;
use rechunk_sim::Simulation;
use serde::Serialize;

#[derive(Serialize)]
struct Row<'a> {
    history: &'a str,
    strategy: &'a str,
    /// `key=value` pairs separated by `;` (empty = defaults).
    params: String,
    max_layers: usize,
    oracle: bool,
    client: &'a str,
    from: &'a str,
    to: &'a str,
    date: String,
    download_bytes: u64,
    compressed_download_bytes: u64,
    /// Compression the ratio was measured with (`gzip` for the fixed FCOS image estimate).
    compression: &'a str,
    /// compressed_download_bytes / download_bytes, as estimated ([`rechunk_sim::compression`]).
    compression_ratio: f64,
    /// measured, interpolated, nearest, fallback (no ratio measured: the fixed one) or fixed;
    /// `+share` when moved toward the whole image's ratio by the share fetched.
    ratio_basis: String,
    metadata_bytes: u64,
    reuse_ratio: f64,
    layers_fetched: usize,
    layer_count: usize,
    image_bytes: u64,
    replanned_bytes: u64,
}

/// Writes every update of `sim` as CSV with a header.
pub fn write(sim: &Simulation, out: impl Write) -> Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    for run in &sim.runs {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let ratios: Vec<_> = run.ratios.iter().map(|r| (r.client, &r.ratio)).collect();
        for u in &run.updates {
            let fixed = rechunk_sim::AppliedRatio::fixed(rechunk_sim::RatioBasis::Fixed);
            let ratio = ratios
                .iter()
                .find(|(c, _)| *c == u.client)
                .map_or(&fixed, |(_, r)| *r);
            csv.serialize(Row {
                history: &sim.history,
                strategy: &run.strategy,
                params: params.join(";"),
                max_layers: run.max_layers,
                oracle: run.oracle,
                client: u.client.name(),
                from: u.from.as_deref().unwrap_or(""),
                to: &u.to,
                date: crate::date(u.date),
                download_bytes: u.cost.download_bytes,
                compressed_download_bytes: u.compressed_download_bytes,
                compression: ratio.compression.as_deref().unwrap_or("gzip"),
                compression_ratio: ratio.ratio,
                ratio_basis: format!(
                    "{}{}",
                    ratio.basis.name(),
                    if ratio.share_scaled.is_some() {
                        "+share"
                    } else {
                        ""
                    }
                ),
                metadata_bytes: u.cost.metadata_bytes,
                reuse_ratio: u.cost.reuse_ratio,
                layers_fetched: u.cost.layers_fetched,
                layer_count: u.layer_count,
                image_bytes: u.cost.image_bytes,
                replanned_bytes: u.replanned_bytes,
            })?;
        }
    }
    csv.flush()?;
    Ok(())
}

//! The SVG plots: cumulative download over time per strategy, the distribution of per-update
//! downloads per strategy (box plots), and mean download versus layer budget.
//!
//! Each is drawn into a string (`path` names it in errors); the caller stages the file.
//! All three use the `every` client and default parameters; the first two use the main budget.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use rechunk_sim::{Client, Run, Simulation};

use crate::table::SummaryRow;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const SIZE: (u32, u32) = (1000, 600);
/// Seconds in a mean Gregorian year, to place dates on a year axis.
const YEAR: f64 = 365.2425 * 86_400.0;

/// Runs of the main budget with default parameters, as plotted.
fn main_runs(sim: &Simulation, budget: usize) -> Vec<&Run> {
    sim.runs
        .iter()
        .filter(|r| r.params.is_empty() && (r.max_layers == budget || r.oracle))
        .collect()
}

fn every_downloads(run: &Run) -> Vec<(i64, u64)> {
    run.updates
        .iter()
        .filter(|u| u.client == Client::Every)
        .map(|u| (u.date, u.cost.download_bytes))
        .collect()
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {}: {e:?}", path.display())
}

/// Cumulative GiB downloaded by an every-update client, one line per strategy.
pub fn cumulative(sim: &Simulation, budget: usize, path: &Path) -> Result<String> {
    let err = plot_err(path);
    let series: Vec<(String, Vec<(f64, f64)>)> = main_runs(sim, budget)
        .iter()
        .map(|run| {
            let mut total = 0.0;
            let points = every_downloads(run)
                .into_iter()
                .map(|(date, bytes)| {
                    total += bytes as f64 / GIB;
                    (1970.0 + date as f64 / YEAR, total)
                })
                .collect();
            (run.label.clone(), points)
        })
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = all
        .clone()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let y1 = all.fold(0.0f64, |m, p| m.max(p.1));
    if x0 > x1 {
        return Err(anyhow!(
            "drawing {}: no updates for client every",
            path.display()
        ));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{}: cumulative download, every update, {budget} layers",
                    sim.history
                ),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1.max(x0 + 0.01), 0.0..(y1 * 1.05).max(0.001))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("date (year)")
            .y_desc("GiB downloaded (uncompressed)")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .draw()
            .map_err(&err)?;
        for (i, (label, points)) in series.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(&err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Box plots of per-update download (MiB) per strategy: whiskers min–max, box quartiles, line
/// at the median.
pub fn distribution(sim: &Simulation, budget: usize, path: &Path) -> Result<String> {
    let err = plot_err(path);
    let boxes: Vec<(String, [f64; 5])> = main_runs(sim, budget)
        .iter()
        .filter_map(|run| {
            let mut v: Vec<f64> = every_downloads(run)
                .iter()
                .map(|(_, b)| *b as f64 / MIB)
                .collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| (run.label.clone(), five_numbers(&v)))
        })
        .collect();
    if boxes.is_empty() {
        return Err(anyhow!(
            "drawing {}: no updates for client every",
            path.display()
        ));
    }
    let y1 = boxes.iter().map(|(_, f)| f[4]).fold(0.0f64, f64::max) * 1.05;
    let n = boxes.len();
    let labels: Vec<String> = boxes.iter().map(|(l, _)| l.clone()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{}: download per update, every update, {budget} layers",
                    sim.history
                ),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(60)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..y1.max(0.001))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("MiB per update (uncompressed)")
            .draw()
            .map_err(&err)?;
        for (i, (_, [min, q1, med, q3, max])) in boxes.iter().enumerate() {
            let x = i as f64;
            let color = Palette99::pick(i).to_rgba();
            let shapes = vec![
                PathElement::new(vec![(x, *min), (x, *q1)], BLACK.stroke_width(1)),
                PathElement::new(vec![(x, *q3), (x, *max)], BLACK.stroke_width(1)),
                PathElement::new(
                    vec![(x - 0.15, *min), (x + 0.15, *min)],
                    BLACK.stroke_width(1),
                ),
                PathElement::new(
                    vec![(x - 0.15, *max), (x + 0.15, *max)],
                    BLACK.stroke_width(1),
                ),
            ];
            chart.draw_series(shapes).map_err(&err)?;
            chart
                .draw_series([Rectangle::new(
                    [(x - 0.3, *q1), (x + 0.3, *q3)],
                    color.mix(0.5).filled(),
                )])
                .map_err(&err)?;
            chart
                .draw_series([PathElement::new(
                    vec![(x - 0.3, *med), (x + 0.3, *med)],
                    BLACK.stroke_width(3),
                )])
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Mean MiB per every-update versus layer budget, one line per strategy (default parameters),
/// and a thick grey line through the best peer at each budget.
pub fn budget(sim: &Simulation, rows: &[SummaryRow], path: &Path) -> Result<String> {
    let err = plot_err(path);
    let every: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| r.client == Client::Every && r.params.is_empty() && !r.oracle)
        .collect();
    let mut strategies: Vec<&str> = Vec::new();
    for r in &every {
        if !strategies.contains(&r.strategy.as_str()) {
            strategies.push(&r.strategy);
        }
    }
    let x1 = every.iter().map(|r| r.max_layers).max().unwrap_or(1) as f64;
    let y1 = rows
        .iter()
        .filter(|r| r.client == Client::Every)
        .map(|r| r.summary.mean_download_bytes / MIB)
        .fold(0.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: mean download per update vs layer budget", sim.history),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1 * 1.05 + 1.0, 0.0..(y1 * 1.05).max(0.001))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("--max-layers")
            .y_desc("mean MiB per update (uncompressed)")
            .draw()
            .map_err(&err)?;
        for (i, s) in strategies.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = every
                .iter()
                .filter(|r| r.strategy == *s)
                .map(|r| (r.max_layers as f64, r.summary.mean_download_bytes / MIB))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(&err)?
                .label(*s)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(&err)?;
        }
        // The best peer at each budget (its name is in the summary's budget table).
        let mut best: Vec<(f64, f64)> = Vec::new();
        for r in &every {
            let x = r.max_layers as f64;
            if let (Some(ratio), false) = (r.best_peer_ratio, best.iter().any(|p| p.0 == x)) {
                if ratio > 0.0 {
                    best.push((x, r.summary.mean_download_bytes / MIB / ratio));
                }
            }
        }
        best.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !best.is_empty() {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(LineSeries::new(best, grey.stroke_width(5).filled()))
                .map_err(&err)?
                .label("best peer")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(5))
                });
        }
        // The oracle ignores the budget: a flat reference line.
        if let Some(oracle) = rows.iter().find(|r| r.client == Client::Every && r.oracle) {
            let y = oracle.summary.mean_download_bytes / MIB;
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, y), (x1 * 1.05 + 1.0, y)],
                    BLACK.stroke_width(1),
                ))
                .map_err(&err)?
                .label(format!("{} (oracle)", oracle.label))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// min, lower quartile, median, upper quartile, max of sorted, non-empty values.
fn five_numbers(sorted: &[f64]) -> [f64; 5] {
    let at = |q: f64| {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    [
        sorted[0],
        at(0.25),
        at(0.5),
        at(0.75),
        sorted[sorted.len() - 1],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_numbers_interpolate_quartiles() {
        assert_eq!(
            five_numbers(&[1.0, 2.0, 3.0, 4.0, 5.0]),
            [1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(five_numbers(&[0.0, 10.0]), [0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(five_numbers(&[7.0]), [7.0; 5]);
    }
}

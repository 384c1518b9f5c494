//! Plots of the held-out evaluation: α-λ per engine (prediction, interval and the ±α cone
//! around the true RUL, with the λ checkpoints marked) and the maintenance-policy curves
//! (failures against useful life given away, model policies vs the fixed schedule).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{DrawResult, PlotError, wrap};
use crate::evaluate::prognostic::{ALPHA_LAMBDA_ALPHA, EngineTrack, LAMBDAS, alpha_lambda};
use crate::evaluate::{EvalReport, PolicyRow};

/// Engines drawn in the α-λ grid.
pub const ALPHA_LAMBDA_ENGINES: usize = 12;

/// Writes `alpha_lambda.png` (from `tracks`) and `policy.png` (from the report's held-out
/// policy table) into `dir`; nothing is written without held-out data.
pub fn write_prognostic_plots(
    report: &EvalReport,
    tracks: &[EngineTrack],
    dir: &Path,
) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut written = Vec::new();
    if !tracks.is_empty() {
        let path = dir.join("alpha_lambda.png");
        wrap(&path, draw_alpha_lambda(report, tracks, &path))?;
        written.push(path);
    }
    if let Some(h) = &report.heldout {
        let path = dir.join("policy.png");
        let p = &h.policy;
        wrap(
            &path,
            draw_policy(
                &format!(
                    "{}: maintenance policies on {} held-out engines",
                    report.subset, p.engines
                ),
                &[
                    ("lower bound < T", &p.lower_bound, BLUE),
                    ("point estimate < T", &p.point, RED),
                    ("fixed interval K", &p.fixed, BLACK),
                ],
                &path,
            ),
        )?;
        written.push(path);
    }
    Ok(written)
}

fn draw_alpha_lambda(report: &EvalReport, tracks: &[EngineTrack], path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, (1600, 1050)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "{} {}: alpha-lambda (alpha = {}) on held-out engines; grey cone = true RUL +- alpha, blue = prediction \
             and interval, markers at λ = 0.25/0.5/0.75 (green inside, red outside)",
            report.subset, report.version, ALPHA_LAMBDA_ALPHA
        ),
        ("sans-serif", 16),
    )?;
    let panels = root.split_evenly((3, 4));
    for (panel, t) in panels
        .iter()
        .zip(tracks.iter().filter(|t| t.complete()))
        .take(ALPHA_LAMBDA_ENGINES)
    {
        let x_lo = t.cycle.first().copied().unwrap_or(0.0);
        let x_hi = t.eol.max(x_lo + 1.0);
        let y_hi = (t.eol - x_lo)
            .max(t.upper.iter().copied().fold(10.0, f64::max))
            .max(10.0)
            * 1.05;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{} unit {} (life {})", t.set, t.unit, t.eol),
                ("sans-serif", 14),
            )
            .margin(6)
            .x_label_area_size(25)
            .y_label_area_size(35)
            .build_cartesian_2d(x_lo..x_hi, 0f64..y_hi)?;
        chart.configure_mesh().draw()?;
        let a = ALPHA_LAMBDA_ALPHA;
        let cone: Vec<(f64, f64)> = [(x_lo, 1.0 + a), (x_hi, 1.0 + a)]
            .into_iter()
            .chain([(x_hi, 1.0 - a), (x_lo, 1.0 - a)])
            .map(|(x, f)| (x, f * (t.eol - x)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(
            cone,
            BLACK.mix(0.12).filled(),
        )))?;
        let band: Vec<(f64, f64)> = t
            .cycle
            .iter()
            .zip(&t.upper)
            .map(|(&c, &u)| (c, u))
            .chain(t.cycle.iter().zip(&t.lower).rev().map(|(&c, &l)| (c, l)))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.12).filled())))?;
        chart.draw_series(LineSeries::new(
            [(x_lo, t.eol - x_lo), (x_hi, 0.0)],
            BLACK.stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(
            t.cycle.iter().zip(&t.pred).map(|(&c, &p)| (c, p)),
            BLUE.stroke_width(2),
        ))?;
        for &l in &LAMBDAS {
            let (Some(tl), Some(hit)) = (t.lambda_time(l), alpha_lambda(t, l, a, f64::INFINITY))
            else {
                continue;
            };
            let k = t.cycle.iter().position(|&c| c >= tl - 1e-9).unwrap_or(0);
            let color = if hit { GREEN } else { RED };
            chart.draw_series(std::iter::once(Circle::new(
                (t.cycle[k], t.pred[k]),
                5,
                color.filled(),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

fn draw_policy(
    title: &str,
    series: &[(&str, &Vec<PolicyRow>, RGBColor)],
    path: &Path,
) -> DrawResult {
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let y_hi = series
        .iter()
        .flat_map(|(_, rows, _)| rows.iter().map(|r| r.mean_given_away))
        .fold(10.0f64, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, 0f64..y_hi)?;
    chart
        .configure_mesh()
        .x_desc("engines failed before maintenance (%)")
        .y_desc("mean useful life given away (cycles)")
        .draw()?;
    for (name, rows, color) in series {
        let color = *color;
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.failure_rate * 100.0, r.mean_given_away))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

//! PNG plots of an evaluation (plotters' bitmap backend): predicted vs true RUL at the last
//! cycle, the error histogram, and RUL trajectories of a few test engines; [`prognostic`] adds
//! the held-out α-λ grid and the maintenance-policy curves.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::evaluate::EvalReport;

pub mod prognostic;

pub use prognostic::write_prognostic_plots;

/// Why a plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {problem}")]
pub struct PlotError {
    /// The PNG being written.
    pub path: PathBuf,
    /// What failed (I/O, fonts, drawing).
    pub problem: String,
}

const SIZE: (u32, u32) = (900, 700);

/// Writes `scatter.png`, `errors.png` and `trajectories.png` into `dir`; returns their paths.
pub fn write_plots(report: &EvalReport, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    let scatter = dir.join("scatter.png");
    let errors = dir.join("errors.png");
    let traj = dir.join("trajectories.png");
    wrap(&scatter, draw_scatter(report, &scatter))?;
    wrap(&errors, draw_errors(report, &errors))?;
    wrap(&traj, draw_trajectories(report, &traj))?;
    Ok(vec![scatter, errors, traj])
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn wrap(path: &Path, r: DrawResult) -> Result<(), PlotError> {
    r.map_err(|e| PlotError {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

fn draw_scatter(report: &EvalReport, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let max = report
        .predictions
        .iter()
        .flat_map(|p| [p.truth, p.pred, p.upper])
        .fold(10.0f64, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} {}: predicted vs true RUL at last cycle (RMSE {:.2})",
                report.subset, report.version, report.last_cycle.raw.rmse
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..max, 0f64..max)?;
    chart
        .configure_mesh()
        .x_desc("true RUL (cycles)")
        .y_desc("predicted RUL (cycles)")
        .draw()?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (max, max)], BLACK.mix(0.5)))?;
    chart.draw_series(report.predictions.iter().map(|p| {
        PathElement::new(
            [(p.truth, p.lower), (p.truth, p.upper)],
            BLUE.mix(0.25).stroke_width(1),
        )
    }))?;
    chart.draw_series(report.predictions.iter().map(|p| {
        let inside = p.truth >= p.lower && p.truth <= p.upper;
        let color = if inside { BLUE } else { RED };
        Circle::new((p.truth, p.pred), 3, color.filled())
    }))?;
    root.present()?;
    Ok(())
}

fn draw_errors(report: &EvalReport, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let errors: Vec<f64> = report
        .predictions
        .iter()
        .map(|p| p.pred - p.truth)
        .collect();
    let width = 5.0;
    let lo = (errors.iter().cloned().fold(-10.0f64, f64::min) / width).floor() * width;
    let hi = (errors.iter().cloned().fold(10.0f64, f64::max) / width).ceil() * width;
    let bins = (((hi - lo) / width) as usize).max(1);
    let mut counts = vec![0usize; bins];
    for e in &errors {
        let k = (((e - lo) / width) as usize).min(bins - 1);
        counts[k] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: error (predicted - true) at last cycle, MAE {:.2}, score {:.0}",
                report.subset, report.last_cycle.raw.mae, report.last_cycle.raw.score
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..hi, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("error (cycles); positive = late")
        .y_desc("engines")
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(k, &c)| {
        let x0 = lo + k as f64 * width;
        let color = if x0 >= 0.0 { RED } else { BLUE };
        Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], color.mix(0.6).filled())
    }))?;
    root.present()?;
    Ok(())
}

fn draw_trajectories(report: &EvalReport, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, (1200, 750)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 3));
    for (panel, t) in panels.iter().zip(&report.trajectories) {
        let x_lo = t.cycle.first().copied().unwrap_or(0) as f64;
        let x_hi = (t.cycle.last().copied().unwrap_or(1) as f64).max(x_lo + 1.0);
        let y_hi = t
            .truth
            .iter()
            .chain(&t.upper)
            .fold(10.0f64, |a, &b| a.max(b))
            * 1.05;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("unit {}", t.unit), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x_lo..x_hi, 0f64..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("cycle")
            .y_desc("RUL")
            .draw()?;
        let band: Vec<(f64, f64)> = t
            .cycle
            .iter()
            .zip(&t.upper)
            .map(|(&c, &u)| (c as f64, u))
            .chain(
                t.cycle
                    .iter()
                    .zip(&t.lower)
                    .rev()
                    .map(|(&c, &l)| (c as f64, l)),
            )
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15).filled())))?;
        chart.draw_series(LineSeries::new(
            t.cycle.iter().zip(&t.truth).map(|(&c, &v)| (c as f64, v)),
            BLACK.stroke_width(2),
        ))?;
        chart.draw_series(LineSeries::new(
            t.cycle.iter().zip(&t.pred).map(|(&c, &v)| (c as f64, v)),
            BLUE.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

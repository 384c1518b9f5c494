//! `rul evaluate`: score an artifact on a subset's official test set and, for the model's own
//! subset, on its held-out run-to-failure engines (prognostic metrics, maintenance policies).

use anyhow::Context;
use clap::Args;
use rul_data::{Subset, load_subset, resolve_data_dir};
use rul_model::artifact::Artifact;
use rul_model::evaluate::{EvalReport, PolicyRow, evaluate_subset};
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    /// Artifact directory.
    #[arg(long)]
    model: PathBuf,
    /// Subset whose test set to use (default: the model's own).
    #[arg(long)]
    subset: Option<Subset>,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
    /// Write scatter, error-histogram, trajectory, alpha-lambda and policy PNGs into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let artifact =
        Artifact::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let subset = args.subset.unwrap_or(artifact.card().subset);
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let data = load_subset(&dir, subset)
        .with_context(|| format!("loading {subset} from {}", dir.display()))?;
    let (report, tracks) = evaluate_subset(&artifact, &data).context("evaluating")?;
    if let Some(plots) = &args.plots {
        let mut written = rul_model::plots::write_plots(&report, plots)?;
        written.extend(rul_model::plots::write_prognostic_plots(
            &report, &tracks, plots,
        )?);
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The human-readable table: raw truth is the headline, capped truth for comparison with papers.
pub fn print_report(r: &EvalReport) {
    println!(
        "model {} on {} test set ({} engines)",
        r.version, r.subset, r.engines
    );
    println!("{:<34} {:>8} {:>8} {:>10}", "", "RMSE", "MAE", "PHM08");
    let rows = [
        ("last cycle, raw truth (headline)", &r.last_cycle.raw),
        ("last cycle, truth capped at ceiling", &r.last_cycle.capped),
        ("all cycles, raw truth", &r.all_cycles.raw),
        ("all cycles, truth capped", &r.all_cycles.capped),
    ];
    for (name, m) in rows {
        println!(
            "{name:<34} {:>8.3} {:>8.3} {:>10.1}",
            m.rmse, m.mae, m.score
        );
    }
    println!(
        "{:.0}% intervals: coverage {:.1}% (last cycle), {:.1}% (all cycles); mean width {:.1} cycles",
        r.intervals.level * 100.0,
        r.intervals.coverage * 100.0,
        r.intervals_all_cycles.coverage * 100.0,
        r.intervals.mean_width
    );
    println!("intervals by true RUL:        last cycle                 all cycles");
    for (a, b) in r
        .interval_buckets
        .iter()
        .zip(&r.interval_buckets_all_cycles)
    {
        println!(
            "  {:<8} n {:>4} cover {:>5.1}% width {:>5.1}   n {:>6} cover {:>5.1}% width {:>5.1}",
            bucket_name(a),
            a.count,
            a.coverage * 100.0,
            a.mean_width,
            b.count,
            b.coverage * 100.0,
            b.mean_width
        );
    }
    println!(
        "confidence: ECE {:.3} (last cycle), {:.3} (all cycles)",
        r.ece, r.ece_all_cycles
    );
    println!("confidence reliability (last cycle): predicted → observed (n)");
    for b in r.reliability.iter().filter(|b| b.count > 0) {
        println!(
            "  [{:.1}, {:.1}): {:.2} → {:.2} ({})",
            b.lo, b.hi, b.mean_confidence, b.observed, b.count
        );
    }
    if let Some(p) = &r.prognostics {
        println!(
            "test trajectories (truncated; raw truth): alpha-lambda (alpha {}) {}",
            p.alpha,
            lambda_cells(p)
        );
    }
    if let Some(h) = &r.heldout {
        println!(
            "held-out run-to-failure engines: {} validation + {} calibration",
            h.validation_units.len(),
            h.calibration_units.len()
        );
        for p in [&h.prognostics, &h.prognostics_capped] {
            println!(
                "  {:<6} alpha-lambda {}; PH (alpha {}) first {} / stable {} (median {}) cycles; CRA {}; convergence {}",
                p.truth,
                lambda_cells(p),
                p.ph_alpha,
                opt(p.mean_ph, 1),
                opt(p.mean_ph_stable, 1),
                opt(p.median_ph_stable, 1),
                opt(p.mean_cra, 3),
                opt(p.mean_convergence, 1)
            );
        }
        println!(
            "  validation windows: {:.0}% intervals cover {:.1}%, width {:.1}; confidence ECE {:.3}",
            h.validation_intervals.level * 100.0,
            h.validation_intervals.coverage * 100.0,
            h.validation_intervals.mean_width,
            h.validation_ece
        );
        let p = &h.policy;
        println!(
            "  maintenance policy on {} engines (failures / mean cycles given away):",
            p.engines
        );
        println!(
            "    {:>5} {:>16} {:>16}",
            "T", "lower bound < T", "point < T"
        );
        for (a, b) in p.lower_bound.iter().zip(&p.point).step_by(2) {
            println!("    {:>5.0} {:>16} {:>16}", a.threshold, cell(a), cell(b));
        }
        let show = |name: &str, what: &str, row: &Option<PolicyRow>| match row {
            Some(x) => println!(
                "  {name}: {what} {:.0} keeps failures at {}/{} ({:.1}%), giving away {:.1} cycles",
                x.threshold,
                x.failures,
                p.engines,
                x.failure_rate * 100.0,
                x.mean_given_away
            ),
            None => println!("  {name}: no setting keeps failures within target"),
        };
        let target = format!("≤ {:.0}% failures", p.target_failure_rate * 100.0);
        show(
            &format!("lower bound ({target})"),
            "T",
            &p.recommended_lower,
        );
        show(
            &format!("point estimate ({target})"),
            "T",
            &p.recommended_point,
        );
        show(
            &format!("fixed schedule ({target})"),
            "K",
            &p.recommended_fixed,
        );
    }
}

fn bucket_name(b: &rul_model::evaluate::BucketStats) -> String {
    match b.hi {
        Some(hi) => format!("{:.0}-{:.0}", b.lo, hi),
        None => format!(">{:.0}", b.lo),
    }
}

fn lambda_cells(p: &rul_model::evaluate::PrognosticSummary) -> String {
    p.lambdas
        .iter()
        .map(|l| {
            format!(
                "λ{}: {:.0}% (RA {:.2}, n {})",
                l.lambda,
                l.alpha_lambda * 100.0,
                l.mean_ra,
                l.engines
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

fn cell(r: &PolicyRow) -> String {
    format!("{} / {:.1}", r.failures, r.mean_given_away)
}

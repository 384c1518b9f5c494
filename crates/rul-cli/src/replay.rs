//! `rul replay`: stream a C-MAPSS split into a running service cycle by cycle and print the fleet's ranking.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use rul_client::{ReplayConfig, Target};
use rul_data::Subset;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Split {
    Train,
    Test,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Route {
    Grpc,
    Rest,
    Mqtt,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// C-MAPSS subset (FD001..FD004).
    #[arg(long, default_value = "FD001")]
    subset: String,
    /// Which file's engines to replay.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Transport.
    #[arg(long, value_enum, default_value = "grpc")]
    to: Route,
    /// Readings per second across the fleet, or "max".
    #[arg(long, default_value = "max")]
    rate: String,
    /// gRPC address of the service.
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc: String,
    /// REST base URL of the service (with --to mqtt, asked for the final ranking).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    http: String,
    /// MQTT broker the service subscribes to (--to mqtt): mqtt://[user[:password]@]host[:port].
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    mqtt: String,
    /// The service's MQTT_TOPIC_PREFIX (--to mqtt).
    #[arg(long, default_value = "rul")]
    topic_prefix: String,
    /// Replay only the first N engines.
    #[arg(long)]
    engines: Option<usize>,
    /// Replay each engine this many times as distinct engines (copy k has unit number `unit + 1000·k`), to
    /// load a large fleet.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    copies: u32,
    /// Keep only each engine's first N cycles.
    #[arg(long)]
    cycles: Option<usize>,
    /// Engine id prefix (default "<subset>-<split>-"); ids end in the 3-digit unit number.
    #[arg(long)]
    prefix: Option<String>,
    /// C-MAPSS directory (default $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Replay only the engines replica I of N owns (`I/N`, 0-based; the service's FLEET_REPLICA and
    /// FLEET_REPLICAS): one replay per replica keeps every engine on its owner.
    #[arg(long, value_parser = parse_replica)]
    replica: Option<rul_fleet::Ownership>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_replica(text: &str) -> Result<rul_fleet::Ownership, String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("expected I/N, got {text:?}"))?;
    let own = rul_fleet::Ownership {
        replica: i
            .trim()
            .parse()
            .map_err(|_| format!("bad replica index {i:?}"))?,
        replicas: n
            .trim()
            .parse()
            .map_err(|_| format!("bad replica count {n:?}"))?,
    };
    own.validate()?;
    Ok(own)
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let subset: Subset = args.subset.parse().map_err(anyhow::Error::msg)?;
    let dir = rul_data::resolve_data_dir(args.data_dir.as_deref());
    let data = rul_data::load_subset(&dir, subset)
        .with_context(|| format!("reading {subset} from {}", dir.display()))?;
    let (name, mut engines) = match args.split {
        Split::Train => ("train", data.train),
        Split::Test => ("test", data.test),
    };
    if let Some(n) = args.engines {
        engines.truncate(n);
    }
    if let Some(n) = args.cycles {
        engines.iter_mut().for_each(|e| e.cycles.truncate(n));
    }
    let originals = engines.clone();
    for k in 1..args.copies {
        engines.extend(originals.iter().map(|e| rul_data::Engine {
            unit: e.unit + 1000 * k,
            cycles: e.cycles.clone(),
        }));
    }
    let rate = match args.rate.as_str() {
        "max" => None,
        r => Some(
            r.trim_end_matches("/s")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .with_context(|| format!("--rate must be a positive number or max, got {r:?}"))?,
        ),
    };
    let id_prefix = args
        .prefix
        .unwrap_or_else(|| format!("{}-{name}-", subset.name()));
    if let Some(own) = args.replica {
        engines.retain(|e| own.owns(&rul_client::replay::engine_id(&id_prefix, e)));
    }
    let config = ReplayConfig {
        engines,
        id_prefix,
        target: match args.to {
            Route::Grpc => Target::Grpc(args.grpc),
            Route::Rest => Target::Rest(args.http),
            Route::Mqtt => Target::Mqtt(
                mqtt_target(&args.mqtt, &args.topic_prefix)?,
                Some(args.http),
            ),
        },
        rate,
        progress: !args.json,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(rul_client::replay(config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "sent {} readings: {} accepted, {} duplicates, {} errors in {:.2} s ({:.0} readings/s)",
            report.sent,
            report.accepted,
            report.duplicates,
            report.errors,
            report.seconds,
            report.readings_per_second
        );
        if let Some(m) = &report.mqtt {
            println!(
                "MQTT: {} readings acknowledged by the broker ({:.0}/s), {} predictions and {} dead letters received in {:.2} s",
                m.broker_acked,
                report.readings_per_second,
                m.predictions,
                m.dead_letters,
                m.seconds
            );
        }
        if let Some(e) = &report.first_error {
            println!("first error: {e}");
        }
        println!("most urgent engines (tracked RUL, 90 % interval):");
        for r in &report.ranking {
            println!(
                "  {:<24} cycle {:>4}  RUL {:>6.1}  [{:>6.1}, {:>6.1}]  model {:>6.1}",
                r.engine_id, r.cycle, r.rul, r.lower, r.upper, r.rul_model
            );
        }
    }
    anyhow::ensure!(
        report.errors == 0,
        "{} readings were refused",
        report.errors
    );
    Ok(())
}

/// The broker and prefix of `--to mqtt`, checked with the server's own rules.
fn mqtt_target(url: &str, prefix: &str) -> anyhow::Result<rul_client::MqttTarget> {
    let broker =
        rul_server::config::Broker::parse(url).map_err(|e| anyhow::anyhow!("--mqtt: {e}"))?;
    if let Some(reason) = rul_server::config::prefix_problem(prefix) {
        anyhow::bail!("--topic-prefix {reason}");
    }
    Ok(rul_client::MqttTarget {
        broker: rul_client::Broker {
            host: broker.host,
            port: broker.port,
            credentials: broker.credentials,
        },
        prefix: prefix.to_string(),
    })
}

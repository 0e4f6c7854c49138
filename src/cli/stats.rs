//! `berth stats`: Docker's live table of CPU, memory, network and block I/O and pids, `--no-stream` for one
//! reading, `--format json` for Docker's JSON lines.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use berth_engine::Engine;
use berth_engine::container::{ContainerRecord, ListOptions, Status};
use berth_engine::display::memory;
use berth_engine::stats::StatsSnapshot;
use clap::Args;
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::{Stream, StreamExt};
use serde_json::json;

use super::format::{Format, human_size};

/// How often the engine samples and the table is redrawn, as Docker does.
const INTERVAL: Duration = Duration::from_secs(1);

/// How far apart `--no-stream`'s two readings are: enough for the CPU time of a busy container to show,
/// short enough that one reading of many containers stays well under a tenth of a second.
const NO_STREAM_WINDOW: Duration = Duration::from_millis(50);

/// Docker's terminal sequence: clear the screen, cursor home.
const CLEAR: &str = "\x1b[2J\x1b[H";

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub(super) no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
    /// Containers to show (default: all running)
    containers: Vec<String>,
}

/// Docker's default stats table.
const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Docker's stats columns: each row key's table header.
const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One container of the table and its latest figures.
struct Row {
    id: String,
    name: String,
    /// The container as the user named it, Docker's `Container` key.
    label: String,
    /// Still streaming; a running container without a snapshot shows "--" until its first one.
    live: bool,
    snapshot: Option<StatsSnapshot>,
    /// Named on the command line or listed by `-a`: kept in the table with zeros once it stops.
    keep: bool,
}

/// A stream's reading, or its end.
type Update = (usize, Option<Result<StatsSnapshot, berth_engine::Error>>);

pub async fn run(engine: &Engine, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(args.format.as_deref(), DEFAULT_TABLE)?;
    let records = targets(engine, &args)?;
    let keep = args.all || !args.containers.is_empty();
    if args.no_stream {
        return one_reading(engine, records, keep, &format, args.no_trunc).await;
    }
    let mut rows = Vec::new();
    let mut updates: SelectAll<BoxStream<'static, Update>> = SelectAll::new();
    for (label, rec) in records {
        let index = rows.len();
        let live = matches!(rec.status, Status::Running | Status::Paused);
        rows.push(Row { id: rec.id.clone(), name: rec.name.clone(), label, live, snapshot: None, keep });
        if live {
            match engine.stats_stream(&rec.id, INTERVAL) {
                Ok(s) => updates.push(tagged(index, s)),
                // It stopped since it was listed.
                Err(berth_engine::Error::Stats(_)) => rows[index].live = false,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let tty = std::io::stdout().is_terminal();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Redraws a little after each round of samples.
    let mut redraw = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL + INTERVAL / 10, INTERVAL);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            Some(update) = updates.next(), if !updates.is_empty() => apply(&mut rows, update),
            _ = redraw.tick() => {
                rows.retain(|r| r.live || r.keep);
                print(&rows, &format, args.no_trunc, tty)?;
            }
        }
    }
}

/// `--no-stream`: every container read twice [`NO_STREAM_WINDOW`] apart, in one pass each.
async fn one_reading(
    engine: &Engine,
    records: Vec<(String, ContainerRecord)>,
    keep: bool,
    format: &Format,
    no_trunc: bool,
) -> anyhow::Result<ExitCode> {
    let recs: Vec<ContainerRecord> = records.iter().map(|(_, rec)| rec.clone()).collect();
    let readings = engine.stats_now(&recs, NO_STREAM_WINDOW).await;
    let mut rows = Vec::new();
    for ((label, rec), reading) in records.into_iter().zip(readings) {
        let snapshot = match reading {
            Ok(snapshot) => snapshot,
            // It stopped since it was listed.
            Err(berth_engine::Error::Stats(_)) => None,
            Err(e) => return Err(e.into()),
        };
        rows.push(Row { id: rec.id, name: rec.name, label, live: snapshot.is_some(), snapshot, keep });
    }
    print(&rows, format, no_trunc, false)?;
    Ok(ExitCode::SUCCESS)
}

/// The named containers (an unknown name fails the command, as Docker's does), or every running container
/// (every container with `-a`).
fn targets(engine: &Engine, args: &StatsArgs) -> anyhow::Result<Vec<(String, ContainerRecord)>> {
    if args.containers.is_empty() {
        let list = engine.list_containers(&ListOptions { all: args.all, filters: Vec::new() })?;
        return Ok(list.into_iter().map(|rec| (rec.short_id().to_string(), rec)).collect());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for name in &args.containers {
        let rec = engine.container(name)?;
        if seen.insert(rec.id.clone()) {
            out.push((name.clone(), rec));
        }
    }
    Ok(out)
}

fn tagged(
    index: usize,
    snapshots: impl Stream<Item = Result<StatsSnapshot, berth_engine::Error>> + Send + 'static,
) -> BoxStream<'static, Update> {
    let end = stream::once(async move { (index, None) });
    snapshots.map(move |r| (index, Some(r))).chain(end).boxed()
}

fn apply(rows: &mut [Row], (index, update): Update) {
    let Some(row) = rows.get_mut(index) else { return };
    match update {
        Some(Ok(snapshot)) => row.snapshot = Some(snapshot),
        Some(Err(e)) => {
            eprintln!("Error: stats of {}: {e}", row.label);
            row.live = false;
            row.snapshot = None;
        }
        None => {
            row.live = false;
            row.snapshot = None;
        }
    }
}

/// Docker's columns for one row: CPU %, mem usage / limit, mem %, net I/O, block I/O, pids.
fn cells(row: &Row) -> [String; 6] {
    match (&row.snapshot, row.live) {
        (Some(s), _) => {
            let st = &s.stats;
            [
                format!("{:.2}%", s.cpu_percent),
                format!("{} / {}", memory(st.memory_usage), memory(st.memory_limit)),
                format!("{:.2}%", s.memory_percent),
                format!("{} / {}", human_size(st.net_rx), human_size(st.net_tx)),
                format!("{} / {}", human_size(st.block_read), human_size(st.block_write)),
                st.pids.to_string(),
            ]
        }
        (None, true) => ["--", "-- / --", "--", "--", "--", "--"].map(String::from),
        (None, false) => ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"].map(String::from),
    }
}

fn short(id: &str, no_trunc: bool) -> &str {
    if no_trunc { id } else { &id[..id.len().min(12)] }
}

/// One row as docker's stats JSON object, the data `--format` templates read.
fn row_json(row: &Row, no_trunc: bool) -> serde_json::Value {
    let [cpu, mem, mem_perc, net, block, pids] = cells(row);
    json!({
        "BlockIO": block,
        "CPUPerc": cpu,
        "Container": row.label,
        "ID": short(&row.id, no_trunc),
        "MemPerc": mem_perc,
        "MemUsage": mem,
        "Name": row.name,
        "NetIO": net,
        "PIDs": pids,
    })
}

fn render(rows: &[Row], format: &Format, no_trunc: bool) -> anyhow::Result<String> {
    let objects: Vec<serde_json::Value> = rows.iter().map(|row| row_json(row, no_trunc)).collect();
    format.render(&objects, STATS_HEADERS)
}

fn print(rows: &[Row], format: &Format, no_trunc: bool, clear: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if clear {
        out.write_all(CLEAR.as_bytes())?;
    }
    out.write_all(render(rows, format, no_trunc)?.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use berth_engine::stats::Stats;

    use super::*;

    fn row(snapshot: Option<StatsSnapshot>, live: bool) -> Row {
        Row { id: "0123456789abcdef".into(), name: "web".into(), label: "web".into(), live, snapshot, keep: true }
    }

    fn snapshot() -> StatsSnapshot {
        let stats = Stats {
            memory_usage: 1536 * 1024,
            memory_limit: 100 << 20,
            net_rx: 1296,
            net_tx: 0,
            block_read: 4096,
            block_write: 12_000_000,
            pids: 3,
            ..Stats::default()
        };
        StatsSnapshot {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            cpu_percent: 99.456,
            memory_percent: 1.5,
            stats,
        }
    }

    /// A table line's cells: columns are apart by three spaces or more, cells hold single spaces.
    fn columns(line: &str) -> Vec<&str> {
        line.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect()
    }

    #[test]
    fn table_has_dockers_columns() {
        let table = Format::parse(None, DEFAULT_TABLE).unwrap();
        let text = render(&[row(Some(snapshot()), true), row(None, true), row(None, false)], &table, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            columns(lines[0]),
            ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
        );
        assert_eq!(
            columns(lines[1]),
            ["0123456789ab", "web", "99.46%", "1.5MiB / 100MiB", "1.50%", "1.3kB / 0B", "4.1kB / 12MB", "3"]
        );
        assert_eq!(columns(lines[2])[2..], ["--", "-- / --", "--", "--", "--", "--"], "before the first sample");
        assert_eq!(columns(lines[3])[2..], ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"], "stopped");
        let header_at = |name: &str| lines[0].find(name).unwrap();
        assert_eq!(lines[1].find("99.46%"), Some(header_at("CPU %")), "cells line up under their headers");
    }

    #[test]
    fn json_has_dockers_keys() {
        let json = Format::parse(Some("json"), DEFAULT_TABLE).unwrap();
        let text = render(&[row(Some(snapshot()), true)], &json, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["ID"], "0123456789abcdef");
        assert_eq!(v["MemUsage"], "1.5MiB / 100MiB");
        assert_eq!(v["CPUPerc"], "99.46%");
        assert_eq!(v["NetIO"], "1.3kB / 0B");
        assert_eq!(v["PIDs"], "3");
        for key in ["Name", "Container", "MemPerc", "BlockIO"] {
            assert!(v.get(key).is_some(), "{key} missing: {text}");
        }
    }

    #[test]
    fn templates_read_the_json_keys() {
        let format = Format::parse(Some("{{.Name}} {{.MemUsage}}"), DEFAULT_TABLE).unwrap();
        assert_eq!(render(&[row(Some(snapshot()), true)], &format, false).unwrap(), "web 1.5MiB / 100MiB\n");
        let format = Format::parse(Some("table {{.Name}}\\t{{.PIDs}}"), DEFAULT_TABLE).unwrap();
        let text = render(&[row(Some(snapshot()), true)], &format, false).unwrap();
        assert_eq!(text, "NAME      PIDS\nweb       3\n");
    }
}

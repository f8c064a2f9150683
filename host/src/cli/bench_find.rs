//! `pylantir bench-find`: a C-FIND load client. C concurrent workers send K
//! queries each (one association each, or a new association per query; plain
//! TCP, or TLS with `--tls`) and report queries/s, datasets/s, latency
//! percentiles and the client's own CPU time per query. `--seed-db` fills a database with test items instead.

use super::echo::{connect, ConnectionArgs};
use crate::store::db::{self, DbError};
use crate::store::postgres::Target;
use crate::store::{Location, Store};
use clap::Args;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `bench-find`.
#[derive(Debug, Args)]
pub struct BenchFindArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Concurrent workers.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Queries per worker.
    #[arg(long, default_value_t = 250)]
    pub queries: usize,
    /// Open a new association for every query (as scanners do).
    #[arg(long)]
    pub new_association: bool,
    /// Modality to query (scanner-style query).
    #[arg(long, default_value = "MR")]
    pub modality: String,
    /// Station AE title to query (scanner-style query).
    #[arg(long, default_value = "SCANNER1")]
    pub station_aet: String,
    /// SPS date to query (default: today).
    #[arg(long)]
    pub date: Option<String>,
    /// Query everything (no matching keys) instead.
    #[arg(long)]
    pub universal: bool,
    /// Fill this database with `--items` test items and exit.
    #[arg(long)]
    pub seed_db: Option<PathBuf>,
    /// Fill this PostgreSQL database (`postgres://user@host:port/db`)
    /// with `--items` test items and exit.
    #[arg(long, value_name = "URL", conflicts_with = "seed_db")]
    pub seed_db_url: Option<String>,
    /// Items to create with `--seed-db` or `--seed-db-url`.
    #[arg(long, default_value_t = 10_000)]
    pub items: usize,
}

fn element(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    if value.is_empty() {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    } else {
        DataElement::new(tag, vr, PrimitiveValue::from(value))
    }
}

fn query(args: &BenchFindArgs, today: &str) -> InMemDicomObject {
    let (modality, station, date) = if args.universal {
        ("", "", "")
    } else {
        (
            args.modality.as_str(),
            args.station_aet.as_str(),
            args.date.as_deref().unwrap_or(today),
        )
    };
    let sps = InMemDicomObject::from_element_iter([
        element(tags::MODALITY, VR::CS, modality),
        element(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, station),
        element(tags::SCHEDULED_PROCEDURE_STEP_START_DATE, VR::DA, date),
        element(tags::SCHEDULED_PROCEDURE_STEP_START_TIME, VR::TM, ""),
        element(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, ""),
        element(tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION, VR::LO, ""),
    ]);
    InMemDicomObject::from_element_iter([
        element(tags::PATIENT_NAME, VR::PN, ""),
        element(tags::PATIENT_ID, VR::LO, ""),
        element(tags::PATIENT_BIRTH_DATE, VR::DA, ""),
        element(tags::PATIENT_SEX, VR::CS, ""),
        element(tags::ACCESSION_NUMBER, VR::SH, ""),
        element(tags::STUDY_INSTANCE_UID, VR::UI, ""),
        element(tags::REQUESTED_PROCEDURE_ID, VR::SH, ""),
        DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![sps], Length::UNDEFINED),
        ),
    ])
}

/// CPU time (user + system) this process has used, from /proc (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn seed(location: Location, items: usize) -> Result<(), String> {
    let store = Store::open(location).map_err(|e| e.to_string())?;
    let conn = store.get().map_err(|e| e.to_string())?;
    let today = jiff::ZonedDateTime::now().date();
    db::write(&*conn, |tx| {
        const INSERT: &str = "INSERT INTO worklist_items (patient_name, patient_id, \
             patient_birth_date, patient_sex, accession_number, study_instance_uid, modality, \
             scheduled_station_aetitle, scheduled_start_date, scheduled_start_time, protocol_name, \
             data_source, source_record_id) \
             VALUES (?1, ?2, '19800101', 'M', ?3, ?4, ?5, ?6, ?7, ?8, 'BRAIN', 'bench', ?9)";
        // 5 stations x 2 modalities x `days` days, ~20 items each.
        let days = (items / 200).max(1) as i64;
        for i in 0..items {
            let offset = (i / 10) as i64 % days - days / 2;
            let date = today
                .checked_add(jiff::Span::new().days(offset))
                .unwrap_or(today);
            let (date, time) = if i % 2 == 0 {
                (
                    date.strftime("%Y-%m-%d").to_string(),
                    format!("{:02}:{:02}", 8 + i % 10, i % 60),
                )
            } else {
                (
                    date.strftime("%Y%m%d").to_string(),
                    format!("{:02}{:02}00", 8 + i % 10, i % 60),
                )
            };
            let station = format!("SCANNER{}", i % 5 + 1);
            let modality = if (i / 5) % 2 == 0 { "MR" } else { "CT" };
            tx.execute(
                INSERT,
                &[
                    format!("Bench^Patient{i}").into(),
                    format!("SUB{i:06}").into(),
                    format!("ACC{i}").into(),
                    format!("2.25.{}", 1_000_000 + i).into(),
                    modality.into(),
                    station.into(),
                    date.into(),
                    time.into(),
                    i.to_string().into(),
                ],
            )?;
        }
        Ok::<_, DbError>(())
    })
    .map_err(|e| format!("worklist database {}: {e}", store.location()))?;
    println!("seeded {items} items into {}", store.location());
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs `bench-find`.
pub fn run(args: &BenchFindArgs) -> i32 {
    let location = match (&args.seed_db, &args.seed_db_url) {
        (Some(path), _) => Some(Ok(Location::Sqlite(path.clone()))),
        (None, Some(url)) => Some(
            Target::new(url, None)
                .map(|target| Location::Postgres(Box::new(target)))
                .map_err(|e| format!("--seed-db-url: {e}")),
        ),
        (None, None) => None,
    };
    if let Some(location) = location {
        return match location.and_then(|location| seed(location, args.items)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("seeding failed: {e}");
                1
            }
        };
    }
    let today = jiff::ZonedDateTime::now().strftime("%Y%m%d").to_string();
    let identifier = query(args, &today);
    let options = args.connection.scu();
    // Read once: each query's association then pays the TLS handshake only.
    let tls = match args.connection.tls_config() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let classes = [uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND];
    let cpu_before = cpu_time();
    let started = Instant::now();
    let results: Vec<Result<(Vec<Duration>, u64), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.clients)
            .map(|_| {
                let (options, identifier, tls) = (&options, &identifier, &tls);
                scope.spawn(move || -> Result<(Vec<Duration>, u64), String> {
                    let mut latencies = Vec::with_capacity(args.queries);
                    let mut datasets = 0u64;
                    let mut persistent = None;
                    for _ in 0..args.queries {
                        let t = Instant::now();
                        let mut client = match persistent.take() {
                            Some(c) => c,
                            None => connect(options, tls.clone(), &classes)
                                .map_err(|e| e.to_string())?,
                        };
                        let status = client
                            .find_raw(identifier, false, |_, _| {
                                datasets += 1;
                                ControlFlow::Continue(())
                            })
                            .map_err(|e| e.to_string())?;
                        if status != 0 {
                            return Err(format!("final status 0x{status:04X}"));
                        }
                        if args.new_association {
                            client.release().map_err(|e| e.to_string())?;
                        } else {
                            persistent = Some(client);
                        }
                        latencies.push(t.elapsed());
                    }
                    if let Some(client) = persistent {
                        client.release().map_err(|e| e.to_string())?;
                    }
                    Ok((latencies, datasets))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut latencies = Vec::new();
    let mut datasets = 0;
    for result in results {
        match result {
            Ok((l, d)) => {
                latencies.extend(l);
                datasets += d;
            }
            Err(e) => {
                eprintln!("a worker failed: {e}");
                return 1;
            }
        }
    }
    latencies.sort();
    let n = latencies.len() as f64;
    let secs = elapsed.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} queries ({} workers, {}{}) in {secs:.2} s: {:.0} queries/s, {:.0} datasets/s ({:.1} per query)",
        latencies.len(),
        args.clients,
        if args.new_association { "new association per query" } else { "one association per worker" },
        if tls.is_some() { ", TLS" } else { "" },
        n / secs,
        datasets as f64 / secs,
        datasets as f64 / n.max(1.0)
    );
    println!(
        "latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    if let Some(cpu) = cpu {
        println!(
            "client CPU: {:.2} s total, {:.0} us per query ({:.0}% of one core)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / n.max(1.0),
            cpu.as_secs_f64() * 100.0 / secs
        );
    }
    0
}

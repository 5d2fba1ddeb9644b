//! SQLite on a full disk. The database lives on a small tmpfs; under load a
//! ballast file fills it to the last byte, stays a few seconds, and is
//! removed.
//!
//! The design's promise: a full disk is like a database that is down.
//! Writes are refused with 503 (or 507) problem+json and `Retry-After`,
//! never a 500; `/readyz` says 503 while the writer cannot write; reads
//! still work; once there is room again, writes and the background workers
//! resume by themselves, without a restart, within a few seconds; nothing
//! acknowledged is lost and the file passes `PRAGMA integrity_check`.
//!
//! Mounting a tmpfs needs root; without it the scenario is skipped, loudly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::json;

use crate::harness::cluster::running_as_root;
use crate::harness::deployment::Deployment;
use crate::harness::figures::{Summary, ms, p50_max, tally};
use crate::harness::invariants::{Finish, finish};
use crate::harness::load::{Http, Kind, Load, Record, Shop};
use crate::harness::receiver::Receiver;
use crate::harness::{Settings, conclude, loud, run};

/// "Within a few seconds" of the ballast's removal.
const RESUME_MAX: Duration = Duration::from_secs(5);
/// How long the disk stays full at most while waiting for the first
/// refused write.
const HOLD_MAX: Duration = Duration::from_secs(15);
/// A readiness probe this close to an acknowledged write may say ready.
const NEAR_A_WRITE: Duration = Duration::from_millis(500);

/// A tmpfs mounted for the test, unmounted when dropped.
#[derive(Debug)]
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, megabytes: u32) -> Result<Self, String> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| e.to_string())?;
        if !mounted.status.success() {
            return Err(String::from_utf8_lossy(&mounted.stderr).trim().to_owned());
        }
        Ok(Self { path: path.to_owned() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process that still holds a file there cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes zeros to `path` until the file system is full; returns the bytes.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create the ballast");
    let mut written = 0;
    for chunk in [1 << 20, 4096, 512] {
        let zeros = vec![0u8; chunk];
        while file.write_all(&zeros).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = file.flush();
    written
}

#[test]
fn sqlite_on_a_full_disk() {
    run(|| async {
        if !running_as_root() {
            loud(
                "WARNING: fault scenario `sqlite_on_a_full_disk` is SKIPPED: mounting a tmpfs needs root. \
                 The full-disk behaviour is NOT tested in this run.",
            );
            return;
        }
        let settings = Settings::get();
        let mount_point = tempfile::Builder::new().prefix("ordo-faults-disk.").tempdir().expect("a folder");
        let disk = match Tmpfs::mount(mount_point.path(), settings.disk_mb) {
            Ok(disk) => disk,
            // Root without the right to mount (a container, say).
            Err(e) => {
                loud(&format!(
                    "WARNING: fault scenario `sqlite_on_a_full_disk` is SKIPPED: cannot mount a tmpfs ({e}). \
                     The full-disk behaviour is NOT tested in this run."
                ));
                return;
            }
        };
        let mut deployment = Deployment::sqlite(Some(disk.path.join("ordo.db"))).await;
        deployment.start_all().await;
        let receiver = Receiver::start().await;
        let http = Http::new(&deployment.base_url(), &deployment.key);
        let shop = Shop::set_up(&http, &receiver).await;
        let load = Load::start(&http, &shop, settings.clients, "disk", settings.seed);
        tokio::time::sleep(settings.phase()).await;

        let mut summary = Summary::new("SQLite on a full disk");
        let mut violations = Vec::new();
        let mut fills = Vec::new();
        let mut markers = Vec::new();
        let (mut write_resumed, mut work_resumed) = (Vec::new(), Vec::new());
        for round in 0..settings.fills {
            let ballast = disk.path.join("ballast");
            let filled = Instant::now();
            let bytes = fill(&ballast);
            // Full for a phase, and at least two seconds past the first
            // refused write (the fault must have taken), at most HOLD_MAX.
            loop {
                let refused = load.inspect(|record| first_refusal(record, filled));
                let held_enough = refused
                    .is_some_and(|r| Instant::now() >= (filled + settings.phase()).max(r + Duration::from_secs(2)));
                if held_enough || filled.elapsed() >= HOLD_MAX {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            std::fs::remove_file(&ballast).expect("remove the ballast");
            let freed = Instant::now();
            fills.push((filled, freed, bytes));

            // Writes resume: the load's next 201.
            let resumed = loop {
                let resumed = load.inspect(|record| record.first_success_after(freed));
                if resumed.is_some() || freed.elapsed() > Duration::from_secs(15) {
                    break resumed;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            summary.add(&format!("fill {round}: ballast"), format!("{:.1} MB", bytes as f64 / 1e6));
            match resumed {
                Some(after) => {
                    write_resumed.push(after);
                    if after > RESUME_MAX {
                        violations.push(format!(
                            "fill {round}: writes resumed {} after the disk had room again (within {} expected)",
                            ms(after),
                            ms(RESUME_MAX)
                        ));
                    }
                }
                None => violations.push(format!("fill {round}: writes did not resume within 15 s of freeing the disk")),
            }
            // Workers resume: an order placed now gets paid.
            if resumed.is_some() {
                let key = format!("disk-marker-{round}");
                match place_marker(&http, &shop, &key).await {
                    Some((id, acknowledged)) => {
                        markers.push((key, id));
                        match paid_within(&http, id, Duration::from_secs(15)).await {
                            Some(after) => {
                                work_resumed.push(freed.elapsed());
                                if after > RESUME_MAX {
                                    violations.push(format!(
                                        "fill {round}: an order placed after the disk had room was paid only {} after its 201 (within {} expected: the workers did not resume)",
                                        ms(after),
                                        ms(RESUME_MAX)
                                    ));
                                }
                            }
                            None => violations.push(format!(
                                "fill {round}: order {id}, placed {} after the disk had room, was not paid within 15 s: the workers did not resume",
                                ms(acknowledged - freed)
                            )),
                        }
                    }
                    None => {
                        violations.push(format!("fill {round}: an order could not be placed after the disk had room"));
                    }
                }
            }
            tokio::time::sleep(settings.phase()).await;
        }
        let mut record = load.stop().await;
        for (key, id) in &markers {
            record.acknowledged.entry(key.clone()).or_default().push(*id);
        }

        for (round, (filled, freed, _)) in fills.iter().enumerate() {
            check_full_window(round, &record, *filled, *freed, &mut summary, &mut violations);
        }
        summary.add("writes resumed after room again (to the next 201)", p50_max(&write_resumed));
        summary.add("workers resumed (marker order paid, from room again)", p50_max(&work_resumed));
        let checks = Finish {
            shop: &shop,
            record: &record,
            receiver: &receiver,
            // A failed write can interrupt deliveries between their POST
            // and recording it: no bound applies.
            resend_bound: None,
            // If writes never came back, there is nothing to wait for.
            settle_within: if write_resumed.is_empty() { Duration::from_secs(5) } else { settings.settle },
        };
        violations.extend(finish(&mut deployment, &checks, &mut summary).await);
        drop(deployment);
        drop(disk);
        conclude(&summary, &violations);
    });
}

/// When the first placement sent after `since` was refused.
fn first_refusal(record: &Record, since: Instant) -> Option<Instant> {
    record
        .attempts
        .iter()
        .filter(|a| a.kind == Kind::Place && a.sent >= since && !a.succeeded())
        .map(|a| a.done())
        .min()
}

/// Checks the answers while the disk was full.
fn check_full_window(
    round: usize,
    record: &Record,
    filled: Instant,
    freed: Instant,
    summary: &mut Summary,
    violations: &mut Vec<String>,
) {
    let places = record.sent_between(Kind::Place, filled, freed);
    let refused: Vec<_> = places.iter().filter(|a| !a.succeeded()).collect();
    summary.add(
        &format!("fill {round}: placements while full"),
        tally(places.iter().map(|a| match a.status() {
            Some(201) => "201",
            Some(503) => "503",
            Some(507) => "507",
            Some(500) => "500",
            Some(_) => "other",
            None => "no answer",
        })),
    );
    if refused.is_empty() {
        violations.push(format!(
            "fill {round}: no write was refused while the disk was full ({} placements): the fault did not take",
            places.len()
        ));
    }
    let wrong: Vec<_> =
        refused.iter().filter(|a| !a.answer.as_ref().is_ok_and(|answer| answer.is_retry_later_problem())).collect();
    for attempt in wrong.iter().take(3) {
        violations.push(format!(
            "fill {round}: a write on the full disk was answered {} (503 or 507 problem+json with Retry-After expected; {} such)",
            attempt.answer.as_ref().map_or_else(|e| format!("nothing: {e}"), |a| a.describe()),
            wrong.len()
        ));
    }
    // /readyz: not ready while the writer cannot write, i.e. from the first
    // refusal on, except right around a write that did succeed.
    if let Some(first) = first_refusal(record, filled).filter(|f| *f < freed) {
        let writes: Vec<Instant> =
            record.attempts.iter().filter(|a| a.kind == Kind::Place && a.succeeded()).map(|a| a.done()).collect();
        let probes = record.sent_between(Kind::Ready, first, freed);
        let wrongly_ready: Vec<_> = probes
            .iter()
            .filter(|p| p.status() != Some(503))
            .filter(|p| !writes.iter().any(|w| w.max(&p.sent).duration_since(*w.min(&p.sent)) <= NEAR_A_WRITE))
            .collect();
        summary.add(
            &format!("fill {round}: /readyz while writes failed"),
            tally(probes.iter().map(|p| if p.status() == Some(503) { "503" } else { "not 503" })),
        );
        if !wrongly_ready.is_empty() {
            violations.push(format!(
                "fill {round}: /readyz answered {:?} ({} of {} probes) while the disk was full and no write succeeded (503 expected)",
                wrongly_ready[0].status(),
                wrongly_ready.len(),
                probes.len()
            ));
        }
    }
    let reads = record.sent_between(Kind::Read, filled, freed);
    let failed_reads: Vec<_> = reads.iter().filter(|r| r.status() != Some(200)).collect();
    summary.add(
        &format!("fill {round}: stock reads while full"),
        format!("{} of {} answered 200", reads.len() - failed_reads.len(), reads.len()),
    );
    if let Some(read) = failed_reads.first() {
        violations.push(format!(
            "fill {round}: {} of {} reads failed while the disk was full, e.g. {}",
            failed_reads.len(),
            reads.len(),
            read.answer.as_ref().map_or_else(|e| format!("no answer: {e}"), |a| a.describe())
        ));
    }
}

/// Places one order (retrying the same key for up to 15 s); its id and when
/// it was acknowledged.
async fn place_marker(http: &Http, shop: &Shop, key: &str) -> Option<(uuid::Uuid, Instant)> {
    let started = Instant::now();
    let mut body = shop.order_body(&mut SmallRng::seed_from_u64(7));
    body["lines"] = json!([{"sku": shop.skus[0], "quantity": 1}]);
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(answer) = http.post("/v1/orders", &body, Some(key)).await
            && answer.status == 201
        {
            return answer.body["id"].as_str().and_then(|id| id.parse().ok()).map(|id| (id, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// How long until order `id` is paid, polling its status.
async fn paid_within(http: &Http, id: uuid::Uuid, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(order) = http.get(&format!("/v1/orders/{id}")).await
            && order.body["status"] == "paid"
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

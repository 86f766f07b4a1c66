//! What schedules cost a worker (BENCHMARKS.md, "Time and order (issue 17)", schedules):
//!
//! 1. the poll's read with N schedules of which none is due (`Store::due_schedules`), beside
//!    the read every idle poll already makes (`Store::has_expired`), interleaved;
//! 2. materialising M due schedules (one transaction each, one run per slot) against M plain
//!    `Store::enqueue` calls of runs with an idempotency key, interleaved in rounds.
//!
//! `cargo run --release --example bench_schedules -- DB [N] [M]`; DB is a fresh SQLite path or
//! a postgres:// URL of an empty database.

use anyhow::Result;
use durably::model::schedule::Schedule;
use durably::model::RunSpec;
use durably::store::{Access, Options, Store, Target};
use std::time::{Duration, Instant};

fn open(db: &str) -> Result<Store> {
    let opts = Options {
        target: Target::parse(db.into())?,
        busy_timeout: Duration::from_secs(5),
        default: false,
        max_size: None,
    };
    Store::open(&opts, Access::Write)
}

fn schedule(name: String, cron: Option<&str>, every_ms: Option<i64>) -> Schedule {
    Schedule {
        name,
        cron: cron.map(str::to_string),
        every_ms,
        tz: "UTC".into(),
        job_name: "bench".into(),
        input: "{}".into(),
        labels: "{}".into(),
        catch_up: "last".into(),
        ..Schedule::default()
    }
}

/// Median and 99th percentile of `samples`, in microseconds.
fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let p = |q: f64| us(samples[((samples.len() - 1) as f64 * q) as usize]);
    (p(0.5), p(0.99))
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("DB");
    let n: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let m: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    let mut store = open(&db)?;
    store.ensure_ours()?;

    // 1. N schedules, none due: a yearly slot, on 1 January.
    let began = Instant::now();
    for i in 0..n {
        store.add_schedule(&schedule(format!("idle-{i}"), Some("0 0 1 1 *"), None))?;
    }
    println!(
        "added {n} idle schedules in {:.1}s",
        began.elapsed().as_secs_f64()
    );
    let (mut due, mut expired) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        let t = Instant::now();
        assert!(store.due_schedules(64)?.is_empty());
        due.push(t.elapsed());
        let t = Instant::now();
        store.has_expired()?;
        expired.push(t.elapsed());
    }
    let (due50, due99) = stats(due);
    let (exp50, exp99) = stats(expired);
    println!("poll read, {n} schedules none due: due_schedules median {due50:.1} µs p99 {due99:.1} µs; has_expired median {exp50:.1} µs p99 {exp99:.1} µs");

    // 2. M due schedules (every 1s: all due a second after they were added) against M
    //    enqueues with an idempotency key, in 4 interleaved rounds.
    let rounds = 4;
    let per = m / rounds;
    let (mut mat, mut enq) = (Duration::ZERO, Duration::ZERO);
    for r in 0..rounds {
        for i in 0..per {
            store.add_schedule(&schedule(format!("due-{r}-{i}"), None, Some(1000)))?;
        }
        std::thread::sleep(Duration::from_millis(1100));
        let t = Instant::now();
        let mut made = 0;
        let names = store.due_schedules(per as u64)?;
        for name in &names {
            made += store.materialise(name)?.map_or(0, |d| d.runs.len());
        }
        mat += t.elapsed();
        assert_eq!(made, per, "one run per due schedule");
        // Out of the next round's way (every 1s: they would be due again).
        for name in &names {
            store.remove_schedule(name)?;
        }
        let t = Instant::now();
        for i in 0..per {
            let spec = RunSpec {
                job: "bench".into(),
                input: "{}".into(),
                idempotency_key: Some(format!("plain:{r}:{i}")),
                ..RunSpec::default()
            };
            store.enqueue(&spec)?;
        }
        enq += t.elapsed();
    }
    let total = per * rounds;
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "materialise {total} due schedules: {:.0} runs/s; enqueue {total} keyed runs one by one: {:.0} runs/s; ratio {:.2}",
        rate(mat),
        rate(enq),
        rate(mat) / rate(enq)
    );
    Ok(())
}

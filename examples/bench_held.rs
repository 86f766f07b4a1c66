//! What a worker's poll pays for held runs (issue 17, BENCHMARKS.md "Time and order"): the
//! poll's one read (`Store::peek_held`) and, when nothing is due, nothing else.
//!
//! `bench_held DB N`: opens DB (a SQLite path or a postgres:// URL) through the store as a
//! worker does and times N calls of the poll's read as the worker makes them: without a
//! previous poll (no scan of ended runs), with one (the scan of runs ended since), and the
//! release transaction with nothing due. Beside the first, interleaved with it, the read every
//! idle poll makes anyway (`Store::has_expired`, one round trip on PostgreSQL): the baseline
//! that tells the held runs' cost from the machine's noise. Prints `key=value` figures in
//! microseconds (median, p99). The held runs are put there beforehand (bench/held.sh fills 1M
//! with SQL).

use durably::store::{Access, Options, Store, Target};
use std::time::Instant;

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn time(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    percentiles(us)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, n] = args.as_slice() else {
        anyhow::bail!("usage: bench_held DB N");
    };
    let n: usize = n.parse()?;
    let opts = Options {
        target: Target::parse(db.into())?,
        busy_timeout: std::time::Duration::from_secs(30),
        default: false,
        max_size: None,
    };
    let mut store = Store::open(&opts, Access::Write)?;
    store.ensure_ours()?;
    let first = store.peek_held(None, None)?;
    anyhow::ensure!(!first.due, "a held run is due: the bench wants none due");
    let since = first.now.clone();
    let (mut peek, mut expired) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        store.peek_held(None, None).expect("peek");
        peek.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        store.has_expired().expect("has_expired");
        expired.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (p50, p99) = percentiles(peek);
    println!("peek_us_p50={p50:.1} peek_us_p99={p99:.1}");
    let (p50, p99) = percentiles(expired);
    println!("baseline_has_expired_us_p50={p50:.1} baseline_has_expired_us_p99={p99:.1}");
    let (p50, p99) = time(n, || {
        store.peek_held(Some(&since), None).expect("peek");
    });
    println!("peek_since_us_p50={p50:.1} peek_since_us_p99={p99:.1}");
    let (p50, p99) = time(n.min(200), || {
        store.release_held(&[], 1000, None).expect("release");
    });
    println!("release_nothing_due_us_p50={p50:.1} release_nothing_due_us_p99={p99:.1}");
    Ok(())
}

//! PostgreSQL: `enqueue-many` batches that wait for each other's idempotency keys. Two
//! batches inserting the same keys in opposite orders deadlock in the server, which aborts one
//! of them; the aborted batch is inserted again from its spool (nothing of it was written),
//! so both commands succeed and every key has exactly one run.

use crate::harness::*;
use std::process::Stdio;

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn batches_that_deadlock_on_idempotency_keys_are_retried_not_failed() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    const KEYS: usize = 300;
    const ROUNDS: usize = 4;
    for round in 0..ROUNDS {
        let line = |i: usize| format!("{{\"job\":\"j\",\"idempotencyKey\":\"r{round}-k{i}\"}}\n");
        let forward: String = (0..KEYS).map(line).collect();
        let backward: String = (0..KEYS).rev().map(line).collect();
        let mut children: Vec<_> = [forward, backward]
            .into_iter()
            .map(|input| {
                let mut c = env.command(&["enqueue-many", "--quiet", "-"]);
                c.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = c.spawn().expect("spawn enqueue-many");
                let mut stdin = child.stdin.take().expect("stdin");
                let writer = std::thread::spawn(move || {
                    use std::io::Write as _;
                    let _ = stdin.write_all(input.as_bytes());
                });
                (child, writer)
            })
            .collect();
        for (child, writer) in children.drain(..) {
            writer.join().expect("stdin writer");
            let out = child.wait_with_output().expect("wait for enqueue-many");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_eq!(
        env.count("SELECT count(*) FROM durably_runs"),
        (KEYS * ROUNDS) as i64
    );
    assert_eq!(
        env.count("SELECT count(DISTINCT idempotency_key) FROM durably_runs"),
        (KEYS * ROUNDS) as i64
    );
}

// The @coji/durably 0.15.0 side of bench/run.sh: the same workloads through the library's public
// API with its recommended libSQL dialect, and on PostgreSQL with kysely's PostgresDialect and
// `pg` (modes `pg-*`, DB is then a postgres:// URL of an empty database). Each mode prints one
// JSON object on stdout.
//
//   node bench.mjs bulk DB NDJSON       batchTrigger in batches of 1,000 lines (one call per job
//                                       present in the batch), into a new WAL file
//   node bench.mjs list DB REPS         getRuns({labels, status, jobName, limit: 50}) on DB
//   node bench.mjs trigger DB N         N sequential trigger() calls on DB, latency per call
//   node bench.mjs work DB N            processUntilIdle over N one-step runs in a new file
//   node bench.mjs pg-bulk URL NDJSON   bulk, into the empty PostgreSQL database URL
//   node bench.mjs pg-list URL REPS     list, on the PostgreSQL database URL
//   node bench.mjs pg-work URL N        work, in the empty PostgreSQL database URL
//   node bench.mjs pg-fleet URL STOP    one worker of the fleet workload (issue 19): processOne
//                                       in a loop on the database URL (whose runs of the jobs
//                                       `bare`, a no-op, or `sleep`, 50 ms, neither with a step,
//                                       the bench's feeder writes) until the file STOP exists
import { createDurably, defineJob } from '@coji/durably'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createReadStream, existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'

const input = z.object({ n: z.number(), user: z.string() })
const noop = async () => null
const jobs = {
  import: defineJob({ name: 'import', input, run: noop }),
  email: defineJob({ name: 'email', input, run: noop }),
  report: defineJob({ name: 'report', input, run: noop }),
  bare: defineJob({ name: 'bare', input: z.object({ n: z.number() }), run: noop }),
  sleep: defineJob({
    name: 'sleep',
    input: z.object({ n: z.number() }),
    run: () => new Promise((resolve) => setTimeout(() => resolve(null), 50)),
  }),
  noop: defineJob({
    name: 'noop',
    input: z.object({ n: z.number() }),
    run: async (step) => step.run('only', async () => 1),
  }),
}

async function open(path, fresh) {
  const client = createClient({ url: `file:${path}` })
  // The same durability as the CLI: WAL for a file we create, synchronous=FULL.
  if (fresh) await client.execute('PRAGMA journal_mode=WAL')
  await client.execute('PRAGMA synchronous=FULL')
  await client.execute('PRAGMA busy_timeout=30000')
  const durably = createDurably({ dialect: new LibsqlDialect({ client }), jobs })
  if (fresh) await durably.migrate()
  return { durably, client }
}

// PostgreSQL: one pool of 4 connections (what a small worker would use); `fresh` migrates.
async function openPg(url, fresh) {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  const durably = createDurably({ dialect: new PostgresDialect({ pool }), jobs })
  if (fresh) await durably.migrate()
  return { durably, client: { close: () => durably.db.destroy() } }
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
const now = () => process.hrtime.bigint()

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q) => s[Math.round((s.length - 1) * q)]
  return { n: s.length, median_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) }
}

async function bulk(path, ndjson, opener = open) {
  const { durably, client } = await opener(path, true)
  const lines = createInterface({ input: createReadStream(ndjson), crlfDelay: Infinity })
  let batch = []
  let runs = 0
  const t0 = now()
  const flush = async () => {
    const byJob = new Map()
    for (const spec of batch) {
      if (!byJob.has(spec.job)) byJob.set(spec.job, [])
      byJob.get(spec.job).push({ input: spec.input, options: { labels: spec.labels } })
    }
    for (const [job, items] of byJob) {
      runs += (await durably.jobs[job].batchTrigger(items)).length
    }
    batch = []
  }
  for await (const line of lines) {
    if (!line.trim()) continue
    batch.push(JSON.parse(line))
    if (batch.length === 1000) await flush()
  }
  if (batch.length) await flush()
  const secs = ms(t0) / 1e3
  await client.close()
  return { runs, secs, runs_per_s: runs / secs, maxrss_kib: process.resourceUsage().maxRSS }
}

const FILTERS = {
  none: {},
  status: { status: 'pending' },
  job: { jobName: 'email' },
  label: { labels: { tenant: 't3' } },
  rare: { labels: { rare: 'x' } },
  two_labels: { labels: { tenant: 't3', kind: 'k1' } },
  label_status: { labels: { tenant: 't3' }, status: 'failed' },
  mixed: { labels: { tenant: 't3', kind: 'k1' }, status: 'failed', jobName: 'email' },
}

async function list(path, reps, opener = open) {
  const { durably, client } = await opener(path, false)
  const out = {}
  for (const [name, filter] of Object.entries(FILTERS)) {
    const samples = []
    let rows = 0
    const budget = now()
    for (let i = 0; i < reps; i++) {
      const t0 = now()
      const runs = await durably.getRuns({ ...filter, limit: 50 })
      samples.push(ms(t0))
      rows = runs.length
      // A scan can take seconds a call: stop after 3 calls once 5 s are spent.
      if (i >= 2 && ms(budget) > 5000) break
    }
    out[name] = { ...summary(samples), rows }
  }
  await client.close()
  return out
}

async function trigger(path, n) {
  const { durably, client } = await open(path, false)
  const samples = []
  for (let i = 0; i < n; i++) {
    const t0 = now()
    await durably.jobs.email.trigger(
      { n: i, user: 'u1' },
      { labels: { tenant: 't1', kind: 'k1' } },
    )
    samples.push(ms(t0))
  }
  client.close()
  return summary(samples)
}

async function work(path, n, opener = open) {
  const { durably, client } = await opener(path, true)
  for (let i = 0; i < n; i += 1000) {
    const items = []
    for (let j = i; j < Math.min(n, i + 1000); j++) items.push({ n: j })
    await durably.jobs.noop.batchTrigger(items)
  }
  const t0 = now()
  const done = await durably.processUntilIdle()
  const secs = ms(t0) / 1e3
  await client.close()
  if (done !== n) throw new Error(`processed ${done} of ${n}`)
  return { runs: done, secs, runs_per_s: done / secs }
}

// A fleet worker: the library's own claim and completion, one run at a time, on the runs
// the bench's feeder writes; an idle claim is retried after 1 ms (a backlog is kept). Prints
// `ready` once its first claim is answered (node's start-up is seconds of CPU on a loaded
// machine: the bench starts its window only then).
async function fleet(url, stop) {
  const { durably, client } = await openPg(url, false)
  const workerId = `node-${process.pid}`
  let runs = (await durably.processOne({ workerId })) ? 1 : 0
  process.stdout.write('ready\n')
  while (!existsSync(stop)) {
    if (await durably.processOne({ workerId })) runs++
    else await new Promise((r) => setTimeout(r, 1))
  }
  await client.close()
  return { runs }
}

const [mode, path, arg] = process.argv.slice(2)
const modes = {
  bulk: () => bulk(path, arg),
  list: () => list(path, Number(arg)),
  trigger: () => trigger(path, Number(arg)),
  work: () => work(path, Number(arg)),
  'pg-bulk': () => bulk(path, arg, openPg),
  'pg-list': () => list(path, Number(arg), openPg),
  'pg-work': () => work(path, Number(arg), openPg),
  'pg-fleet': () => fleet(path, arg),
}
if (!modes[mode] || !path) {
  console.error('usage: node bench.mjs bulk|list|trigger|work|pg-bulk|pg-list|pg-work|pg-fleet DB ARG')
  process.exit(2)
}
console.log(JSON.stringify(await modes[mode]()))

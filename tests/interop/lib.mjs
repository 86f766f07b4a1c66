// The real @coji/durably 0.15.0 on a SQLite file or a PostgreSQL database, driven by
// tests/integration/interop.rs (each scenario on both). DB is a file path, or a postgres:// or
// postgresql:// URL (the schema may be chosen in it: `?options=-csearch_path%3Dname`).
//
//   node lib.mjs migrate DB              run the library's migrate() (nothing else)
//   node lib.mjs read DB QUERIES         run read queries (a JSON array) without migrating;
//                                        prints a JSON array of results
//   node lib.mjs work DB [OPTS]          processUntilIdle with the jobs below; prints {processed}
//   node lib.mjs fill DB                 the library-side scenario (triggers, a worker pass,
//                                        cancel); prints what it made as JSON
//   node lib.mjs trigger DB CALLS        job.trigger / batchTrigger calls (a JSON array); prints
//                                        the results (run + disposition, or {error})
//   node lib.mjs drain DB LOG            processUntilIdle for the shared-queue test (job `append`)
//   node lib.mjs serve DB LOG N          the polling worker (start/stop) until LOG has N lines
//                                        (or the file INTEROP_STOP exists)
//   node lib.mjs session DB              any of the above, one JSON request a line on stdin
//
// On SQLite the client gets a busy timeout (`timeout`, in ms: the libSQL default is none, so
// any write while the CLI holds the lock would fail at once; INTEROP_BUSY_TIMEOUT=0 shows it). On
// PostgreSQL it gets kysely's PostgresDialect over a `pg` Pool, as the library's own tests do.
// Steps are preserved and logs persisted, so what the library writes stays comparable with
// what the CLI shows.

import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, defineJob } from '@coji/durably'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { withLogPersistence } from '@coji/durably/plugins'
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'

const [command, dbPath, ...rest] = process.argv.slice(2)
if (!command || !dbPath) {
  console.error('usage: node lib.mjs migrate|read|work|fill|trigger|drain|serve|session DB [ARGS]')
  process.exit(2)
}

// Never outlive the test that started us, whatever happens to the library (a session ends
// when its stdin closes, that is when the test process ends).
if (command !== 'session') {
  setTimeout(() => {
    console.error(`lib.mjs ${command}: watchdog: still running after 300 s, exiting`)
    process.exit(3)
  }, 300000).unref()
}

// Errors the library swallows (fire-and-forget writes, lease renewal) come out as events.
const workerErrors = []

const echo = defineJob({
  name: 'echo',
  input: z.any(),
  run: async (step, input) => {
    const first = await step.run('first', () => ({ seen: input ?? null }))
    step.log.info('between steps', { n: 1 })
    step.progress(1, 2, 'half way')
    const second = await step.run('second', async () => {
      step.log.warn('inside second')
      return 'two'
    })
    step.progress(2, 2)
    return { echo: input ?? null, first, second, by: 'library' }
  },
})

const fail = defineJob({
  name: 'fail',
  input: z.any(),
  run: async (step) => {
    await step.run('ok', () => 1)
    await step.run('boom', () => {
      step.log.error('about to fail')
      throw new Error('kaboom')
    })
    return null
  },
})

// Returns nothing: the library stores no output (NULL) for such a run.
const quiet = defineJob({
  name: 'quiet',
  input: z.any(),
  run: async () => {},
})

// Holds its run until the file INTEROP_GO exists (when set), after writing the run id to
// INTEROP_MARKER: a stalled worker, for the lease take-over tests.
const slow = defineJob({
  name: 'slow',
  input: z.any(),
  run: async (step) => {
    if (process.env.INTEROP_MARKER) writeFileSync(process.env.INTEROP_MARKER, step.runId)
    while (process.env.INTEROP_GO && !existsSync(process.env.INTEROP_GO)) await sleep(20)
    return { by: 'library' }
  },
})

// Two steps; with INTEROP_MARKER/INTEROP_GO it stalls between them (resumed elsewhere).
const resumable = defineJob({
  name: 'resumable',
  input: z.any(),
  run: async (step) => {
    const a = await step.run('a', () => ({ from: 'library', n: 1 }))
    if (process.env.INTEROP_MARKER) writeFileSync(process.env.INTEROP_MARKER, step.runId)
    while (process.env.INTEROP_GO && !existsSync(process.env.INTEROP_GO)) await sleep(20)
    const b = await step.run('b', () => 'library-b')
    return { a, b, by: 'library' }
  },
})

let appendLog = null
let firstAppend = true
const append = defineJob({
  name: 'append',
  input: z.any(),
  run: async (step) => {
    if (firstAppend && process.env.INTEROP_WAIT_FOR_OTHER) {
      // Hold the first run until the other worker has completed one of its own, so both
      // workers provably take part (no timing involved).
      firstAppend = false
      const deadline = Date.now() + 30000
      while (Date.now() < deadline) {
        const text = existsSync(appendLog) ? readFileSync(appendLog, 'utf8') : ''
        if (text.split('\n').some((l) => l.endsWith(' ' + process.env.INTEROP_WAIT_FOR_OTHER))) break
        await sleep(20)
      }
    }
    appendFileSync(appendLog, `${step.runId} library\n`)
    return { by: 'library' }
  },
})

const isPostgres = /^postgres(ql)?:\/\//.test(dbPath)

// The kysely dialect for DB; `release` frees what the dialect does not own.
function connect() {
  if (isPostgres) {
    // The pool ends with the dialect (durably.db.destroy()).
    const pool = new pg.Pool({ connectionString: dbPath, max: 4, application_name: 'durably-interop' })
    pool.on('error', (e) => console.error(`library pg pool: ${e.message}`))
    return { dialect: new PostgresDialect({ pool }), release: () => {} }
  }
  const client = createClient({ url: `file:${dbPath}`, timeout: Number(process.env.INTEROP_BUSY_TIMEOUT ?? 30000) })
  return { dialect: new LibsqlDialect({ client }), release: () => client.close() }
}

// The library's fire-and-forget writes (log persistence, step.progress), so that `settle` can
// wait for them: on PostgreSQL no write lock orders them behind a later write.
const inFlight = new Set()
function track(storage, key) {
  const original = storage[key].bind(storage)
  storage[key] = (...args) => {
    const p = original(...args)
    inFlight.add(p)
    const done = () => inFlight.delete(p)
    p.then(done, done)
    return p
  }
}

// Holds the directory INTEROP_EXCLUSIVE/KEY (KEY from the input) while it runs (mkdir is
// atomic, as in the CLI's handler): a run of the same concurrency key running elsewhere at the
// same moment makes it fail with an `overlap` line in the append log.
const exclusive = defineJob({
  name: 'exclusive',
  input: z.any(),
  run: async (step, input) => {
    const lock = `${process.env.INTEROP_EXCLUSIVE}/${input.key}`
    try {
      mkdirSync(lock)
    } catch (e) {
      appendFileSync(appendLog, `${step.runId} overlap\n`)
      throw e
    }
    await sleep(20)
    rmdirSync(lock)
    appendFileSync(appendLog, `${step.runId} library\n`)
    return { by: 'library' }
  },
})

function open({ jobs = true, ...opts } = {}) {
  const { dialect, release } = connect()
  const durably = createDurably({
    dialect,
    preserveSteps: true,
    pollingIntervalMs: 50,
    ...(process.env.INTEROP_LEASE_MS ? { leaseMs: Number(process.env.INTEROP_LEASE_MS) } : {}),
    ...(process.env.INTEROP_RENEW_MS ? { leaseRenewIntervalMs: Number(process.env.INTEROP_RENEW_MS) } : {}),
    ...(process.env.INTEROP_CONCURRENCY ? { maxConcurrentRuns: Number(process.env.INTEROP_CONCURRENCY) } : {}),
    ...opts,
    ...(jobs ? { jobs: { echo, fail, quiet, append, slow, resumable, exclusive } } : {}),
  })
  track(durably.storage, 'createLog')
  track(durably.storage, 'updateProgress')
  durably.use(withLogPersistence())
  durably.on('worker:error', (e) => {
    if (workerErrors.length < 20) console.error(`library worker:error ${e.context}: ${e.error}`)
    workerErrors.push(e.error)
    if (workerErrors.length >= 1000) process.exit(4)
  })
  const close = async () => {
    await durably.stop()
    await durably.db.destroy()
    release()
  }
  return { durably, close }
}

// Let fire-and-forget writes (withLogPersistence, step.progress) land before reading or
// exiting.
async function settle() {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight])
}

async function read(durably, queries) {
  const out = []
  for (const q of queries) {
    switch (q.op) {
      case 'getRuns':
        out.push(await durably.getRuns(q.filter))
        break
      case 'jobGetRuns':
        out.push(await durably.jobs[q.job].getRuns(q.filter))
        break
      case 'getRun':
        out.push(await durably.getRun(q.id))
        break
      case 'getSteps':
        out.push(await durably.storage.getSteps(q.id))
        break
      case 'getLogs':
        out.push(await durably.storage.getLogs(q.id))
        break
      case 'show': {
        // The run as `durably show --json` shows it: the run plus steps and logs.
        const run = await durably.getRun(q.id)
        out.push(
          run && {
            ...run,
            steps: await durably.storage.getSteps(q.id),
            logs: await durably.storage.getLogs(q.id),
          },
        )
        break
      }
      case 'versions':
        out.push(await durably.db.selectFrom('durably_schema_versions').selectAll().orderBy('version').execute())
        break
      default:
        throw new Error(`unknown query ${q.op}`)
    }
  }
  return out
}

async function trigger(durably, calls) {
  const out = []
  for (const c of calls) {
    try {
      const job = durably.jobs[c.job]
      if (c.batch) out.push(await job.batchTrigger(c.batch))
      else out.push(await job.trigger(c.input, c.options))
    } catch (e) {
      out.push({ error: e.message, name: e.name })
    }
  }
  return out
}

async function fill(durably) {
  const made = {}
  const t = async (job, input, options) => durably.jobs[job].trigger(input, options)
  made.idem = await t('echo', { n: 1, nested: { a: [1, 2] } }, {
    labels: { tenant: 'lib', kind: 'idem' },
    idempotencyKey: 'lib-idem-1',
  })
  made.idemAgain = await t('echo', { n: 999 }, { idempotencyKey: 'lib-idem-1' })
  made.batch = await durably.jobs.echo.batchTrigger([
    { input: { i: 0 }, options: { labels: { tenant: 'lib', batch: 'b1' } } },
    { input: { i: 1 }, options: { labels: { tenant: 'lib', batch: 'b1', 'team/x.y_z-w': 'v' } } },
    { input: 'plain string input', options: { labels: { tenant: 'other', batch: 'b1' } } },
    { input: { i: 3 }, options: { labels: { tenant: 'lib' }, idempotencyKey: 'lib-idem-b' } },
  ])
  made.fail = await t('fail', { why: 'test' }, { labels: { tenant: 'lib', kind: 'fail' } })
  made.quiet = await t('quiet', null, { labels: { tenant: 'lib', kind: 'quiet' } })
  // One worker pass: echo/fail/quiet runs become completed/failed with steps and logs.
  made.processed = await durably.processUntilIdle()
  await settle()
  // Pending runs, made after the pass so they stay pending.
  made.ck = await t('echo', { ck: 1 }, { concurrencyKey: 'lib-ck', labels: { tenant: 'lib', kind: 'ck' } })
  made.ckCoalesced = await t('echo', { ck: 2 }, { concurrencyKey: 'lib-ck', coalesce: 'skip' })
  try {
    await t('echo', { ck: 3 }, { concurrencyKey: 'lib-ck' })
    made.ckConflict = null
  } catch (e) {
    made.ckConflict = { name: e.name, message: e.message }
  }
  made.toCancel = await t('echo', { c: 1 }, { labels: { tenant: 'lib', kind: 'cancel' } })
  await durably.cancel(made.toCancel.id)
  made.pending = await t('echo', { p: 1 }, { labels: { tenant: 'lib', kind: 'pending' } })
  return made
}

// One command on an open instance; `args` are the command-line arguments after DB.
async function handle(durably, cmd, args) {
  switch (cmd) {
    case 'migrate':
      await durably.migrate()
      return { migrated: true }
    case 'read':
      return await read(durably, JSON.parse(args[0]))
    case 'trigger':
      return await trigger(durably, JSON.parse(args[0]))
    case 'work': {
      const opts = args[0] ? JSON.parse(args[0]) : {}
      const processed = await durably.processUntilIdle(opts)
      await settle()
      return { processed }
    }
    case 'triggerAndWait': {
      const { job, input, options } = JSON.parse(args[0])
      return await durably.jobs[job].triggerAndWait(input, { timeout: 60000, pollingIntervalMs: 50, ...options })
    }
    case 'cancel':
      await durably.cancel(args[0])
      return { cancelled: args[0] }
    case 'fill': {
      const made = await fill(durably)
      await settle()
      return made
    }
    case 'drain': {
      appendLog = args[0]
      if (process.env.INTEROP_READY) writeFileSync(process.env.INTEROP_READY, 'ready\n')
      const processed = await durably.processUntilIdle()
      await settle()
      return { processed }
    }
    case 'serve': {
      // The library's own polling worker (start/stop), until LOG holds N lines or the file
      // INTEROP_STOP exists.
      appendLog = args[0]
      const want = Number(args[1])
      const stop = process.env.INTEROP_STOP
      if (process.env.INTEROP_READY) writeFileSync(process.env.INTEROP_READY, 'ready\n')
      durably.start()
      const deadline = Date.now() + 60000
      const lines = () => (existsSync(appendLog) ? readFileSync(appendLog, 'utf8').split('\n').length - 1 : 0)
      while (lines() < want && !(stop && existsSync(stop)) && Date.now() < deadline) await sleep(25)
      await durably.stop()
      await settle()
      return { lines: lines() }
    }
    default:
      throw new Error(`unknown command ${cmd}`)
  }
}

// `session`: one library instance for many commands, one JSON request a line on stdin
// (`["read", "[...]"]`: the command and its arguments), one JSON answer a line on stdout
// (`{"ok": result}` or `{"error": message}`), so a test pays node's start-up once.
async function session(durably) {
  const { createInterface } = await import('node:readline')
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue
    let answer
    try {
      const [cmd, ...args] = JSON.parse(line)
      answer = { ok: (await handle(durably, cmd, args)) ?? null }
    } catch (e) {
      answer = { error: `${e.name}: ${e.message}` }
    }
    if (workerErrors.length > 0) answer.workerErrors = workerErrors.splice(0)
    process.stdout.write(JSON.stringify(answer) + '\n')
  }
}

const { durably, close } = open(command === 'migrate' ? { jobs: false } : {})
let result
try {
  if (command === 'session') await session(durably)
  else result = await handle(durably, command, rest)
} finally {
  await close()
}
if (command !== 'session') {
  result = result ?? {}
  if (workerErrors.length > 0 && !Array.isArray(result)) result.workerErrors = workerErrors
  process.stdout.write(JSON.stringify(result) + '\n')
}
if (workerErrors.length > 0) process.exit(1)

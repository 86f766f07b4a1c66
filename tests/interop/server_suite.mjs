// The library's own HTTP suite (coji/durably packages/durably/tests/shared/server.shared.ts,
// 0.15.0: 56 cases) sent over the wire to `durably serve`. Driven by
// tests/integration/serve_interop.rs:
//
//   node server_suite.mjs DURABLY_BIN DB_KIND WORKDIR HANDLERS
//
// DB_KIND is `sqlite` (a fresh file in WORKDIR per case) or a postgres:// URL (a fresh schema
// per case, chosen with `options=-csearch_path`). As the original's beforeEach makes a fresh
// database and handler per case, each case here starts `durably serve --base-path
// /api/durably --handlers HANDLERS --token T` on a fresh database, opens the library on it
// (migrate(); the case's setup triggers and `d.start()` are the library's, as in the
// original) and sends the case's request with fetch instead of `handler.handle(request)`.
// Every request carries the token (the original's handler has no auth); the auth cases map
// the library's hooks onto the token and --read-only where they can and are reported `n/a`
// with the reason where they cannot (JavaScript callbacks). Prints one JSON line:
// [{name, result: "pass"|"fail"|"n/a", detail}].

import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, defineJob } from '@coji/durably'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'

const [bin, dbKind, workdir, handlers] = process.argv.slice(2)
const TOKEN = 'suite-token'
const BASE = '/api/durably'
setTimeout(() => {
  console.error('server_suite.mjs: still running after 280 s, exiting')
  process.exit(3)
}, 280000).unref()

let caseNo = 0

// A fresh database: a file, or a schema of the PostgreSQL database.
async function freshDb() {
  caseNo++
  if (dbKind === 'sqlite') {
    mkdirSync(workdir, { recursive: true })
    return { db: `${workdir}/case-${caseNo}.db`, drop: async () => {} }
  }
  const schema = `suite_${process.pid}_${caseNo}`
  const admin = new pg.Client({ connectionString: dbKind })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  const sep = dbKind.includes('?') ? '&' : '?'
  const db = `${dbKind}${sep}options=-csearch_path%3D${schema}`
  return {
    db,
    drop: async () => {
      const c = new pg.Client({ connectionString: dbKind })
      await c.connect()
      await c.query(`DROP SCHEMA ${schema} CASCADE`)
      await c.end()
    },
  }
}

// `durably serve` on DB; resolves with its base URL and a stop function.
function startServer(db, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      ['--db', db, 'serve', '--bind', '127.0.0.1:0', '--base-path', BASE, '--handlers', handlers, ...extra],
      { env: { ...process.env, DURABLY_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
      const m = err.match(/serving on http:\/\/(127\.0\.0\.1:\d+)/)
      if (m) resolve({ url: `http://${m[1]}${BASE}`, stop: () => stopChild(child) })
    })
    child.on('exit', (code) => reject(new Error(`durably serve exited ${code}: ${err}`)))
  })
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.removeAllListeners('exit')
    child.on('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

function dialectFor(db) {
  if (db.startsWith('postgres')) {
    return new PostgresDialect({ pool: new pg.Pool({ connectionString: db, max: 2 }) })
  }
  return new LibsqlDialect({ client: createClient({ url: `file:${db}`, timeout: 30000 }) })
}

// The suite's helpers, over the wire.
const auth = { Authorization: `Bearer ${TOKEN}` }
let url = ''
function request(path, init = {}) {
  return fetch(`${url}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } })
}
const post = (path, body) =>
  request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
async function waitFor(check, timeout = 1000) {
  const end = Date.now() + timeout
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() > end) throw e
      await sleep(20)
    }
  }
}
// Reads a stream's chunks until `done(events)` or `ms`, as the original's Promise.race does.
async function readFor(response, ms, done = () => false) {
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  const events = []
  const reading = (async () => {
    for (;;) {
      const { done: end, value } = await reader.read()
      if (end) break
      events.push(decoder.decode(value))
      if (done(events)) break
    }
  })().catch(() => {})
  await Promise.race([reading, sleep(ms)])
  reader.cancel().catch(() => {})
  return events
}

const noop = async () => {}
const job = (name, run = noop, input = z.object({})) => defineJob({ name, input, run })
const failing = (name) =>
  job(name, async () => {
    throw new Error('fail')
  })
const na = (reason) => ({ na: reason })

// The 56 cases, in the original's order. `d` is the library on the case's database.
const cases = [
  ['handle() routing: routes GET /subscribe to subscribe handler', async (d) => {
    const dd = d.register({ job: job('subscribe-test') })
    const run = await dd.jobs.job.trigger({})
    const r = await request(`/subscribe?runId=${run.id}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('Content-Type'), 'text/event-stream')
    await r.body.cancel()
  }],
  ['handle() routing: routes GET /runs to runs handler', async () => {
    const r = await request('/runs')
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('Content-Type'), 'application/json')
  }],
  ['handle() routing: routes GET /run to run handler', async (d) => {
    const run = await d.register({ job: job('run-route-test') }).jobs.job.trigger({})
    assert.equal((await request(`/run?runId=${run.id}`)).status, 200)
  }],
  ['handle() routing: routes POST /trigger to trigger handler', async (d) => {
    d.register({ job: job('trigger-route-test') })
    assert.equal((await post('/trigger', { jobName: 'trigger-route-test', input: {} })).status, 200)
  }],
  ['handle() routing: routes POST /retrigger to retrigger handler', async (d) => {
    const dd = d.register({ job: failing('retrigger-route-test') })
    const run = await dd.jobs.job.trigger({})
    dd.start()
    await waitFor(async () => assert.equal((await dd.getRun(run.id))?.status, 'failed'))
    assert.equal((await post(`/retrigger?runId=${run.id}`)).status, 200)
  }],
  ['handle() routing: routes POST /cancel to cancel handler', async (d) => {
    const run = await d.register({ job: job('cancel-route-test') }).jobs.job.trigger({})
    assert.equal((await post(`/cancel?runId=${run.id}`)).status, 200)
  }],
  ['handle() routing: returns 404 for unknown routes', async () => {
    assert.equal((await request('/unknown')).status, 404)
  }],
  ['handle() routing: calls onRequest hook after authentication', async () =>
    na('onRequest is a JavaScript callback; the server has no hook to call')],
  ['trigger: triggers a job and returns runId', async (d) => {
    d.register({ job: job('trigger-test', noop, z.object({ value: z.number() })) })
    const r = await post('/trigger', { jobName: 'trigger-test', input: { value: 42 } })
    assert.equal(r.status, 200)
    assert.ok((await r.json()).runId)
  }],
  ['trigger: returns 400 when jobName is missing', async () => {
    const r = await post('/trigger', { input: {} })
    assert.equal(r.status, 400)
    assert.equal((await r.json()).error, 'jobName is required')
  }],
  ['trigger: returns 404 when job is not found', async () => {
    const r = await post('/trigger', { jobName: 'non-existent', input: {} })
    assert.equal(r.status, 404)
    assert.equal((await r.json()).error, 'Job not found: non-existent')
  }],
  ['trigger: supports idempotencyKey and concurrencyKey', async (d) => {
    d.register({ job: job('trigger-options-test') })
    const r = await post('/trigger', {
      jobName: 'trigger-options-test', input: {}, idempotencyKey: 'idem-key', concurrencyKey: 'conc-key',
    })
    assert.equal(r.status, 200)
    const run = await d.getRun((await r.json()).runId)
    assert.equal(run?.idempotencyKey, 'idem-key')
    assert.equal(run?.concurrencyKey, 'conc-key')
  }],
  ['runs: returns all runs', async (d) => {
    const dd = d.register({ job: job('runs-test') })
    await dd.jobs.job.trigger({})
    await dd.jobs.job.trigger({})
    const r = await request('/runs')
    assert.equal(r.status, 200)
    assert.equal((await r.json()).length, 2)
  }],
  ['runs: excludes internal fields from response', async (d) => {
    await d.register({ job: job('client-run-test') }).jobs.job.trigger({})
    const body = await (await request('/runs')).json()
    assert.equal(body.length, 1)
    for (const k of ['idempotencyKey', 'concurrencyKey', 'leaseOwner', 'leaseExpiresAt', 'updatedAt', 'heartbeatAt']) {
      assert.ok(!(k in body[0]), k)
    }
    for (const k of ['id', 'jobName', 'status', 'createdAt']) assert.ok(k in body[0], k)
    assert.equal(body[0].isTerminal, false)
    assert.equal(body[0].isActive, true)
  }],
  ['runs: filters by jobName', async (d) => {
    const dd = d.register({ job1: job('filter-job-1'), job2: job('filter-job-2') })
    await dd.jobs.job1.trigger({})
    await dd.jobs.job2.trigger({})
    const body = await (await request('/runs?jobName=filter-job-1')).json()
    assert.equal(body.length, 1)
    assert.equal(body[0].jobName, 'filter-job-1')
  }],
  ['runs: filters by multiple jobName params', async (d) => {
    const dd = d.register({ job1: job('multi-filter-1'), job2: job('multi-filter-2'), job3: job('multi-filter-3') })
    await dd.jobs.job1.trigger({})
    await dd.jobs.job2.trigger({})
    await dd.jobs.job3.trigger({})
    const body = await (await request('/runs?jobName=multi-filter-1&jobName=multi-filter-3')).json()
    assert.deepEqual(body.map((r) => r.jobName).sort(), ['multi-filter-1', 'multi-filter-3'])
  }],
  ['runs: filters by status', async (d) => {
    const dd = d.register({ job: job('status-filter-test') })
    await dd.jobs.job.trigger({})
    await dd.jobs.job.trigger({})
    dd.start()
    await waitFor(async () => assert.ok((await dd.getRuns({ status: 'completed' })).length >= 1))
    const body = await (await request('/runs?status=completed')).json()
    for (const run of body) assert.equal(run.status, 'completed')
  }],
  ['runs: rejects invalid status values', async () => {
    assert.equal((await request('/runs?status=running')).status, 400)
  }],
  ['runs: filters by multiple status query params', async (d) => {
    const dd = d.register({ job: job('multi-status-api-test') })
    await dd.jobs.job.trigger({})
    await dd.jobs.job.trigger({})
    const r = await request('/runs?status=pending&status=leased')
    assert.equal(r.status, 200)
    const body = await r.json()
    assert.equal(body.length, 2)
    for (const run of body) assert.ok(['pending', 'leased'].includes(run.status))
  }],
  ['runs: rejects invalid status when multiple params are present', async () => {
    assert.equal((await request('/runs?status=pending&status=running')).status, 400)
  }],
  ['runs: rejects empty status query value', async () => {
    assert.equal((await request('/runs?status=')).status, 400)
  }],
  ['runs: rejects empty status when combined with valid status', async () => {
    assert.equal((await request('/runs?status=pending&status=')).status, 400)
  }],
  ['runs: supports limit and offset', async (d) => {
    const dd = d.register({ job: job('pagination-test', noop, z.object({ order: z.number() })) })
    for (let i = 1; i <= 5; i++) {
      await dd.jobs.job.trigger({ order: i })
      if (i < 5) await sleep(5)
    }
    assert.equal((await (await request('/runs?limit=2&offset=1')).json()).length, 2)
  }],
  ['run: returns a single run', async (d) => {
    const dd = d.register({ job: job('single-run-test', noop, z.object({ value: z.number() })) })
    const run = await dd.jobs.job.trigger({ value: 42 })
    const r = await request(`/run?runId=${run.id}`)
    const body = await r.json()
    assert.equal(r.status, 200)
    assert.equal(body.id, run.id)
    assert.deepEqual(body.input, { value: 42 })
    assert.equal(body.isTerminal, false)
    assert.equal(body.isActive, true)
  }],
  ['run: includes derived terminal and active flags for a completed run', async (d) => {
    const dd = d.register({ job: job('completed-run-flags-test') })
    const run = await dd.jobs.job.trigger({})
    dd.start()
    await waitFor(async () => assert.equal((await dd.getRun(run.id))?.status, 'completed'))
    const r = await request(`/run?runId=${run.id}`)
    const body = await r.json()
    assert.equal(r.status, 200)
    assert.equal(body.isTerminal, true)
    assert.equal(body.isActive, false)
  }],
  ['run: excludes internal fields from response', async (d) => {
    const run = await d.register({ job: job('single-client-run-test') }).jobs.job.trigger({})
    const r = await request(`/run?runId=${run.id}`)
    const body = await r.json()
    assert.equal(r.status, 200)
    for (const k of ['idempotencyKey', 'concurrencyKey', 'leaseOwner', 'leaseExpiresAt', 'updatedAt', 'heartbeatAt']) {
      assert.ok(!(k in body), k)
    }
    assert.equal(body.isTerminal, false)
    assert.equal(body.isActive, true)
  }],
  ['run: returns 400 when runId is missing', async () => {
    const r = await request('/run')
    assert.equal(r.status, 400)
    assert.equal((await r.json()).error, 'runId query parameter is required')
  }],
  ['run: returns 404 when run is not found', async () => {
    const r = await request('/run?runId=non-existent')
    assert.equal(r.status, 404)
    assert.equal((await r.json()).error, 'Run not found')
  }],
  ['retrigger: creates a fresh run from a failed run', async (d) => {
    const dd = d.register({ job: failing('retrigger-test') })
    const run = await dd.jobs.job.trigger({})
    dd.start()
    await waitFor(async () => assert.equal((await dd.getRun(run.id))?.status, 'failed'))
    const r = await post(`/retrigger?runId=${run.id}`)
    const body = await r.json()
    assert.equal(r.status, 200)
    assert.equal(body.success, true)
    assert.notEqual(body.runId, run.id)
    await waitFor(async () => assert.equal((await dd.getRun(body.runId))?.status, 'failed'))
  }],
  ['retrigger: returns 400 when runId is missing', async () => {
    const r = await post('/retrigger')
    assert.equal(r.status, 400)
    assert.equal((await r.json()).error, 'runId query parameter is required')
  }],
  ['retrigger: returns 409 when retriggering a pending run', async (d) => {
    const run = await d.register({ job: job('retrigger-pending-test') }).jobs.job.trigger({})
    assert.equal((await post(`/retrigger?runId=${run.id}`)).status, 409)
  }],
  ['cancel: cancels a pending run', async (d) => {
    const dd = d.register({ job: job('cancel-test') })
    const run = await dd.jobs.job.trigger({})
    const r = await post(`/cancel?runId=${run.id}`)
    assert.equal(r.status, 200)
    assert.equal((await r.json()).success, true)
    assert.equal((await dd.getRun(run.id))?.status, 'cancelled')
  }],
  ['cancel: returns 400 when runId is missing', async () => {
    const r = await post('/cancel')
    assert.equal(r.status, 400)
    assert.equal((await r.json()).error, 'runId query parameter is required')
  }],
  ['cancel: returns 409 when cancelling completed run', async (d) => {
    const dd = d.register({ job: job('cancel-completed-test') })
    const run = await dd.jobs.job.trigger({})
    dd.start()
    await waitFor(async () => assert.equal((await dd.getRun(run.id))?.status, 'completed'))
    assert.equal((await post(`/cancel?runId=${run.id}`)).status, 409)
  }],
  ['subscribe: returns SSE stream', async (d) => {
    const run = await d.register({ job: job('sse-test') }).jobs.job.trigger({})
    const r = await request(`/subscribe?runId=${run.id}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('Content-Type'), 'text/event-stream')
    assert.equal(r.headers.get('Cache-Control'), 'no-cache')
    await r.body.cancel()
  }],
  ['subscribe: streams events for a run', async (d) => {
    const dd = d.register({ job: job('sse-stream-test', async (step) => { await step.run('step1', async () => 'result') }) })
    const run = await dd.jobs.job.trigger({})
    const r = await request(`/subscribe?runId=${run.id}`)
    dd.start()
    const events = await readFor(r, 1000)
    assert.ok(events.length > 0)
    assert.ok(events.join('').includes('data:'))
  }],
  ['subscribe: returns 400 when runId is missing', async () => {
    assert.equal((await request('/subscribe')).status, 400)
  }],
  ['runsSubscribe: returns SSE stream for run updates', async () => {
    const r = await request('/runs/subscribe')
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('Content-Type'), 'text/event-stream')
    await r.body.cancel()
  }],
  ['runsSubscribe: streams run:trigger immediately when job is triggered', async (d) => {
    const dd = d.register({ job: job('runs-subscribe-trigger-test') })
    const r = await request('/runs/subscribe')
    const reading = readFor(r, 500, (ev) => ev.some((e) => e.includes('run:trigger')))
    await dd.jobs.job.trigger({})
    assert.ok((await reading).join('').includes('run:trigger'))
  }],
  ['runsSubscribe: streams run:cancel when job is cancelled', async (d) => {
    const dd = d.register({ job: job('runs-subscribe-cancel-test') })
    const r = await request('/runs/subscribe')
    const reading = readFor(r, 500, (ev) => ev.some((e) => e.includes('run:cancel')))
    const run = await dd.jobs.job.trigger({})
    await dd.cancel(run.id)
    assert.ok((await reading).join('').includes('run:cancel'))
  }],
  ['runsSubscribe: streams run:trigger when job is retriggered', async (d) => {
    const dd = d.register({ job: failing('runs-subscribe-retrigger-test') })
    const run = await dd.jobs.job.trigger({})
    dd.start()
    await sleep(200)
    const r = await request('/runs/subscribe')
    const reading = readFor(r, 500, (ev) => ev.some((e) => e.includes('run:trigger')))
    await dd.retrigger(run.id)
    assert.ok((await reading).join('').includes('run:trigger'))
  }],
  ['runsSubscribe: streams run lifecycle events', async (d) => {
    const dd = d.register({
      job: job('runs-subscribe-test', async (step) => {
        step.progress(50)
        await step.run('work', async () => {})
      }),
    })
    const r = await request('/runs/subscribe')
    const reading = readFor(r, 1000, (ev) => ev.length >= 3)
    await dd.jobs.job.trigger({})
    dd.start()
    const all = (await reading).join('')
    assert.ok(all.includes('data:'))
    assert.ok(all.includes('run:'))
  }],
  ['runsSubscribe: filters by jobName', async (d) => {
    const dd = d.register({ job1: job('filter-subscribe-1'), job2: job('filter-subscribe-2') })
    const r = await request('/runs/subscribe?jobName=filter-subscribe-1')
    const reading = readFor(r, 1000, (ev) => ev.length >= 2)
    await dd.jobs.job1.trigger({})
    await dd.jobs.job2.trigger({})
    dd.start()
    const all = (await reading).join('')
    if (all.includes('jobName')) {
      assert.ok(all.includes('filter-subscribe-1'))
      assert.ok(!all.includes('filter-subscribe-2'))
    }
  }],
  ['runsSubscribe: filters by multiple jobName params', async (d) => {
    const dd = d.register({ job1: job('multi-subscribe-1'), job2: job('multi-subscribe-2'), job3: job('multi-subscribe-3') })
    const r = await request('/runs/subscribe?jobName=multi-subscribe-1&jobName=multi-subscribe-3')
    const reading = readFor(r, 1000, (ev) => ev.length >= 2)
    await dd.jobs.job1.trigger({})
    await dd.jobs.job2.trigger({})
    await dd.jobs.job3.trigger({})
    const all = (await reading).join('')
    if (all.includes('jobName')) assert.ok(!all.includes('multi-subscribe-2'))
  }],
  ['auth middleware: calls authenticate before onRequest', async () =>
    na('authenticate and onRequest are JavaScript callbacks; authentication is the bearer token (next case)')],
  ['auth middleware: rejects unauthenticated requests without calling onRequest', async () => {
    const r = await fetch(`${url}/runs`)
    assert.equal(r.status, 401)
  }],
  ['auth middleware: passes context to onTrigger', async () =>
    na('onTrigger is a JavaScript callback; there is no per-request context to pass')],
  ['auth middleware: onTrigger runs after validation (missing jobName returns 400)', async () => {
    assert.equal((await post('/trigger', { input: {} })).status, 400)
  }],
  ['auth middleware: onTrigger runs after validation (unknown job returns 404)', async () => {
    assert.equal((await post('/trigger', { jobName: 'nonexistent', input: {} })).status, 404)
  }],
  ['auth middleware: onTrigger can reject with thrown Response', async (d, db) => {
    // Mapped: a server that refuses writes (--read-only) answers 403 to the same request.
    d.register({ job: job('auth-reject-test') })
    const ro = await startServer(db, ['--read-only'])
    try {
      const r = await fetch(`${ro.url}/trigger`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ jobName: 'auth-reject-test', input: {} }),
      })
      assert.equal(r.status, 403)
    } finally {
      await ro.stop()
    }
  }],
  ['auth middleware: onRunAccess receives run and operation type', async () =>
    na('onRunAccess is a JavaScript callback')],
  ['auth middleware: onRunAccess receives correct operation for each endpoint', async () =>
    na('onRunAccess is a JavaScript callback')],
  ['auth middleware: onRunAccess can reject with thrown Response', async () =>
    na('onRunAccess is a JavaScript callback; a token grants every run')],
  ['auth middleware: scopeRuns transforms filter', async (d) => {
    // Mapped: the scope the hook adds is the label filter the client sends.
    const dd = d.register({ job: job('auth-scope-test') })
    await dd.jobs.job.trigger({}, { labels: { tenant: 'org-1' } })
    await dd.jobs.job.trigger({}, { labels: { tenant: 'org-2' } })
    const body = await (await request('/runs?label.tenant=org-1')).json()
    assert.equal(body.length, 1)
    assert.equal(body[0].labels.tenant, 'org-1')
  }],
  ['auth middleware: only exposes handle() method', async () =>
    na('a property of the JavaScript object createDurablyHandler returns')],
  ['auth middleware: throws if auth is provided without authenticate', async () =>
    na('a check of createDurablyHandler\'s JavaScript options')],
]

const results = []
for (const [name, body] of cases) {
  const fresh = await freshDb()
  let server
  let d
  try {
    server = await startServer(fresh.db)
    url = server.url
    d = createDurably({ dialect: dialectFor(fresh.db), pollingIntervalMs: 50 })
    await d.migrate()
    const outcome = await body(d, fresh.db)
    results.push(outcome?.na ? { name, result: 'n/a', detail: outcome.na } : { name, result: 'pass' })
  } catch (e) {
    results.push({ name, result: 'fail', detail: String(e?.stack ?? e) })
  } finally {
    if (d) {
      await d.stop().catch(() => {})
      await d.db.destroy().catch(() => {})
    }
    if (server) await server.stop()
    await fresh.drop().catch(() => {})
  }
}
console.log(JSON.stringify(results))

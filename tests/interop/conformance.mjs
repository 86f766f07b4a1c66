// Conformance by difference: the library's own handler (createDurablyHandler of 0.15.0 on
// node:http, jobs `conf`, `conf-other` and `conf-fail` registered) and `durably serve` on the
// same database get the same requests; status codes and JSON bodies are compared field by
// field. Driven by tests/integration/serve_interop.rs:
//
//   node conformance.mjs DURABLY_BIN DB HANDLERS
//
// DB is a SQLite file (created by `durably serve`) or a postgres:// URL. Reads go to both
// servers over the same rows and must be equal as they are; writes act on a twin subject per
// server (its own run, its own keys), and their answers are compared with ids, keys and
// timestamps masked. Requests include what @coji/durably-react's client sends: GET /runs with
// limit = pageSize + 1, status=leased&limit=1, EventSource on /subscribe and /runs/subscribe,
// GET /run answered 404 (the client's null). Streams: the library's handler only sees events
// of its own process, so every streamed change is made by the library (trigger, cancel,
// worker) and both servers must stream the same objects. Cases whose difference is
// documented (README, "durably serve") carry `expect` and pass when the difference is exactly
// that. Prints one JSON line: [{name, same, documented, lib, ours}].

import http from 'node:http'
import { spawn } from 'node:child_process'
import { isDeepStrictEqual } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, createDurablyHandler, defineJob } from '@coji/durably'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'

const [bin, db, handlers] = process.argv.slice(2)
const BASE = '/api/durably'
setTimeout(() => {
  console.error('conformance.mjs: still running after 240 s, exiting')
  process.exit(3)
}, 240000).unref()

function startOurs() {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--db', db, 'serve', '--bind', '127.0.0.1:0', '--base-path', BASE, '--handlers', handlers], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
      const m = err.match(/serving on http:\/\/(127\.0\.0\.1:\d+)/)
      if (m) resolve({ url: `http://${m[1]}${BASE}`, child })
    })
    child.on('exit', (code) => reject(new Error(`durably serve exited ${code}: ${err}`)))
  })
}

function dialect() {
  if (db.startsWith('postgres')) return new PostgresDialect({ pool: new pg.Pool({ connectionString: db, max: 3 }) })
  return new LibsqlDialect({ client: createClient({ url: `file:${db}`, timeout: 30000 }) })
}

const conf = defineJob({
  name: 'conf',
  input: z.any(),
  run: async (step, input) => {
    const a = await step.run('first', () => ({ got: input ?? null }))
    step.progress(1, 2, 'half')
    step.log.info('a log line', { n: 1 })
    return { a }
  },
})
const other = defineJob({ name: 'conf-other', input: z.any(), run: async () => 'other' })
const failing = defineJob({
  name: 'conf-fail',
  input: z.any(),
  run: async (step) => {
    await step.run('boom', () => {
      throw new Error('kaboom')
    })
  },
})

// The library's handler on node:http.
function startLibrary(durably) {
  const handler = createDurablyHandler(durably)
  const server = http.createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    const init = { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' } }
    if (!['GET', 'HEAD'].includes(req.method)) init.body = Buffer.concat(chunks)
    const response = await handler.handle(new Request(`http://${req.headers.host}${req.url}`, init), BASE)
    res.writeHead(response.status, Object.fromEntries(response.headers))
    res.flushHeaders()
    if (response.body) {
      const reader = response.body.getReader()
      res.on('close', () => reader.cancel().catch(() => {}))
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          res.write(value)
        }
      } catch {}
    }
    res.end()
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}${BASE}`, server })),
  )
}

let lib
let ours
const results = []

async function call(base, method, path, body) {
  const init = { method, headers: { 'Content-Type': 'application/json' } }
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body)
  const r = await fetch(`${base}${path}`, init)
  const text = await r.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: r.status, body: json }
}

const MASKED = new Set(['id', 'runId', 'createdAt', 'updatedAt', 'startedAt', 'completedAt', 'timestamp', 'sequence', 'leaseExpiresAt', 'duration'])
function mask(v, words = []) {
  if (Array.isArray(v)) return v.map((x) => mask(x, words))
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, MASKED.has(k) && x != null ? '<masked>' : mask(x, words)]))
  }
  if (typeof v === 'string') return words.reduce((s, [from, to]) => s.split(from).join(to), v)
  return v
}

function record(name, l, o, { masked = false, words = [[], []], expect } = {}) {
  const lv = masked ? mask(l, words[0]) : l
  const ov = masked ? mask(o, words[1]) : o
  const same = isDeepStrictEqual(lv, ov)
  const documented = expect ? expect(l, o) : false
  results.push({ name, same, documented: Boolean(expect) && documented, expected: Boolean(expect), lib: lv, ours: ov })
}

// The same request to both servers over the same rows.
async function read(name, path, method = "GET", opts) {
  if (process.env.CONF_DEBUG) console.error("read", name)
  record(name, await call(lib.url, method, path), await call(ours.url, method, path), opts)
}

// The same request, each server on its own twin subject (`path(side)` builds it).
async function twin(name, build, opts = {}) {
  if (process.env.CONF_DEBUG) console.error("twin", name)
  const l = build('lib')
  const o = build('ours')
  const a = await call(lib.url, l.method, l.path, l.body)
  const b = await call(ours.url, o.method, o.path, o.body)
  record(name, a, b, { masked: true, ...opts })
  return [a, b]
}

// Reads a stream until `until(events)` or `ms`; the events and whether the server ended it.
async function collect(url, ms, until = () => false) {
  const controller = new AbortController()
  const r = await fetch(url, { signal: controller.signal })
  if (r.status !== 200) return { status: r.status, body: await r.json(), events: [], ended: true }
  const reader = r.body.getReader()
  const decoder = new TextDecoder()
  const events = []
  let buffer = ''
  let ended = false
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) {
        ended = true
        return
      }
      buffer += decoder.decode(value)
      let i
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        if (frame.startsWith('data: ')) events.push(JSON.parse(frame.slice(6)))
      }
      if (until(events)) return
    }
  })().catch(() => {})
  await Promise.race([reading, sleep(ms)])
  controller.abort()
  return { status: r.status, contentType: r.headers.get('content-type'), events, ended }
}

async function main() {
  const o = await startOurs()
  ours = o
  const durably = createDurably({ dialect: dialect(), preserveSteps: true, pollingIntervalMs: 50, jobs: { conf, other, failing } })
  await durably.migrate()
  lib = await startLibrary(durably)
  try {
    await scenario(durably)
  } finally {
    await durably.stop().catch(() => {})
    lib.server.close()
    o.child.kill('SIGTERM')
    await durably.db.destroy().catch(() => {})
  }
  console.log(JSON.stringify(results))
  process.exit(0)
}

async function scenario(durably) {
  const j = durably.jobs
  // Rows both servers read: made by the library, a few ms apart (no created_at ties).
  const made = []
  for (const [job, input, labels] of [
    [j.conf, { n: 1 }, { tenant: 'a' }],
    [j.other, { n: 2 }, { tenant: 'b' }],
    [j.conf, { n: 3 }, { tenant: 'a', region: 'eu' }],
    [j.failing, {}, {}],
  ]) {
    made.push(await job.trigger(input, { labels }))
    await sleep(5)
  }
  await durably.processUntilIdle()
  const done = made[0].id
  const failed = made[3].id
  const pending = (await j.conf.trigger({ n: 9 }, { labels: { tenant: 'c' } })).id
  await sleep(5)

  for (const q of [
    '', '?limit=11', '?status=leased&limit=1', '?limit=11&offset=0&jobName=conf', '?jobName=conf&jobName=conf-other',
    '?status=completed&status=failed', '?status=pending', '?label.tenant=a', '?label.tenant=a&label.region=eu',
    '?limit=2&offset=1', '?limit=0', '?limit=1abc', '?status=running', '?status=', '?status=pending&status=',
    '?limit=-1', '?limit=abc', '?offset=-1', '?jobName=nope',
  ]) {
    await read(`GET /runs${q}`, `/runs${q}`)
  }
  // The library's PostgreSQL store sends an offset without a limit as LIMIT -1: 500 there.
  await read('GET /runs?offset=3', '/runs?offset=3', 'GET', { expect: (l, o) => l.status === 500 && o.status === 200 })
  for (const id of [done, failed, pending]) await read(`GET /run (${id === done ? 'completed' : id === failed ? 'failed' : 'pending'})`, `/run?runId=${id}`)
  await read('GET /run without runId', '/run')
  await read('GET /run of an unknown id (the client reads null)', '/run?runId=nope')
  await read('GET /steps of a completed run', `/steps?runId=${done}`)
  await read('GET /steps of a failed run', `/steps?runId=${failed}`)
  await read('GET /steps without runId', '/steps')
  await read('GET /steps of an unknown id', '/steps?runId=nope')
  await read('GET an unknown route', '/unknown')
  await read('POST /runs (no such route)', '/runs', 'POST')
  await read('GET /subscribe without runId', '/subscribe')
  await read('GET /subscribe of an unknown id', '/subscribe?runId=nope')
  await read('POST /cancel without runId', '/cancel', 'POST')
  await read('POST /retrigger of an unknown id', '/retrigger?runId=nope', 'POST')
  await read('DELETE /run of an unknown id', '/run?runId=nope', 'DELETE')
  await read('POST /cancel of a completed run', `/cancel?runId=${done}`, 'POST')
  await read('POST /cancel of a failed run', `/cancel?runId=${failed}`, 'POST')

  // Triggers, each server its own keys.
  const key = (side, k) => `${k}-${side}`
  const words = [[['-lib', '-<side>']], [['-ours', '-<side>']]]
  const [a, b] = await twin('POST /trigger', (s) => ({ method: 'POST', path: '/trigger', body: { jobName: 'conf', input: { x: 1 }, labels: { tenant: 'w' }, idempotencyKey: key(s, 'i'), concurrencyKey: key(s, 'c') } }))
  record('GET /run of a triggered run', await call(lib.url, 'GET', `/run?runId=${a.body.runId}`), await call(ours.url, 'GET', `/run?runId=${b.body.runId}`), { masked: true })
  await twin('POST /trigger again with the idempotency key', (s) => ({ method: 'POST', path: '/trigger', body: { jobName: 'conf', input: {}, idempotencyKey: key(s, 'i') } }))
  await twin('POST /trigger coalesced on the concurrency key', (s) => ({ method: 'POST', path: '/trigger', body: { jobName: 'conf', input: {}, concurrencyKey: key(s, 'c'), coalesce: 'skip' } }))
  await twin('POST /trigger conflicting on the concurrency key', (s) => ({ method: 'POST', path: '/trigger', body: { jobName: 'conf', input: {}, concurrencyKey: key(s, 'c') } }), { words })
  for (const [name, body] of [
    ['without jobName', { input: {} }],
    ['with an empty jobName', { jobName: '', input: {} }],
    ['of an unknown job', { jobName: 'not-registered', input: {} }],
    ['with an invalid coalesce', { jobName: 'conf', input: {}, concurrencyKey: 'k', coalesce: 'always' }],
    ['coalescing without a concurrency key', { jobName: 'conf', input: {}, coalesce: 'skip' }],
  ]) {
    await twin(`POST /trigger ${name}`, () => ({ method: 'POST', path: '/trigger', body }))
  }
  const badLabel = (l, o) => l.status === 500 && o.status === 400
  await twin('POST /trigger with an invalid label key', () => ({ method: 'POST', path: '/trigger', body: { jobName: 'conf', input: {}, labels: { 'bad key': 'v' } } }), { expect: badLabel })
  await twin('POST /trigger with a body that is not JSON', () => ({ method: 'POST', path: '/trigger', body: '{nope' }), { expect: (l, o) => l.status === 500 && o.status === 400 })
  await read('GET /runs with an invalid label key', '/runs?label.bad%20key=v', 'GET', { expect: badLabel })

  // Cancel, retrigger, delete: twin runs made by the library.
  const subject = {}
  for (const s of ['lib', 'ours']) subject[s] = (await j.other.trigger({ t: s })).id
  const idw = [[[subject.lib, '<run>']], [[subject.ours, '<run>']]]
  const on = (s, method, path) => ({ method, path: `${path}?runId=${subject[s]}` })
  await twin('POST /retrigger of a pending run', (s) => on(s, 'POST', '/retrigger'), { words: idw })
  await twin('DELETE /run of a pending run', (s) => on(s, 'DELETE', '/run'), { words: idw })
  await twin('POST /cancel of a pending run', (s) => on(s, 'POST', '/cancel'), { words: idw })
  await twin('POST /cancel of a cancelled run', (s) => on(s, 'POST', '/cancel'), { words: idw })
  await twin('POST /retrigger of a cancelled run', (s) => on(s, 'POST', '/retrigger'), { words: idw })
  await twin('DELETE /run of a cancelled run', (s) => on(s, 'DELETE', '/run'), { words: idw })
  await twin('DELETE /run again', (s) => on(s, 'DELETE', '/run'), { words: idw })

  // Streams of stored states: the stored end, then the end of the stream.
  for (const [name, id] of [['completed', done], ['failed', failed]]) {
    const l = await collect(`${lib.url}/subscribe?runId=${id}`, 3000)
    const o = await collect(`${ours.url}/subscribe?runId=${id}`, 3000)
    record(`EventSource /subscribe of a ${name} run`, l, o, { masked: true })
  }
  // Live streams: changes made by the library, seen by its handler in process and by ours
  // through the database.
  const live = await j.conf.trigger({ live: true }, { labels: { tenant: 'live' } })
  await sleep(300)
  const until = (e) => e.some((x) => x.type === 'run:cancel')
  // The label stream sees both runs cancelled: it ends after both cancels (the library's may
  // arrive in one chunk, ours one poller tick apart).
  const untilBoth = (e) => e.filter((x) => x.type === 'run:cancel').length >= 2
  const subs = [
    collect(`${lib.url}/subscribe?runId=${live.id}`, 4000, until),
    collect(`${ours.url}/subscribe?runId=${live.id}`, 4000, until),
    collect(`${lib.url}/runs/subscribe?label.tenant=live`, 4000, untilBoth),
    collect(`${ours.url}/runs/subscribe?label.tenant=live`, 4000, untilBoth),
    collect(`${lib.url}/runs/subscribe?jobName=conf-other`, 4000, until),
    collect(`${ours.url}/runs/subscribe?jobName=conf-other`, 4000, until),
  ]
  await sleep(500)
  const next = await j.conf.trigger({ live: 2 }, { labels: { tenant: 'live' } })
  await sleep(300)
  await durably.cancel(live.id)
  await durably.cancel(next.id)
  const [ls, os, lr, or, lo, oo] = await Promise.all(subs)
  record('EventSource /subscribe while the library cancels the run', ls, os, { masked: true })
  const streamed = (x) => ({ ...x, ended: undefined })
  record('EventSource /runs/subscribe?label.tenant= while the library triggers and cancels', streamed(lr), streamed(or), { masked: true })
  record('EventSource /runs/subscribe?jobName= of a job that did nothing', streamed(lo), streamed(oo), { masked: true })
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})

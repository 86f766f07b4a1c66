// `durably serve` beside @coji/durably's own handler (createDurablyHandler on node:http, in a
// process of its own) over the same database; driven by bench/serve.sh:
//
//   node serve.mjs DURABLY_BIN DB [SECONDS]     run the comparison; prints a Markdown report
//   node serve.mjs lib-server DB                (internal) the library's handler; prints its URL
//
// For each server and each request: latency of sequential requests over one keep-alive
// connection (p50/p99 of 300 after 30 warm-up; on loopback an upper bound of the server-side
// time), then requests/s with 8 keep-alive connections for SECONDS. Then the CPU time of each
// server process (utime+stime from /proc) over 20 s idle, without and with 100 open
// `/runs/subscribe` streams.

import http from 'node:http'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

const [mode, db, third] = process.argv.slice(2)

async function libServer() {
  const { createDurably, createDurablyHandler } = await import('@coji/durably')
  let dialect
  if (db.startsWith('postgres')) {
    const { PostgresDialect } = await import('kysely')
    const pg = (await import('pg')).default
    dialect = new PostgresDialect({ pool: new pg.Pool({ connectionString: db, max: 4 }) })
  } else {
    const { createClient } = await import('@libsql/client')
    const { LibsqlDialect } = await import('@libsql/kysely-libsql')
    dialect = new LibsqlDialect({ client: createClient({ url: `file:${db}`, timeout: 30000 }) })
  }
  const durably = createDurably({ dialect })
  const handler = createDurablyHandler(durably)
  const server = http.createServer(async (req, res) => {
    const response = await handler.handle(new Request(`http://${req.headers.host}${req.url}`, { method: req.method }), '')
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
  server.listen(0, '127.0.0.1', () => console.log(`serving on http://127.0.0.1:${server.address().port}`))
}

function start(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    const look = (d) => {
      text += d
      const m = text.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/)
      if (m) resolve({ url: m[1], child })
    }
    child.stdout.on('data', look)
    child.stderr.on('data', look)
    child.on('exit', (c) => reject(new Error(`${cmd} exited ${c}: ${text}`)))
  })
}

function get(agent, url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
  })
}

async function latency(url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < 30; i++) await get(agent, url)
  const times = []
  for (let i = 0; i < 300; i++) {
    const t = process.hrtime.bigint()
    const status = await get(agent, url)
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    if (status !== 200) throw new Error(`${url}: ${status}`)
  }
  agent.destroy()
  times.sort((a, b) => a - b)
  return { p50: times[149], p99: times[296] }
}

async function throughput(url, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const end = Date.now() + seconds * 1000
  let n = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() < end) {
        await get(agent, url)
        n++
      }
    }),
  )
  agent.destroy()
  return n / seconds
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

async function idleCpu(server, streams, seconds = 20) {
  const open = []
  for (let i = 0; i < streams; i++) {
    open.push(
      new Promise((resolve) => {
        const req = http.get(`${server.url}/runs/subscribe`, (res) => {
          res.on('data', () => {})
          resolve(req)
        })
        req.on('error', () => resolve(req))
      }),
    )
  }
  const reqs = await Promise.all(open)
  await sleep(1000)
  const before = cpuMs(server.child.pid)
  await sleep(seconds * 1000)
  const used = cpuMs(server.child.pid) - before
  for (const r of reqs) r.destroy()
  return (used / (seconds * 1000)) * 100
}

async function main() {
  const seconds = Number(third ?? 5)
  const ours = await start(mode, ['--db', db, 'serve', '--bind', '127.0.0.1:0'])
  const lib = await start('node', ['serve.mjs', 'lib-server', db])
  const probe = JSON.parse(await (await fetch(`${ours.url}/runs?limit=1`)).text())[0]
  const paths = ['/runs?label.tenant=t7&limit=50', '/runs?limit=50', '/runs?status=pending&limit=11', `/run?runId=${probe.id}`]
  const rows = []
  for (const path of paths) {
    const o = await latency(`${ours.url}${path}`)
    const l = await latency(`${lib.url}${path}`)
    const orps = await throughput(`${ours.url}${path}`, seconds)
    const lrps = await throughput(`${lib.url}${path}`, seconds)
    rows.push(`| \`GET ${path.replace(probe.id, 'ID')}\` | ${o.p50.toFixed(2)} / ${o.p99.toFixed(2)} ms | ${l.p50.toFixed(2)} / ${l.p99.toFixed(2)} ms | ${orps.toFixed(0)} | ${lrps.toFixed(0)} | ${(orps / lrps).toFixed(2)}× |`)
  }
  console.log('| request | durably serve p50 / p99 | library p50 / p99 | durably req/s (8 conns) | library req/s | ratio |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const r of rows) console.log(r)
  const idle0 = await idleCpu(ours, 0)
  const idle100 = await idleCpu(ours, 100)
  const lib100 = await idleCpu(lib, 100)
  console.log('')
  console.log('| idle server, 20 s | CPU (% of one core) |')
  console.log('|---|---:|')
  console.log(`| durably serve, no stream | ${idle0.toFixed(2)} % |`)
  console.log(`| durably serve, 100 open /runs/subscribe | ${idle100.toFixed(2)} % |`)
  console.log(`| library handler, 100 open /runs/subscribe (no poller: in-process events only) | ${lib100.toFixed(2)} % |`)
  ours.child.kill('SIGTERM')
  lib.child.kill('SIGTERM')
  process.exit(0)
}

if (mode === 'lib-server') libServer()
else main()

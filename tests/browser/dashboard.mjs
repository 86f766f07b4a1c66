// The dashboard of `durably serve` in headless chromium, driven by
// tests/integration/dashboard.rs, which starts the server and made the runs:
//
//   node dashboard.mjs live     SPEC   the page follows a CLI worker and cancels runs
//   node dashboard.mjs readonly SPEC   a --read-only server: no write button is shown
//
// SPEC is a JSON object: {url, bin, db, handlers, done: [ID, ID, ID], hold: [ID, ID], hostile,
// hostileJob, shots}. `done` are three pending runs of job `done` (a handler exists and
// writes a hostile line to stderr, kept as a log; the first run carries hostile labels);
// `hold` two pending runs of job `hold` (no handler, nobody claims them); `hostile` the
// hostile string; `hostileJob` the id of a pending run whose job name is the hostile string.
// `live` cancels both `hold` runs, retriggers the first and deletes the third `done` run.
// Prints one JSON line ({ok: true, cancelled: [...], retriggered: {from, to}, deleted}) and exits 0, or one line on stderr and
// exits 1 (a screenshot of each open page is left in `shots` when it is set).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { launch } from './browser.mjs'

const run = promisify(execFile)
const [mode, specText] = process.argv.slice(2)
const spec = JSON.parse(specText || '{}')
const BOUND = 20000
const pages = []
const problems = []
let doing = 'starting'
// Names what the script is doing, for the failure line.
const step = (what) => { doing = what }

setTimeout(() => fail('watchdog: still running after 180 s'), 180000).unref()

function fail(message) {
  console.error(`dashboard.mjs ${mode}: ${message}`)
  process.exit(1)
}
function check(cond, message) {
  if (!cond) throw new Error(message)
}

async function open(browser, url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport })
  pages.push(page)
  // JavaScript errors and refusals by the Content-Security-Policy are failures.
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`)
  })
  page.on('dialog', (d) => d.accept())
  await page.goto(url)
  // A value that survives only as long as the document does: proof that nothing reloaded.
  await page.evaluate(() => { window.__sameDocument = true })
  return page
}
// The list's table shows the view the fragment names.
const viewLoaded = (page) => page.waitForFunction(() => document.getElementById('runs').dataset.view === location.hash, null, { timeout: BOUND })
const row = (id, status) => `#runs-body tr[data-run-id="${id}"]${status ? `[data-status="${status}"]` : ''}`

async function sameDocument(page) {
  check(await page.evaluate(() => window.__sameDocument === true), 'the page reloaded')
}

// Nothing from the database became markup: no <img> anywhere, the onerror never ran, and the
// hostile text is on the page as text.
async function noMarkup(page, where) {
  const found = await page.evaluate((hostile) => ({
    imgs: document.querySelectorAll('img').length,
    xss: window.__xss,
    text: document.body.innerText.includes(hostile),
  }), spec.hostile)
  check(found.imgs === 0, `${where}: ${found.imgs} <img> element(s) came from the database`)
  check(found.xss === undefined, `${where}: a hostile onerror ran`)
  check(found.text, `${where}: the hostile string is not shown as text`)
}

async function noHorizontalOverflow(page, where) {
  const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }))
  check(w.scroll <= w.inner, `${where}: the page is ${w.scroll} px wide in a ${w.inner} px viewport`)
}

async function show(id) {
  const { stdout } = await run(spec.bin, ['--db', spec.db, 'show', id, '--json'])
  return JSON.parse(stdout)
}

async function live(browser) {
  const [listed, watched, spare] = spec.done
  const [cancelOne, cancelBulk] = spec.hold
  step('listing the pending runs')
  const list = await open(browser, spec.url)
  for (const id of [listed, watched, cancelOne, cancelBulk, spec.hostileJob]) {
    await list.waitForSelector(row(id, 'pending'), { timeout: BOUND })
  }
  const runPage = await open(browser, `${spec.url}#/run/${watched}`)
  await runPage.waitForSelector('#run-job', { timeout: BOUND })
  await runPage.evaluate(() => { window.__sameDocument = true })
  step('opening a run page and the streams')
  // Wait for both streams before the worker starts, so that no event comes before them.
  await list.waitForSelector('#live[data-state="on"]', { timeout: BOUND })
  await runPage.waitForSelector('#live[data-state="on"]', { timeout: BOUND })

  step('running the CLI worker')
  // A CLI worker finishes both `done` runs; both pages follow without a reload.
  await run(spec.bin, ['--db', spec.db, 'work', '--handlers', spec.handlers, '--job', 'done', '--until-idle'])
  for (const id of spec.done) check((await show(id)).status === 'completed', `run ${id} is not completed in the database`)
  step('waiting for completed without a reload')
  await list.waitForSelector(row(listed, 'completed'), { timeout: BOUND })
  await list.waitForSelector(row(watched, 'completed'), { timeout: BOUND })
  await sameDocument(list)
  await runPage.waitForSelector('.run-head [data-status="completed"]', { timeout: BOUND })
  await runPage.waitForFunction((h) => document.getElementById('logs')?.innerText.includes(h), spec.hostile, { timeout: BOUND })
  await sameDocument(runPage)
  await noMarkup(runPage, 'run page (logs)')
  await noMarkup(list, 'list (job name, labels)')

  step('cancelling from a run page')
  // Cancel one run from its page and one through the list's selection.
  await list.click(`${row(cancelOne)} a.job`)
  await list.waitForSelector(`.run-head [data-status="pending"]`, { timeout: BOUND })
  await list.click('[data-action="cancel"]')
  await list.waitForSelector('.run-head [data-status="cancelled"]', { timeout: BOUND })
  step('cancelling a selection')
  await list.click('#run-view a[href="#/"]')
  await list.waitForSelector(row(cancelBulk, 'pending'), { timeout: BOUND })
  await list.check(`${row(cancelBulk)} input[type=checkbox]`)
  await list.click('[data-bulk="cancel"]')
  await list.waitForSelector(row(cancelBulk, 'cancelled'), { timeout: BOUND })
  await list.waitForSelector(row(cancelOne, 'cancelled'), { timeout: BOUND })
  await sameDocument(list)

  step('retriggering and deleting from run pages')
  await list.click(`${row(cancelOne)} a.job`)
  await list.waitForSelector('.run-head [data-status="cancelled"]', { timeout: BOUND })
  await list.click('[data-action="retrigger"]')
  await list.waitForFunction((id) => /^#\/run\//.test(location.hash) && !location.hash.endsWith(id), cancelOne, { timeout: BOUND })
  const retriggered = decodeURIComponent((await list.evaluate(() => location.hash)).slice('#/run/'.length))
  await list.waitForSelector(`.run-head .id:text("${retriggered}")`, { timeout: BOUND })
  await list.waitForSelector('.run-head [data-status="pending"]', { timeout: BOUND })
  await list.evaluate((id) => { location.hash = `#/run/${id}` }, spare)
  await list.waitForSelector(`.run-head .id:text("${spare}")`, { timeout: BOUND })
  await list.click('[data-action="delete"]')
  await list.waitForFunction(() => location.hash === '#/', null, { timeout: BOUND })
  await viewLoaded(list)
  check(!(await list.$(row(spare))), 'a deleted run is still listed')
  await list.waitForSelector(row(retriggered, 'pending'), { timeout: BOUND })
  await sameDocument(list)

  step('filtering')
  // A filter by status and label lives in the fragment: reloading it shows the same view.
  await list.click('button.count[data-status="completed"]')
  await list.waitForFunction(() => location.hash.includes('status=completed'), null, { timeout: BOUND })
  await viewLoaded(list)
  await list.waitForSelector(row(listed, 'completed'), { timeout: BOUND })
  check(!(await list.$(row(cancelOne))), 'a status filter still lists a cancelled run')
  await list.fill('#f-label', `note=${spec.hostile}`)
  await list.click('#filters button[type=submit]')
  await list.waitForFunction(() => location.hash.includes('label.note='), null, { timeout: BOUND })
  await list.reload()
  await viewLoaded(list)
  await list.waitForSelector(row(listed, 'completed'), { timeout: BOUND })
  check(!(await list.$(row(watched))), 'a label filter still lists a run without the label')

  step('checking phone width')
  // At phone width nothing overflows: the list and the page of a run with logs and labels.
  const phone = await open(browser, spec.url, { width: 375, height: 812 })
  await phone.waitForSelector(row(listed), { timeout: BOUND })
  await noHorizontalOverflow(phone, 'list at 375 px')
  await noMarkup(phone, 'list at 375 px')
  for (const id of [watched, listed]) {
    await phone.evaluate((id) => { location.hash = `#/run/${id}` }, id)
    await phone.waitForSelector(`.run-head .id:text("${id}")`, { timeout: BOUND })
    await phone.waitForSelector('.run-head [data-status="completed"]', { timeout: BOUND })
    await noHorizontalOverflow(phone, `run page of ${id} at 375 px`)
  }
  return { cancelled: [cancelOne, cancelBulk], retriggered: { from: cancelOne, to: retriggered }, deleted: spare }
}

async function readonly(browser) {
  step('listing runs read-only')
  const list = await open(browser, spec.url)
  const id = spec.hostileJob
  await list.waitForSelector(row(id, 'pending'), { timeout: BOUND })
  await list.waitForSelector('#ro-badge:not([hidden])', { timeout: BOUND })
  const shown = await list.evaluate(() => [...document.querySelectorAll('[data-bulk], #runs-body input[type=checkbox]')]
    .filter((e) => e.offsetParent !== null).length)
  check(shown === 0, `${shown} write control(s) shown by a read-only server`)
  step('opening a run read-only')
  await list.click(`${row(id)} a.job`)
  await list.waitForSelector('.run-head [data-status="pending"]', { timeout: BOUND })
  check(!(await list.isVisible('[data-action="cancel"]')), 'a read-only server shows Cancel')
  await noMarkup(list, 'read-only run page')
  return {}
}

const browser = await launch()
try {
  const result = await ({ live, readonly }[mode] || (() => fail(`unknown mode ${mode}`)))(browser)
  check(problems.length === 0, problems.join('; '))
  console.log(JSON.stringify({ ok: true, ...result }))
} catch (e) {
  if (spec.shots) {
    for (const [i, p] of pages.entries()) await p.screenshot({ path: `${spec.shots}/failed-${i}.png`, fullPage: true }).catch(() => {})
  }
  fail(`while ${doing}: ${e.message.split('\n')[0]}${problems.length ? ` (also: ${problems.join('; ')})` : ''}`)
} finally {
  await browser.close()
}

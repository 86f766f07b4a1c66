// PNGs of the dashboard for a person to look at: the list and a run's page at desktop width,
// and both at phone width (375 px; the list's first screen).
//
//   node screenshots.mjs URL OUTDIR [RUN_ID]
//
// URL is the page (e.g. http://127.0.0.1:PORT/ or with #token=…); RUN_ID the run whose page is
// shown (default: the first run of the list). Chromium: $CHROMIUM or /usr/bin/chromium.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { launch } from './browser.mjs'

const [pageUrl, outDir, runArg] = process.argv.slice(2)
if (!pageUrl || !outDir) {
  console.error('usage: node screenshots.mjs URL OUTDIR [RUN_ID]')
  process.exit(2)
}
mkdirSync(outDir, { recursive: true })
const browser = await launch()
try {
  for (const [name, viewport] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 375, height: 812 }]]) {
    const page = await browser.newPage({ viewport, deviceScaleFactor: name === 'phone' ? 2 : 1 })
    await page.goto(pageUrl)
    await page.waitForSelector('#runs-body tr')
    await page.waitForTimeout(300)
    // A phone shows its first screen (a whole long list is a strip too thin to look at).
    await page.screenshot({ path: join(outDir, `list-${name}.png`), fullPage: name !== 'phone' })
    const runId = runArg || (await page.getAttribute('#runs-body tr[data-run-id]', 'data-run-id'))
    await page.evaluate((id) => { location.hash = `#/run/${encodeURIComponent(id)}` }, runId)
    await page.waitForSelector('#run-job')
    await page.waitForTimeout(500)
    await page.screenshot({ path: join(outDir, `run-${name}.png`), fullPage: true })
    await page.close()
  }
} finally {
  await browser.close()
}
console.log(`screenshots in ${outDir}`)

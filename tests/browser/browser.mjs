// Launches Debian's chromium (or $CHROMIUM) headless through playwright-core: no browser is
// downloaded. Exits 2 with one line when the executable is missing.
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean)
  return candidates.find((p) => existsSync(p))
}

export async function launch() {
  const executablePath = chromiumPath()
  if (!executablePath) {
    console.error('no chromium: install Debian\'s `chromium` package (apt-get install chromium) or set CHROMIUM')
    process.exit(2)
  }
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
}

// What every browser test of the web hall shares: Debian's chromium (no browser is downloaded)
// driven by playwright-core from web/node_modules, the stack's URLs from the environment
// that tests/browser/run sets up, and the watch on a page for anything that went wrong.
// Each tests/browser/<name>.mjs is its own ctest entry browser.<name>; they import this.
import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
export const { chromium } = createRequire(path.join(root, 'web/package.json'))('playwright-core')

export const need = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run through tests/browser/run or scripts/test)`)
  return v.replace(/\/+$/, '')
}
export const base = need('CERTHALL_URL')
export const smsGateway = need('CERTHALL_SMS_GATEWAY_URL')
export const logDir = process.env.CERTHALL_BROWSER_LOG_DIR ||
  path.join(process.env.CERTHALL_BUILD || path.join(root, 'build'), 'browser-results')
mkdirSync(logDir, { recursive: true })

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }
// As the machine notes say: no background networking, which a closed network refuses.
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

export const log = (...a) => console.log('[browser]', ...a)

// Everything that went wrong on a page: console errors, exceptions, failed requests.
export function watch(page) {
  const problems = []
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`))
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`))
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`) })
  return problems
}

export function clean(problems, where) {
  if (problems.length) throw new Error(`${where}:\n  ${problems.join('\n  ')}`)
}

// Opens url and fails at once, with what the page reported, unless the document loaded.
export async function open(page, url, problems) {
  const resp = await page.goto(url, { waitUntil: 'networkidle' })
  if (!resp || !resp.ok()) {
    throw new Error(`GET ${url}: ${resp ? resp.status() : 'no answer'}\n  ${problems.join('\n  ')}`)
  }
}

export async function getJson(url) {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
  return res.json()
}

// The newest login code the fake gateway holds for phone (waits up to 15 s).
export async function smsCode(phone) {
  const until = Date.now() + 15000
  while (Date.now() < until) {
    const msgs = await getJson(`${smsGateway}/messages?phone=${phone}`)
    const codes = msgs.filter((m) => m.template === 'login_code')
    if (codes.length) return codes[codes.length - 1].params.code
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`no login code for ${phone} at ${smsGateway} within 15 s`)
}


/** Launches Debian's headless chromium. */
export function launch() {
  return chromium.launch({ executablePath: process.env.CERTHALL_CHROMIUM || '/usr/bin/chromium', args: ARGS })
}

/** A phone number of this run's own, so runs never meet each other's rate limits. */
export function freshPhone(prefix = '139') {
  return `${prefix}${String((Date.now() + Math.floor(Math.random() * 1e6)) % 1e8).padStart(8, '0')}`
}

/** Runs main and sets the exit status: 0 when it resolved, 1 with the stack on stderr. */
export function run(main) {
  main().then(() => log('passed'), (e) => {
    console.error(`[browser] FAILED: ${e.stack || e}`)
    process.exitCode = 1
  })
}

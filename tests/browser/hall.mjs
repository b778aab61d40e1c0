// The web hall in a real browser (issue 15): Debian's chromium, headless, driven by
// playwright-core (from web/node_modules; no browser is downloaded), against the running
// stack at $CERTHALL_URL with the build nginx serves at /.
//
// One test, in steps: the catalogue page renders what GET /api/v1/catalog says; then an
// applicant signs in by SMS (the code read from the stack's fake SMS gateway, as
// scripts/sms-inbox does) and lands on "my applications". Every page of it must load with
// no console error (a CSP violation is one), no uncaught exception, no request that fails
// and no answer >= 400. Screenshots at desktop (1280x800) and phone (390x844) width go to
// $CERTHALL_BROWSER_LOG_DIR (default $CERTHALL_BUILD/browser-results/). It also reports the
// time until the catalogue is usable under a throttled profile (4x slower CPU, "fast 3G"
// network) as a measurement, not a pass mark.
//
// Usage: node tests/browser/hall.mjs   (tests/browser/run sets the environment up)
// Exit 0 when every step passed, 1 otherwise (the failing step and the page's errors on
// stderr).
import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const { chromium } = createRequire(path.join(root, 'web/package.json'))('playwright-core')

const need = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run through tests/browser/run or scripts/test)`)
  return v.replace(/\/+$/, '')
}
const base = need('CERTHALL_URL')
const smsGateway = need('CERTHALL_SMS_GATEWAY_URL')
const logDir = process.env.CERTHALL_BROWSER_LOG_DIR ||
  path.join(process.env.CERTHALL_BUILD || path.join(root, 'build'), 'browser-results')
mkdirSync(logDir, { recursive: true })

const DESKTOP = { width: 1280, height: 800 }
const PHONE = { width: 390, height: 844 }
// As the machine notes say: no background networking, which a closed network refuses.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

const log = (...a) => console.log('[browser]', ...a)

// Everything that went wrong on a page: console errors, exceptions, failed requests.
function watch(page) {
  const problems = []
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`))
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`))
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`) })
  return problems
}

function clean(problems, where) {
  if (problems.length) throw new Error(`${where}:\n  ${problems.join('\n  ')}`)
}

// Opens url and fails at once, with what the page reported, unless the document loaded.
async function open(page, url, problems) {
  const resp = await page.goto(url, { waitUntil: 'networkidle' })
  if (!resp || !resp.ok()) {
    throw new Error(`GET ${url}: ${resp ? resp.status() : 'no answer'}\n  ${problems.join('\n  ')}`)
  }
}

async function getJson(url) {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
  return res.json()
}

// The newest login code the fake gateway holds for phone (waits up to 15 s).
async function smsCode(phone) {
  const until = Date.now() + 15000
  while (Date.now() < until) {
    const msgs = await getJson(`${smsGateway}/messages?phone=${phone}`)
    const codes = msgs.filter((m) => m.template === 'login_code')
    if (codes.length) return codes[codes.length - 1].params.code
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`no login code for ${phone} at ${smsGateway} within 15 s`)
}

async function checkCatalogue(page, catalog, where) {
  await page.getByRole('heading', { name: '业务类型' }).waitFor({ timeout: 15000 })
  const text = await page.locator('main').innerText()
  const want = [
    ...catalog.business_types.map((b) => b.name),
    ...catalog.certificate_types.map((c) => c.name),
    ...catalog.required_materials.flatMap((r) => r.materials.map((m) => m.title)),
    catalog.counter.address, catalog.counter.open_days,
    catalog.support.hotline, catalog.support.qq,
  ]
  for (const s of want) if (!text.includes(s)) throw new Error(`${where}: the page lacks "${s}"`)
  // Every fee, in yuan from fen, in its own cell (e.g. 20000 fen -> ¥200.00).
  const fees = await page.locator('td.fee').allInnerTexts()
  const expected = catalog.fee_schedule.items.map((i) => {
    const d = String(i.amount_fen).padStart(3, '0')
    return `¥${d.slice(0, -2)}.${d.slice(-2)}`
  })
  if (JSON.stringify(fees) !== JSON.stringify(expected)) {
    throw new Error(`${where}: fees ${JSON.stringify(fees)}, want ${JSON.stringify(expected)}`)
  }
}

async function main() {
  const catalog = await getJson(`${base}/api/v1/catalog`)
  const browser = await chromium.launch({ executablePath: process.env.CERTHALL_CHROMIUM || '/usr/bin/chromium', args: ARGS })
  try {
    // 1. The catalogue, desktop and phone.
    for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      const ctx = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', isMobile: name === 'phone' })
      const page = await ctx.newPage()
      const problems = watch(page)
      await open(page, `${base}/`, problems)
      await checkCatalogue(page, catalog, `catalogue (${name})`)
      if ((await page.title()) !== '业务指南 - 四川CA自助网厅') throw new Error(`title: ${await page.title()}`)
      if (name === 'phone') {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
        if (overflow > 0) throw new Error(`catalogue (phone): the page is ${overflow}px wider than the screen`)
      }
      await page.screenshot({ path: path.join(logDir, `catalogue-${name}.png`), fullPage: true })
      clean(problems, `catalogue (${name})`)
      log(`catalogue renders from the API (${name}, ${viewport.width}x${viewport.height})`)
      await ctx.close()
    }

    // 2. SMS sign-in (desktop), then the phone-width sign-in page.
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
    const page = await ctx.newPage()
    const problems = watch(page)
    await open(page, `${base}/`, problems)
    await page.getByRole('link', { name: '登录', exact: true }).click()
    await page.waitForURL(`${base}/signin`)
    // A phone of this run's own, so runs never meet each other's rate limits.
    const phone = `139${String(Date.now() % 1e8).padStart(8, '0')}`
    const phoneInput = page.getByLabel('手机号码')
    // The client's check, as the user types: refused, then accepted.
    await phoneInput.fill('1380013800')
    await phoneInput.blur()
    await page.locator('#phone-error', { hasText: '11位手机号码' }).waitFor()
    await phoneInput.fill(phone)
    await page.waitForFunction(() => document.getElementById('phone-error')?.textContent === '')
    await page.getByRole('button', { name: '获取验证码' }).click()
    await page.getByRole('status').filter({ hasText: '验证码已发送' }).waitFor()
    const code = await smsCode(phone)
    await page.getByLabel('短信验证码').fill(code)
    await page.screenshot({ path: path.join(logDir, 'signin-desktop.png'), fullPage: true })
    await page.getByRole('button', { name: '登录', exact: true }).click()
    await page.waitForURL(`${base}/my/applications`)
    await page.getByText('您还没有提交过申请').waitFor()
    await page.getByRole('button', { name: '退出登录' }).waitFor()
    await page.screenshot({ path: path.join(logDir, 'my-applications-desktop.png'), fullPage: true })
    clean(problems, 'sign-in')
    log(`signed in by SMS as ${phone.slice(0, 3)}****${phone.slice(7)} and reached 我的申请`)
    await page.setViewportSize(PHONE)
    await page.screenshot({ path: path.join(logDir, 'my-applications-phone.png'), fullPage: true })
    await ctx.close()
    const pctx = await browser.newContext({ viewport: PHONE, isMobile: true, locale: 'zh-CN' })
    const ppage = await pctx.newPage()
    const pproblems = watch(ppage)
    await open(ppage, `${base}/signin`, pproblems)
    await ppage.getByLabel('手机号码').waitFor()
    await ppage.screenshot({ path: path.join(logDir, 'signin-phone.png'), fullPage: true })
    clean(pproblems, 'sign-in page (phone)')
    await pctx.close()

    // 3. Time until the catalogue is usable on a throttled profile (measurement only).
    const tctx = await browser.newContext({ viewport: PHONE, isMobile: true })
    const tpage = await tctx.newPage()
    const cdp = await tctx.newCDPSession(tpage)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8,
    })
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 })
    const t0 = Date.now()
    await tpage.goto(`${base}/`)
    await tpage.getByRole('heading', { name: '业务类型' }).waitFor({ timeout: 60000 })
    const tti = Date.now() - t0
    const nav = await tpage.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0]
      return n ? Math.round(n.domContentLoadedEventEnd) : null
    })
    log(`throttled (4x CPU, fast 3G: 150 ms, 1.6 Mbit/s): catalogue usable after ${tti} ms (DOMContentLoaded ${nav} ms)`)
    await tctx.close()
  } finally {
    await browser.close()
  }
  log(`screenshots in ${logDir}`)
}

main().then(() => log('passed'), (e) => {
  console.error(`[browser] FAILED: ${e.stack || e}`)
  process.exitCode = 1
})

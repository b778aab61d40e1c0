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
import path from 'node:path'
import {
  base, DESKTOP, PHONE, log, logDir, watch, clean, open, getJson, smsCode, launch, freshPhone, run,
} from './lib.mjs'

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
  const browser = await launch()
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
    const phone = freshPhone()
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
    // Staff find their own sign-in from here.
    if ((await ppage.getByRole('link', { name: '工作人员登录' }).getAttribute('href')) !== '/staff/signin') {
      throw new Error('the sign-in page has no link to the staff sign-in')
    }
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

run(main)

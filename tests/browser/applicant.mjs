// The applicant's path through the web hall in Debian's headless chromium
// against the running stack: the guided application, the materials, submit, a return by the
// reviewer, the replacement and resubmission, the approval, and an expired session in the
// middle of the wizard that keeps what was typed.
//
// Flow 1: an applicant signs in by SMS, applies for a `new` `org` certificate with one
// e-seal, sees the live quote equal to POST /quotes' total, types a bad credit code and sees
// the Chinese error at the field, fixes it, fills in the handler, delivery and invoice; the
// session is ended server-side while they type, their next save returns them to sign-in,
// and after signing in again the wizard is back with the typed text; they upload every
// required material (small PNG and PDF files made here) and submit: the API says
// `submitted`.
// Flow 2: a reviewer returns it naming one material; the applicant sees the reason and the
// named material on the detail page, replaces it and resubmits; the reviewer approves; the
// applicant sees the new status. The reviewer works in the staff console (/staff/review),
// signed in by password in a browser context of their own, beside the applicant's.
//
// Every page must show no console error, no exception, no failed request and no answer
// >= 400, except the one 401 the expired session provokes on purpose (filtered by name
// below). Screenshots of each wizard step and of the detail page (submitted, returned,
// approved) at desktop and phone width go to $CERTHALL_BROWSER_LOG_DIR; at phone width the
// page must not be wider than the screen.
//
// Usage: node tests/browser/applicant.mjs   (tests/browser/run applicant sets the env up)
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { deflateSync } from 'node:zlib'
import {
  base, DESKTOP, log, logDir, watch, clean, open, getJson, smsCode, launch, freshPhone, run, need,
  newAdmin, newStaff, signInStaffPage, shoot, findInQueue,
} from './lib.mjs'

const api = `${base}/api/v1`
const yuanSign = (fen) => { const d = String(fen).padStart(3, '0'); return `¥${d.slice(0, -2)}.${d.slice(-2)}` }

async function call(method, url, token, body) {
  const headers = { Accept: 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(`${api}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}
async function must(method, url, token, body, want) {
  const r = await call(method, url, token, body)
  if (r.status !== want) throw new Error(`${method} ${url}: ${r.status}, want ${want}: ${JSON.stringify(r.body)}`)
  return r.body
}

// ---- test files: a real PNG (solid colour) and a minimal PDF --------------------------------
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}
/** A size x size RGB PNG of one colour. */
function png(rgb, size = 64) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8; ihdr[9] = 2 // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(size * 3).map((_, i) => rgb[i % 3])])
  const raw = Buffer.concat(Array.from({ length: size }, () => row))
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}
function pdf(title) {
  return Buffer.from(`%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n` +
    `3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n% ${title}\ntrailer<</Root 1 0 R>>\n%%EOF\n`, 'latin1')
}
/** The file the test uploads for a kind: PNG for the licence and the seal, else PDF. */
function fileFor(kind, colour = [200, 30, 30]) {
  return kind === 'seal_impression' || kind === 'business_license'
    ? { name: `${kind}.png`, mimeType: 'image/png', buffer: png(colour) }
    : { name: `${kind}.pdf`, mimeType: 'application/pdf', buffer: pdf(kind) }
}

// ---- the reviewer, in the staff console (pages/staff/), in a browser context of its own ----
let reviewerCtx = null
let reviewerPage = null
let reviewerProblems = null
/** The reviewer's console page, signed in once (an admin made by the CLI makes the reviewer). */
async function reviewerConsole(browser) {
  if (reviewerPage) return reviewerPage
  const admin = await newAdmin()
  const reviewer = await newStaff(admin, ['reviewer'], '测试审核员')
  reviewerCtx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
  reviewerPage = await reviewerCtx.newPage()
  reviewerProblems = watch(reviewerPage)
  await signInStaffPage(reviewerPage, reviewer)
  return reviewerPage
}
/** Opens application appId from the review queue, as a reviewer does. */
async function openInQueue(page, appId) {
  await page.getByRole('navigation', { name: '工作台导航' }).getByRole('link', { name: '审核队列' }).click()
  await page.waitForURL(`${base}/staff/review`)
  // Oldest first, 50 a page: on a stack the suite has used, this one may be pages away.
  await (await findInQueue(page, appId)).click()
  await page.getByRole('heading', { name: `审核申请 ${appId}` }).waitFor()
}
async function reviewerReturns(browser, appId, kindName, reason) {
  const page = await reviewerConsole(browser)
  await openInQueue(page, appId)
  await page.getByRole('radio', { name: '退回补正' }).check()
  await page.getByLabel('原因').fill(reason)
  await page.getByRole('checkbox', { name: kindName }).check()
  await page.getByRole('button', { name: '提交审核结果' }).click()
  await page.getByRole('status').filter({ hasText: `申请 ${appId} 现为「已退回」` }).waitFor()
  await shoot(page, 'flow2-reviewer-returned')
  clean(reviewerProblems, 'reviewer returns')
}
async function reviewerApproves(browser, appId) {
  const page = await reviewerConsole(browser)
  await openInQueue(page, appId)
  // The replaced scan is the one shown (its bytes decoded from the API).
  await page.waitForFunction(() => [...document.querySelectorAll('main img')].every((i) => i.complete && i.naturalWidth > 0))
  await page.getByRole('radio', { name: '通过' }).check()
  await page.getByRole('button', { name: '提交审核结果' }).click()
  await page.getByRole('status').filter({ hasText: new RegExp(`申请 ${appId} 现为「`) }).waitFor()
  await shoot(page, 'flow2-reviewer-approved')
  clean(reviewerProblems, 'reviewer approves')
  await reviewerCtx.close()
}

// ---- page helpers -------------------------------------------------------------------------
async function signIn(page, phone) {
  await page.getByLabel('手机号码').fill(phone)
  await page.getByRole('button', { name: /获取验证码/ }).click()
  await page.getByRole('status').filter({ hasText: '验证码已发送' }).waitFor()
  await page.getByLabel('短信验证码').fill(await smsCode(phone))
  await page.getByRole('button', { name: '登录', exact: true }).click()
}

async function fill(page, field, value) {
  await page.locator(`#f-${field}`).fill(value)
}

async function nextStep(page, step) {
  await page.getByRole('button', { name: '保存并下一步' }).click()
  await page.waitForURL((u) => u.searchParams.get('step') === String(step))
  await page.getByRole('heading', { name: new RegExp(`^第${step}步`) }).waitFor()
}

async function statusOf(appId, token) {
  return (await must('GET', `/applications/${appId}`, token, undefined, 200)).status
}

/** Removes exactly the entries of one deliberate refusal from the page's problems. */
function expectRefusal(problems, status, method, url) {
  const http = `HTTP ${status}: ${method} ${url}`
  const consoleMsg = `console: Failed to load resource: the server responded with a status of ${status}`
  const i = problems.indexOf(http)
  if (i < 0) throw new Error(`expected ${http} among ${JSON.stringify(problems)}`)
  problems.splice(i, 1)
  const j = problems.findIndex((p) => p.startsWith(consoleMsg))
  if (j >= 0) problems.splice(j, 1)
}

async function main() {
  const catalog = await getJson(`${api}/catalog`)
  const quote = await must('POST', '/quotes', null, { business_type: 'new', certificate_type: 'org', years: 1, seals: 1 }, 200)
  const browser = await launch()
  try {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
    const page = await ctx.newPage()
    const problems = watch(page)
    const phone = freshPhone('137')

    // ---- flow 1: from the catalogue through sign-in into the wizard ----
    await open(page, `${base}/`, problems)
    await page.getByRole('link', { name: '在线申请' }).click()
    await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.get('next') === '/apply')
    await signIn(page, phone)
    await page.waitForURL((u) => u.pathname === '/apply')
    await page.getByRole('heading', { name: /^第1步/ }).waitFor()

    // Step 1: new, org, 1 year, one e-seal; the quote is POST /quotes' total.
    await page.getByRole('radio', { name: /新办/ }).check()
    await page.getByRole('radio', { name: catalog.certificate_types.find((c) => c.code === 'org').name }).check()
    await page.getByLabel('服务年限').selectOption('1')
    await page.getByLabel('电子印章数量').selectOption('1')
    await page.locator('#quote-total', { hasText: yuanSign(quote.total_fen) }).waitFor()
    await page.waitForFunction(() => document.getElementById('quote-total')?.getAttribute('aria-busy') === 'false')
    const shown = await page.locator('#quote-total').innerText()
    if (shown !== yuanSign(quote.total_fen)) throw new Error(`quote shows ${shown}, POST /quotes says ${yuanSign(quote.total_fen)}`)
    log(`step 1: live quote ${shown} = POST /quotes total_fen ${quote.total_fen}`)
    await shoot(page, 'apply-step1')
    await nextStep(page, 2)
    const appId = Number(new URL(page.url()).searchParams.get('id'))
    if (!(appId > 0)) throw new Error(`no application id in ${page.url()}`)
    const token = () => page.evaluate(() => sessionStorage.getItem('certhall.token'))

    // Step 2: a bad credit code is refused at the field, in Chinese, as it is typed.
    await fill(page, 'unit_name', '成都市郫都区红光镇白云村股份经济合作联合社')
    await fill(page, 'credit_code', '91510107MA6CM1234A')
    const err = page.locator('#e-credit_code')
    await err.filter({ hasText: '统一社会信用代码校验位不正确' }).waitFor()
    if ((await page.locator('#f-credit_code').getAttribute('aria-invalid')) !== 'true') throw new Error('credit code not marked invalid')
    if ((await page.locator('#f-credit_code').getAttribute('aria-describedby')) !== 'e-credit_code') throw new Error('error not tied to the field')
    await shoot(page, 'apply-step2-error')
    await fill(page, 'credit_code', '91510107MA6CM1234F')
    await page.waitForFunction(() => document.getElementById('e-credit_code')?.textContent === '')
    await fill(page, 'handler_name', '张伟')
    await fill(page, 'handler_phone', phone)
    await fill(page, 'handler_id_number', '510104198503121232')
    await shoot(page, 'apply-step2')
    await nextStep(page, 3)
    log('step 2: bad credit code shown at the field in Chinese, fixed, saved')

    // Step 3: delivery and invoice; the session ends server-side in the middle.
    await fill(page, 'delivery_recipient', '张伟')
    await fill(page, 'delivery_phone', phone)
    await fill(page, 'delivery_province', '四川省')
    await fill(page, 'delivery_city', '成都市')
    await fill(page, 'delivery_district', '郫都区')
    await fill(page, 'delivery_postcode', '611730')
    await fill(page, 'invoice_title', '成都市郫都区红光镇白云村股份经济合作联合社')
    await shoot(page, 'apply-step3')
    const oldToken = await token()
    await must('DELETE', '/auth/sessions/current', oldToken, undefined, 204)
    const address = '红光镇白云村3组18号（会话过期后输入）'
    await fill(page, 'delivery_address', address)
    await page.getByRole('button', { name: '保存并下一步' }).click()
    await page.waitForURL((u) => u.pathname === '/signin')
    const next = new URL(page.url()).searchParams.get('next')
    if (next !== `/apply?id=${appId}&step=3`) throw new Error(`sign-in's next is ${next}`)
    // Deliberate: the PATCH with the ended session is refused, which sends the user to sign-in.
    expectRefusal(problems, 401, 'PATCH', `${api}/applications/${appId}`)
    await shoot(page, 'apply-expired-signin')
    // A second code for this phone within the minute is refused by design (api/auth.c): the
    // test stands in for the minute passing by clearing that phone's resend bucket.
    const psql = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', need('CERTHALL_DB'), '-c',
      `DELETE FROM rate_limit WHERE bucket = 'sms:phone:${phone}/60s'`], { encoding: 'utf8' })
    if (psql.status !== 0) throw new Error(`psql: ${psql.stderr}`)
    await signIn(page, phone)
    await page.waitForURL((u) => u.pathname === '/apply' && u.searchParams.get('step') === '3')
    await page.getByRole('heading', { name: /^第3步/ }).waitFor()
    const kept = await page.locator('#f-delivery_address').inputValue()
    if (kept !== address) throw new Error(`after signing in again the address is "${kept}", typed "${address}"`)
    if ((await page.locator('#f-invoice_title').inputValue()) === '') throw new Error('the invoice title typed before expiry is gone')
    await shoot(page, 'apply-step3-restored')
    log('expired session: back at sign-in, signed in again, the draft and the typed text are there')
    await nextStep(page, 4)
    const saved = await must('GET', `/applications/${appId}`, await token(), undefined, 200)
    if (saved.delivery_address !== address) throw new Error(`server has delivery_address ${saved.delivery_address}`)
    if (await page.evaluate((id) => sessionStorage.getItem(`certhall.draft.${id}`), appId) !== null) {
      throw new Error('the kept draft is still in sessionStorage after it was saved')
    }

    // Step 4: every required material, with progress and a preview, then submit.
    const required = saved.required_materials
    if (!required.includes('seal_impression')) throw new Error(`one e-seal but required ${required}`)
    for (const kind of required) {
      const f = fileFor(kind)
      await page.locator(`#file-${kind}`).setInputFiles(f)
      await page.locator(`#file-${kind}-status`, { hasText: '上传成功' }).waitFor({ timeout: 30000 })
      const box = page.locator(`.material[data-kind="${kind}"]`)
      const prog = box.locator('progress')
      if ((await prog.getAttribute('value')) !== String(f.buffer.length)) throw new Error(`${kind}: progress ${await prog.getAttribute('value')} of ${f.buffer.length}`)
      if (f.mimeType === 'image/png') {
        const src = await box.locator('img.thumb').getAttribute('src')
        if (!src?.startsWith('blob:')) throw new Error(`${kind}: no image preview (${src})`)
        await page.waitForFunction((k) => {
          const img = document.querySelector(`.material[data-kind="${k}"] img.thumb`)
          return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0
        }, kind)
      } else {
        await box.locator('.page-icon').waitFor()
        await box.locator('.file-name', { hasText: f.name }).waitFor()
      }
    }
    await page.locator('.material .current').nth(required.length - 1).waitFor()
    await shoot(page, 'apply-step4')
    await page.getByRole('button', { name: '提交申请' }).click()
    await page.waitForURL(`${base}/my/applications/${appId}`)
    await page.locator('.status', { hasText: '待审核' }).waitFor()
    if (await statusOf(appId, await token()) !== 'submitted') throw new Error('not submitted')
    await shoot(page, 'application-submitted')
    clean(problems, 'flow 1')
    log(`flow 1: application ${appId} submitted with ${required.length} materials (${required.join(', ')})`)

    // ---- flow 2: returned naming a material, replaced, resubmitted, approved ----
    const reason = '营业执照复印件未加盖单位公章（鲜章）'
    const licenceKind = catalog.material_kinds.find((k) => k.code === 'business_license').name
    await reviewerReturns(browser, appId, licenceKind, reason)
    await page.reload({ waitUntil: 'networkidle' })
    await page.locator('#return-reason', { hasText: reason }).waitFor()
    const licenceName = catalog.material_kinds.find((k) => k.code === 'business_license').name
    if ((await page.locator('#return-materials').innerText()) !== licenceName) throw new Error('the named material is not shown')
    await page.locator('.material.flagged[data-kind="business_license"]').waitFor()
    const resubmit = page.getByRole('button', { name: '重新提交申请' })
    if (!(await resubmit.isDisabled())) throw new Error('resubmit is possible before the named material was replaced')
    await page.locator('table.history', { hasText: reason }).waitFor()
    await shoot(page, 'application-returned')
    await page.locator('#file-business_license').setInputFiles(fileFor('business_license', [30, 90, 200]))
    await page.locator('#file-business_license-status', { hasText: '上传成功' }).waitFor({ timeout: 30000 })
    await resubmit.waitFor({ state: 'visible' })
    await page.waitForFunction(() => [...document.querySelectorAll('button')].some((b) => b.textContent?.includes('重新提交申请') && !b.disabled))
    await resubmit.click()
    await page.locator('.status', { hasText: '待审核' }).waitFor()
    if (await statusOf(appId, await token()) !== 'submitted') throw new Error('not resubmitted')
    log('flow 2: the reason and the named material shown, replaced, resubmitted')
    await reviewerApproves(browser, appId)
    await page.reload({ waitUntil: 'networkidle' })
    const now = await statusOf(appId, await token())
    const wantText = { awaiting_payment: '待缴费', awaiting_verification: '待验证', approved: '审核通过' }[now]
    await page.locator('.status', { hasText: wantText }).waitFor()
    await shoot(page, 'application-approved')
    clean(problems, 'flow 2')
    log(`flow 2: approved; the applicant sees ${wantText} (${now})`)

    // My applications lists it with a link to its page.
    await page.getByRole('link', { name: '我的申请' }).first().click()
    await page.getByRole('link', { name: String(appId), exact: true }).waitFor()
    await shoot(page, 'my-applications-list')
    clean(problems, 'my applications')

    // A field error only the server can find (no such certificate), shown at its field.
    await page.getByRole('link', { name: '新建申请' }).click()
    await page.getByRole('heading', { name: /^第1步/ }).waitFor()
    await page.getByRole('radio', { name: /吊销/ }).check()
    await page.getByLabel('原证书编号').fill('987654321')
    await page.getByRole('button', { name: '保存并下一步' }).click()
    await page.locator('#e-certificate_id', { hasText: '没有找到此编号的证书' }).waitFor()
    if ((await page.locator('#f-certificate_id').getAttribute('aria-invalid')) !== 'true') throw new Error('certificate_id not marked invalid')
    // Deliberate: the server refuses the draft naming a certificate that does not exist.
    expectRefusal(problems, 422, 'POST', `${api}/applications`)
    await shoot(page, 'apply-server-field-error')
    clean(problems, 'server field error')
    log('a server field error (/certificate_id) is shown at its field in Chinese')
    await ctx.close()
  } finally {
    await browser.close()
  }
  log(`screenshots in ${logDir}`)
}

run(main)

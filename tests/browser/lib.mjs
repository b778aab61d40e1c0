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

// ---- staff console: staff accounts and API calls for console.mjs and counter.mjs
// Staff are made as tests/e2e/principals.py makes them: the first admin with
// `certhall-admin create-admin` (password on stdin, as the owner role), the others with
// POST /api/v1/staff as that admin; each signs in with POST /api/v1/auth/staff-sessions.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'

function pepperFile() {
  if (process.env.CERTHALL_PEPPER_FILE) return process.env.CERTHALL_PEPPER_FILE
  const stack = process.env.CERTHALL_STACK
  const m = stack && /^export CERTHALL_PEPPER_FILE=(.*)$/m.exec(readFileSync(path.join(stack, 'env'), 'utf8'))
  if (!m) throw new Error('CERTHALL_PEPPER_FILE is not set (nor in $CERTHALL_STACK/env)')
  return m[1].trim().replace(/^['"]|['"]$/g, '')
}

/** Runs $CERTHALL_BUILD/certhall-admin ARGS as the owner role; returns stdout. */
export function adminCli(args, stdin) {
  const bin = path.join(need('CERTHALL_BUILD'), 'certhall-admin')
  const r = spawnSync(bin, args, {
    input: stdin, encoding: 'utf8', timeout: 60000,
    env: { ...process.env, CERTHALL_DB: need('CERTHALL_DB'), CERTHALL_PEPPER_FILE: pepperFile() },
  })
  if (r.status !== 0) throw new Error(`certhall-admin ${args[0]} exited ${r.status}: ${r.stderr}`)
  return r.stdout
}

/** One API call with a bearer token; JSON unless opts.contentType says otherwise. */
export async function apiCall(token, method, p, body, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers ?? {}) }
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json'
  const res = await fetch(`${base}/api/v1${p}`, {
    method, headers, body: body === undefined ? undefined : opts.contentType ? body : JSON.stringify(body),
  })
  const text = await res.text()
  const data = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text
  if (opts.expect !== undefined ? res.status !== opts.expect : !res.ok) {
    throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 400)}`)
  }
  return data
}

const uname = (prefix) => `${prefix}.${randomBytes(5).toString('hex')}`
const password = () => `pw-${randomBytes(18).toString('base64url')}`

export async function signInStaffApi(username, pw) {
  const s = await apiCall(null, 'POST', '/auth/staff-sessions', { username, password: pw }, { expect: 201 })
  return { username, password: pw, token: s.token, id: s.me.staff.id }
}

/** A new admin (certhall-admin create-admin), signed in through the API. */
export async function newAdmin() {
  const username = uname('admin')
  const pw = password()
  adminCli(['create-admin', '--username', username, '--display-name', '测试管理员'], `${pw}\n`)
  return signInStaffApi(username, pw)
}

/** A new staff account with these roles (POST /staff as admin), signed in through the API. */
export async function newStaff(admin, roles, displayName = '测试员工') {
  const username = uname(roles[0].slice(0, 5))
  const pw = password()
  await apiCall(admin.token, 'POST', '/staff', { username, display_name: displayName, password: pw, roles }, { expect: 201 })
  return signInStaffApi(username, pw)
}

/** A new applicant signed in by the real SMS flow; returns { phone, token }. */
export async function newApplicant() {
  const phone = freshPhone('137')
  await apiCall(null, 'POST', '/auth/sms-codes', { phone }, { expect: 202 })
  const s = await apiCall(null, 'POST', '/auth/sessions', { phone, code: await smsCode(phone) }, { expect: 201 })
  return { phone, token: s.token }
}

// The sample scans the README uses (docs/samples), by material kind.
export const SAMPLES = {
  application_form: ['application/pdf', 'application-form.pdf'],
  business_license: ['image/jpeg', 'business-license.jpg'],
  handler_id: ['image/jpeg', 'handler-id.jpg'],
  holder_id: ['image/jpeg', 'handler-id.jpg'],
  seal_impression: ['image/png', 'seal-impression.png'],
}
export const samplePath = (kind) => path.join(root, 'docs/samples', SAMPLES[kind][1])

/** A new/org draft with one seal, as the README's $DRAFT, for handler phone `phone`. */
export function orgDraft(phone, unit = '成都市郫都区红光镇白云村股份经济合作联合社') {
  return {
    business_type: 'new', certificate_type: 'org', unit_name: unit, credit_code: '91510107MA6CM1234F',
    handler_name: '张伟', handler_phone: phone, handler_id_number: '510104198503121232', years: 1, seals: 1,
    delivery_recipient: '张伟', delivery_phone: phone, delivery_province: '四川省', delivery_city: '成都市',
    delivery_address: '红光镇白云村3组18号', invoice_title: unit,
  }
}

/** An applicant's submitted application: draft, every required scan, submit. Returns it. */
export async function submittedApplication(applicant, unit) {
  const a = await apiCall(applicant.token, 'POST', '/applications', orgDraft(applicant.phone, unit), { expect: 201 })
  for (const kind of a.required_materials) {
    await apiCall(applicant.token, 'PUT', `/applications/${a.id}/materials/${kind}`, readFileSync(samplePath(kind)),
      { contentType: SAMPLES[kind][0] })
  }
  return apiCall(applicant.token, 'POST', `/applications/${a.id}/submit`, {})
}

/** Signs in at /staff/signin through the page and waits for the console. */
export async function signInStaffPage(page, who) {
  await page.goto(`${base}/staff/signin`, { waitUntil: 'networkidle' })
  await page.getByLabel('用户名').fill(who.username)
  await page.getByLabel('密码').fill(who.password)
  await page.getByRole('button', { name: '登录', exact: true }).click()
  await page.waitForURL(`${base}/staff`)
  await page.getByRole('navigation', { name: '工作台导航' }).waitFor()
}

/** Fails when the page is wider than the phone's screen. */
export async function noOverflow(page, where) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow > 0) throw new Error(`${where}: the page is ${overflow}px wider than the screen`)
}

/** A screenshot at desktop width and at phone width (checked for overflow), then desktop again. */
export async function shoot(page, name) {
  await page.setViewportSize(DESKTOP)
  await page.screenshot({ path: path.join(logDir, `${name}-desktop.png`), fullPage: true })
  await page.setViewportSize(PHONE)
  await noOverflow(page, `${name} (phone)`)
  await page.screenshot({ path: path.join(logDir, `${name}-phone.png`), fullPage: true })
  await page.setViewportSize(DESKTOP)
}

/** The queue's link to application id, loading further pages until it is there. */
export async function findInQueue(page, id) {
  const link = page.getByRole('link', { name: `审核申请 ${id}`, exact: true })
  const more = page.getByRole('button', { name: '加载更多' })
  await page.getByRole('status').filter({ hasText: '待审核' }).waitFor()
  for (let i = 0; i < 100 && !(await link.count()); i++) {
    if (!(await more.count())) break
    const rows = await page.locator('main tbody tr').count()
    await more.click()
    await page.waitForFunction((n) => document.querySelectorAll('main tbody tr').length > n, rows)
  }
  await link.waitFor({ timeout: 5000 })
  return link
}

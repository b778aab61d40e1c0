// The staff console in a real browser (issue 15): Debian's chromium, headless, through
// playwright-core, against the running stack ($CERTHALL_URL) with the build nginx serves.
//
// Staff accounts are made as tests/e2e/principals.py makes them (an admin with
// certhall-admin create-admin, the others with POST /staff), applications by an applicant
// signed in through the real SMS flow, through the API. Then, in the browser:
//   1. a reviewer signs in at /staff/signin; the console's nav shows the review queue only;
//      the queue lists the two submitted applications; the first opens with its data and
//      its scans (images decoded from the API's bytes, the PDF as a link); returning it
//      without naming a material is refused at the field (no request); it is returned with
//      a reason naming the business licence, and the API shows it returned with exactly
//      that material and reason; the second is approved and the API shows it awaiting
//      payment;
//   2. an operator's fulfilment page shows the API's counts by bucket;
//   3. a finance clerk's page shows the API's totals for today and downloads the CSV;
//   4. an admin's pages (staff, integrators, fee schedule, calendar, audit log) show what
//      the API says, and the audit filter finds the return;
//   5. a lost session (a token the API no longer knows) goes back to the staff sign-in.
// Every page: no console error, no exception, no failed request, no answer >= 400 (one
// deliberate 401 in step 5, filtered there by URL). Screenshots of every console page
// at desktop and phone width (no horizontal overflow) go to $CERTHALL_BROWSER_LOG_DIR.
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import {
  base, need, DESKTOP, log, logDir, watch, clean, launch, run, apiCall, newAdmin, newStaff, newApplicant,
  submittedApplication, signInStaffPage, shoot, findInQueue,
} from './lib.mjs'

const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date())
const yuanSign = (fen) => { const d = String(fen).padStart(3, '0'); return `¥${d.slice(0, -2)}.${d.slice(-2)}` }

async function newPage(browser) {
  const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', acceptDownloads: true })
  const page = await ctx.newPage()
  return { ctx, page, problems: watch(page) }
}

async function navTitles(page) {
  return page.getByRole('navigation', { name: '工作台导航' }).getByRole('link').allInnerTexts()
}
function same(got, want, where) {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${where}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
}

async function main() {
  const catalog = await apiCall(null, 'GET', '/catalog')
  const kindName = Object.fromEntries(catalog.material_kinds.map((k) => [k.code, k.name]))
  const admin = await newAdmin()
  const reviewer = await newStaff(admin, ['reviewer'], '审核员甲')
  const operator = await newStaff(admin, ['operator'], '制证员乙')
  const finance = await newStaff(admin, ['finance'], '财务丙')
  const applicant = await newApplicant()
  const toReturn = await submittedApplication(applicant, '成都市郫都区红光镇白云村股份经济合作联合社')
  const toApprove = await submittedApplication(applicant, '成都市郫都区友爱镇农科村股份经济合作联合社')
  log(`submitted applications ${toReturn.id} and ${toApprove.id} through the API`)
  // A paid counter application, so that fulfilment and finance have a row of this run.
  const clerk = await newStaff(admin, ['counter'], '窗口丁')
  const walkIn = await newApplicant()
  const paidApp = await submittedApplication({ ...walkIn, token: clerk.token }, '成都市郫都区三道堰镇青杠树村股份经济合作联合社')
  const locked = await apiCall(reviewer.token, 'POST', `/applications/${paidApp.id}/review`, { decision: 'approve' })
  await apiCall(clerk.token, 'POST', `/applications/${paidApp.id}/counter-payment`,
    { method: 'cash', receipt_no: `R${Date.now()}`, amount_fen: locked.quote.total_fen }, { expect: 201 })
  // Its promise already broken, as tests/e2e/test_calendar.py does it (owner role).
  const psql = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', need('CERTHALL_DB'), '-c',
    `UPDATE application SET due_by = now() - interval '1 hour' WHERE id = ${Number(paidApp.id)}`], { encoding: 'utf8' })
  if (psql.status !== 0) throw new Error(`psql: ${psql.stderr}`)
  log(`counter application ${paidApp.id} paid at the counter through the API, its due date moved into the past`)

  const browser = await launch()
  try {
    // 1. The reviewer.
    {
      const { ctx, page, problems } = await newPage(browser)
      await page.goto(`${base}/staff/signin`, { waitUntil: 'networkidle' })
      await shoot(page, 'console-signin')
      await signInStaffPage(page, reviewer)
      same(await navTitles(page), ['审核队列'], 'reviewer nav')
      await page.getByRole('button', { name: '退出登录' }).waitFor()
      await page.getByRole('navigation', { name: '工作台导航' }).getByRole('link', { name: '审核队列' }).click()
      await page.waitForURL(`${base}/staff/review`)
      // Oldest submission first, 50 a page: on a stack the whole suite has used, this run's
      // applications may be pages away; "加载更多" follows the API's cursor.
      for (const a of [toReturn, toApprove]) await findInQueue(page, a.id)
      await shoot(page, 'console-review-queue')

      await page.getByRole('link', { name: `审核申请 ${toReturn.id}`, exact: true }).click()
      await page.waitForURL(`${base}/staff/review/${toReturn.id}`)
      await page.getByRole('heading', { name: `审核申请 ${toReturn.id}` }).waitFor()
      const main = page.locator('main')
      await main.getByText(toReturn.unit_name, { exact: true }).first().waitFor()
      await main.getByText(toReturn.credit_code, { exact: true }).waitFor()
      // The scans: every image decoded from the API's bytes, the PDF as a link.
      for (const m of toReturn.materials) {
        const title = kindName[m.kind]
        if (m.content_type.startsWith('image/')) {
          const img = page.getByRole('img', { name: `${title}扫描件` })
          await img.waitFor()
          await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle())
        } else {
          const href = await page.getByRole('link', { name: `打开 ${title}（PDF）` }).getAttribute('href')
          if (!href?.startsWith('blob:')) throw new Error(`the PDF link is ${href}`)
        }
      }
      await shoot(page, 'console-review')

      // Return without naming a material: refused at the field, nothing sent.
      await page.getByRole('radio', { name: '退回补正' }).check()
      await page.getByLabel('原因').fill('营业执照复印件未加盖单位公章（鲜章）')
      await page.getByRole('button', { name: '提交审核结果' }).click()
      await page.locator('#materials-error', { hasText: '请选择需要重新提交的材料' }).waitFor()
      await page.getByRole('checkbox', { name: kindName.business_license }).check()
      await page.getByRole('button', { name: '提交审核结果' }).click()
      await page.getByRole('status').filter({ hasText: `申请 ${toReturn.id} 现为「已退回」` }).waitFor()
      await page.getByText(`审核意见：营业执照复印件未加盖单位公章（鲜章）；需重新提交：${kindName.business_license}`).waitFor()
      await shoot(page, 'console-review-returned')
      const returned = await apiCall(reviewer.token, 'GET', `/applications/${toReturn.id}`)
      if (returned.status !== 'returned') throw new Error(`after the return the API says ${returned.status}`)
      same(returned.return_materials, ['business_license'], 'return_materials')
      same(returned.review_reason, '营业执照复印件未加盖单位公章（鲜章）', 'review_reason')
      log(`reviewer returned ${toReturn.id} naming business_license`)

      await page.getByRole('link', { name: '返回审核队列' }).click()
      await (await findInQueue(page, toApprove.id)).click()
      await page.getByRole('heading', { name: `审核申请 ${toApprove.id}` }).waitFor()
      await page.getByRole('radio', { name: '通过' }).check()
      await page.getByRole('button', { name: '提交审核结果' }).click()
      await page.getByRole('status').filter({ hasText: `申请 ${toApprove.id} 现为「待缴费」` }).waitFor()
      const approved = await apiCall(reviewer.token, 'GET', `/applications/${toApprove.id}`)
      if (approved.status !== 'awaiting_payment' || !approved.quote_locked) throw new Error(`after approval: ${approved.status}`)
      log(`reviewer approved ${toApprove.id}`)
      clean(problems, 'reviewer')
      await ctx.close()
    }

    // 2. The operator's fulfilment queue: the API's counts.
    {
      const { ctx, page, problems } = await newPage(browser)
      await signInStaffPage(page, operator)
      same(await navTitles(page), ['制证寄送'], 'operator nav')
      await page.getByRole('navigation', { name: '工作台导航' }).getByRole('link', { name: '制证寄送' }).click()
      await page.getByRole('heading', { name: '待办数量' }).waitFor()
      const q = await apiCall(operator.token, 'GET', '/fulfilment?limit=200')
      const counts = await page.locator('ul.counts li').allInnerTexts()
      same(counts, [`已超期：${q.counts.overdue}`, `今日到期：${q.counts.due_today}`, `未到期：${q.counts.later}`, `已按时办结：${q.counts.met}`], 'fulfilment counts')
      await page.getByRole('status').filter({ hasText: `共 ${q.matching} 件` }).waitFor()
      const item = q.items.find((i) => i.application_id === paidApp.id)
      if (!item) throw new Error(`GET /fulfilment lacks the paid application ${paidApp.id}`)
      if (item.bucket !== 'overdue') throw new Error(`the API puts ${paidApp.id} in ${item.bucket}, not overdue`)
      // Ordered by due date as the API orders it (on a stack the suite has used, rows of
      // earlier tests, met or overdue, may come before this run's).
      same(await page.locator('main tbody tr td:first-child').allInnerTexts(), q.items.map((i) => String(i.application_id)), 'fulfilment order')
      // This run's overdue row: overdue in words and in colour.
      const row = page.locator('main tbody tr').filter({ has: page.getByRole('cell', { name: String(paidApp.id), exact: true }) })
      const tag = row.locator('.tag')
      same(await tag.innerText(), '已超期', 'overdue tag')
      same(await tag.evaluate((el) => getComputedStyle(el).color), 'rgb(216, 57, 49)', 'overdue colour')
      const due = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(item.due_by))
      const rowText = await row.innerText()
      for (const want of [due, { overdue: '已超期', due_today: '今日到期', later: '未到期', met: '已按时办结' }[item.bucket]]) {
        if (!rowText.includes(want)) throw new Error(`fulfilment row ${paidApp.id} lacks "${want}": ${rowText}`)
      }
      await shoot(page, 'console-fulfilment')
      clean(problems, 'operator')
      log(`fulfilment shows the API's counts ${JSON.stringify(q.counts)}`)
      await ctx.close()
    }

    // 3. Finance: today's totals and the CSV.
    {
      const { ctx, page, problems } = await newPage(browser)
      await signInStaffPage(page, finance)
      same(await navTitles(page), ['财务'], 'finance nav')
      await page.getByRole('navigation', { name: '工作台导航' }).getByRole('link', { name: '财务' }).click()
      await page.getByRole('heading', { name: /收款合计/ }).waitFor()
      const d = today()
      const view = await apiCall(finance.token, 'GET', `/finance/payments?from=${d}&to=${d}`)
      if (!view.items.some((i) => i.application_id === paidApp.id)) throw new Error('finance lacks the counter payment')
      await page.getByRole('cell', { name: String(paidApp.id), exact: true }).first().waitFor()
      for (const [k, v] of Object.entries(view.totals)) {
        const shown = await page.locator(`dd.total[data-key="${k}"]`).innerText()
        const want = k.endsWith('_fen') ? yuanSign(v) : String(v)
        if (shown !== want) throw new Error(`finance total ${k}: ${shown}, want ${want}`)
      }
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '下载CSV' }).click()])
      const file = path.join(logDir, 'console-finance-payments.csv')
      await download.saveAs(file)
      const csv = (await import('node:fs')).readFileSync(file, 'utf8')
      const want = await apiCall(finance.token, 'GET', `/finance/payments.csv?from=${d}&to=${d}`)
      if (csv !== want) throw new Error('the downloaded CSV differs from the API\'s')
      await page.getByLabel('类别').selectOption('invoices')
      await page.getByRole('button', { name: '查询' }).click()
      await page.getByRole('heading', { name: /发票合计/ }).waitFor()
      await shoot(page, 'console-finance')
      clean(problems, 'finance')
      log(`finance shows the API's totals ${JSON.stringify(view.totals)} and downloads the CSV (${csv.length} bytes)`)
      await ctx.close()
    }

    // 4. The admin's pages.
    {
      const { ctx, page, problems } = await newPage(browser)
      await signInStaffPage(page, admin)
      same(await navTitles(page), ['制证寄送', '财务', '员工', '接入平台', '收费标准', '工作日历', '审计日志'], 'admin nav')
      const nav = page.getByRole('navigation', { name: '工作台导航' })
      await shoot(page, 'console-home')

      await nav.getByRole('link', { name: '员工' }).click()
      for (const s of [reviewer, operator, finance]) await page.getByRole('cell', { name: s.username, exact: true }).waitFor()
      const staff = (await apiCall(admin.token, 'GET', '/staff')).items
      if ((await page.locator('main tbody tr').count()) !== staff.length) throw new Error('staff rows differ from GET /staff')
      await shoot(page, 'console-admin-staff')

      await nav.getByRole('link', { name: '接入平台' }).click()
      await page.getByRole('heading', { name: '新建接入平台' }).waitFor()
      const ints = (await apiCall(admin.token, 'GET', '/integrators')).items
      await page.getByText(ints.length ? ints[0].key_id : '还没有接入平台。', { exact: true }).first().waitFor()
      await shoot(page, 'console-admin-integrators')

      await nav.getByRole('link', { name: '收费标准' }).click()
      await page.getByText(`第 ${catalog.fee_schedule.version} 版`, { exact: false }).waitFor()
      same(await page.locator('td.fee').allInnerTexts(), catalog.fee_schedule.items.map((i) => yuanSign(i.amount_fen)), 'fees')
      await shoot(page, 'console-admin-fees')

      await nav.getByRole('link', { name: '工作日历' }).click()
      const cal = await apiCall(admin.token, 'GET', '/admin/calendar/status')
      await page.getByText(`已导入年份：${cal.loaded_years.join('、') || '无'}`).waitFor()
      await shoot(page, 'console-admin-calendar')

      await nav.getByRole('link', { name: '审计日志' }).click()
      await page.locator('main tbody tr').first().waitFor()
      await page.getByLabel(/操作类型/).fill('application.returned')
      await page.getByRole('button', { name: '查询' }).click()
      // Until the filtered answer is in, the table still shows every action (on a used stack,
      // several rows of this application): wait for a table of returns only.
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll('main tbody tr')]
        return rows.length > 0 && rows.every((r) => [...r.querySelectorAll('code')].some((c) => c.textContent === 'application.returned'))
      })
      await page.getByRole('cell', { name: `application ${toReturn.id}`, exact: true }).waitFor()
      await shoot(page, 'console-admin-audit')
      clean(problems, 'admin')
      log('admin pages show the API\'s staff, integrators, fees, calendar and audit log')
      await ctx.close()
    }

    // 4b. A staff member changes their own password: a wrong current one is refused at its
    // field, then the change; the new password signs in, the old one no longer does.
    {
      const changer = await newStaff(admin, ['counter'], '改密员')
      const { ctx, page, problems } = await newPage(browser)
      await signInStaffPage(page, changer)
      await page.getByRole('link', { name: '修改密码' }).click()
      await page.waitForURL(`${base}/staff/password`)
      const fresh = `new-${Date.now()}-密码够长了`
      await page.getByLabel('当前密码').fill(`${changer.password}-wrong`)
      await page.getByLabel('新密码', { exact: true }).fill(fresh)
      await page.getByLabel('再次输入新密码').fill(fresh)
      await page.getByRole('button', { name: '修改密码' }).click()
      await page.locator('#pw-current-error', { hasText: '当前密码不正确' }).waitFor()
      // Deliberate: the API's 422 at /current_password, and chromium's console line for it.
      const refusal = `HTTP 422: PUT ${base}/api/v1/me/password`
      if (!problems.includes(refusal)) throw new Error(`no 422 for the wrong password: ${problems.join('; ')}`)
      const rest = problems.filter((p) => p !== refusal &&
        p !== 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Content)' &&
        p !== 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)')
      await page.getByLabel('当前密码').fill(changer.password)
      await page.getByRole('button', { name: '修改密码' }).click()
      await page.getByRole('status').filter({ hasText: '密码已修改' }).waitFor()
      await shoot(page, 'console-password')
      await apiCall(null, 'POST', '/auth/staff-sessions', { username: changer.username, password: fresh }, { expect: 201 })
      await apiCall(null, 'POST', '/auth/staff-sessions', { username: changer.username, password: changer.password }, { expect: 401 })
      clean(rest, 'password change')
      log('a staff member changed their password: wrong current one refused at its field, new one signs in')
      await ctx.close()
    }

    // 5. A lost session returns to the staff sign-in, keeping the page to come back to.
    {
      const { ctx, page, problems } = await newPage(browser)
      await signInStaffPage(page, reviewer)
      const gone = await apiCall(null, 'POST', '/auth/staff-sessions', { username: reviewer.username, password: reviewer.password }, { expect: 201 })
      await page.evaluate((t) => sessionStorage.setItem('certhall.token', t), gone.token)
      await apiCall(gone.token, 'DELETE', '/auth/sessions/current', undefined, { expect: 204 })
      await page.goto(`${base}/staff/review`, { waitUntil: 'networkidle' })
      await page.waitForURL((u) => u.pathname === '/staff/signin' && u.searchParams.get('next') === '/staff/review')
      await page.getByLabel('用户名').waitFor()
      // Deliberate: the revoked token's 401 (the first call that needs the session, e.g. the
      // queue; the catalogue is asked without a token), and chromium's console line for it.
      const deliberate = (p) => p.startsWith(`HTTP 401: GET ${base}/api/v1/`) ||
        p === 'console: Failed to load resource: the server responded with a status of 401 (Unauthorized)'
      clean(problems.filter((p) => !deliberate(p)), 'lost session')
      if (!problems.some((p) => p.startsWith('HTTP 401'))) throw new Error(`lost session: no 401 seen: ${problems.join('; ')}`)
      if (problems.some((p) => p.startsWith(`HTTP 401: GET ${base}/api/v1/catalog`))) throw new Error('the catalogue was asked with the token')
      log('a revoked session goes back to /staff/signin')
      await ctx.close()
    }
  } finally {
    await browser.close()
  }
  log(`screenshots in ${logDir}`)
}

run(main)

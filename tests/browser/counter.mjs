// The counter clerk's walk-in in a real browser (issue 15): Debian's chromium, headless,
// through playwright-core, against the running stack ($CERTHALL_URL).
//
// A counter clerk (made as tests/e2e/principals.py makes staff) signs in at /staff/signin;
// the console's nav shows 窗口受理 only. The clerk enters a walk-in's new org application
// with one seal: a wrong credit code is refused at the field as typed, the draft is made
// (POST /applications as the clerk: channel counter, owned by the handler's phone), each
// required scan (docs/samples) is uploaded through the page's file inputs, and it is
// submitted. A reviewer approves it through the API (the review page has its own test,
// browser.console). The clerk refreshes, sees the locked fee and takes it in cash with a
// receipt number. The API then shows the application moved on from awaiting_payment with
// paid_at set, and the payment recorded (GET /finance/payments: this application, the
// locked amount, cash, the receipt number as the transaction id).
// Every page: no console error, exception, failed request or answer >= 400. Screenshots at
// desktop and phone width (no horizontal overflow) in $CERTHALL_BROWSER_LOG_DIR.
import {
  base, DESKTOP, log, logDir, watch, clean, launch, run, apiCall, newAdmin, newStaff, freshPhone,
  samplePath, signInStaffPage, shoot,
} from './lib.mjs'

const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date())
const yuanSign = (fen) => { const d = String(fen).padStart(3, '0'); return `¥${d.slice(0, -2)}.${d.slice(-2)}` }

async function main() {
  const catalog = await apiCall(null, 'GET', '/catalog')
  const kindName = Object.fromEntries(catalog.material_kinds.map((k) => [k.code, k.name]))
  const admin = await newAdmin()
  const clerk = await newStaff(admin, ['counter'], '窗口员戊')
  const reviewer = await newStaff(admin, ['reviewer'], '审核员己')
  const phone = freshPhone('136')
  const unit = '成都市郫都区团结镇宝华村股份经济合作联合社'

  const browser = await launch()
  try {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
    const page = await ctx.newPage()
    const problems = watch(page)
    await signInStaffPage(page, clerk)
    const nav = page.getByRole('navigation', { name: '工作台导航' })
    const titles = await nav.getByRole('link').allInnerTexts()
    if (JSON.stringify(titles) !== '["窗口受理"]') throw new Error(`clerk nav: ${JSON.stringify(titles)}`)
    await nav.getByRole('link', { name: '窗口受理' }).click()
    await page.getByRole('heading', { name: '新建窗口申请（新办）' }).waitFor()

    // The walk-in's form; the credit code is checked as typed.
    await page.getByLabel('证书类型').selectOption('org')
    await page.getByLabel('年限').selectOption('1')
    await page.getByLabel('电子印章数量').selectOption('1')
    const credit = page.getByLabel('统一社会信用代码')
    await credit.fill('91510107MA6CM1234G')
    await credit.blur()
    await page.locator('#c-credit_code-error', { hasText: '校验位不正确' }).waitFor()
    await credit.fill('91510107MA6CM1234F')
    await page.waitForFunction(() => document.getElementById('c-credit_code-error')?.textContent === '')
    const fields = {
      单位名称: unit, 经办人姓名: '李娜', 经办人手机号码: phone, 经办人身份证号: '510104198503121232',
      收件人: '李娜', 收件人手机号码: phone, 省: '四川省', 市: '成都市', 详细地址: '团结镇宝华村5组12号', 发票抬头: unit,
    }
    for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value)
    await shoot(page, 'counter-new')
    await page.getByRole('button', { name: '创建申请' }).click()
    await page.waitForURL(/\/staff\/counter\/\d+$/)
    const id = Number(new URL(page.url()).pathname.split('/').pop())
    await page.getByRole('heading', { name: `窗口申请 ${id}` }).waitFor()
    const draft = await apiCall(clerk.token, 'GET', `/applications/${id}`)
    if (draft.channel !== 'counter' || draft.status !== 'draft' || draft.handler_phone !== phone || draft.seals !== 1) {
      throw new Error(`the draft: ${JSON.stringify(draft).slice(0, 300)}`)
    }
    log(`clerk entered walk-in application ${id} (channel counter)`)

    // The scans, one file input per required material.
    for (const kind of draft.required_materials) {
      await page.getByLabel(kindName[kind], { exact: true }).setInputFiles(samplePath(kind))
      await page.getByRole('status').filter({ hasText: `已上传：${kindName[kind]}` }).waitFor()
    }
    await page.getByText('材料已齐全').waitFor()
    const mats = await apiCall(clerk.token, 'GET', `/applications/${id}/materials`)
    if (JSON.stringify(mats.items.map((m) => m.kind)) !== JSON.stringify(draft.required_materials)) {
      throw new Error(`materials after upload: ${JSON.stringify(mats.items.map((m) => m.kind))}`)
    }
    await shoot(page, 'counter-materials')
    await page.getByRole('button', { name: '提交审核' }).click()
    await page.locator('#app-status', { hasText: '待审核' }).waitFor()
    log(`uploaded ${mats.items.length} scans and submitted`)

    // A reviewer approves (API); the clerk refreshes and takes the money.
    const approved = await apiCall(reviewer.token, 'POST', `/applications/${id}/review`, { decision: 'approve' })
    const fen = approved.quote.total_fen
    await page.getByRole('button', { name: '刷新' }).click()
    await page.getByRole('heading', { name: '窗口收款' }).waitFor()
    await page.getByText(`应收金额：${yuanSign(fen)}`).waitFor()
    const receipt = `R${today().replaceAll('-', '')}-${Date.now() % 100000}`
    await page.getByLabel('收款方式').selectOption('cash')
    await page.getByLabel('收据编号').fill(receipt)
    await shoot(page, 'counter-payment')
    await page.getByRole('button', { name: '确认收款' }).click()
    await page.getByRole('status').filter({ hasText: `已收款 ${yuanSign(fen)}（收据 ${receipt}）` }).waitFor()
    await page.locator('#app-status').filter({ hasNotText: '待缴费' }).waitFor()
    await shoot(page, 'counter-paid')
    clean(problems, 'counter')

    const after = await apiCall(clerk.token, 'GET', `/applications/${id}`)
    if (after.status === 'awaiting_payment' || !after.paid_at) throw new Error(`after payment the API says ${after.status}, paid_at ${after.paid_at}`)
    const d = today()
    const books = await apiCall(admin.token, 'GET', `/finance/payments?from=${d}&to=${d}`)
    const p = books.items.find((i) => i.application_id === id)
    if (!p || p.amount_fen !== fen || p.method !== 'cash' || p.transaction_id !== receipt || p.disposition !== 'captured') {
      throw new Error(`the payment in GET /finance/payments: ${JSON.stringify(p)}`)
    }
    log(`counter payment ${yuanSign(fen)} recorded (receipt ${receipt}); application ${id} is now ${after.status}`)
    await ctx.close()
  } finally {
    await browser.close()
  }
  log(`screenshots in ${logDir}`)
}

run(main)

// The guided application's fields: the label each shows, the wizard step it is on, the check
// it gets as the user types (the server's rule: api/applications.c's field table and
// src/base/validate.c) and how a server problem's JSON pointer finds it. Pure functions, so
// Vitest covers them (fields.test.ts).
import { checkCreditCode, checkIdNumber, checkPhone } from '../../validators'
import type { Application, TextField } from './types'
import { TEXT_FIELDS } from './types'

/** Wizard steps: 1 business, 2 subject and handler, 3 delivery and invoice, 4 materials. */
export type Step = 1 | 2 | 3 | 4

/** The form as the page holds it: text members as typed ('' = unset), years and seals. */
export type Form = {
  business_type: string; certificate_type: string; certificate_id: string
  years: number; seals: number
} & { [F in TextField]: string }

export const LABELS: Record<string, string> = {
  business_type: '业务类型', certificate_type: '证书类型', certificate_id: '原证书编号',
  years: '服务年限', seals: '电子印章数量',
  unit_name: '单位名称', credit_code: '统一社会信用代码',
  holder_name: '持有人姓名', holder_id_number: '持有人身份证号码',
  handler_name: '经办人姓名', handler_phone: '经办人手机号码', handler_id_number: '经办人身份证号码',
  delivery_recipient: '收件人', delivery_phone: '收件人手机号码', delivery_province: '省',
  delivery_city: '市', delivery_district: '区（县）', delivery_address: '详细地址',
  delivery_postcode: '邮政编码', invoice_title: '发票抬头', invoice_tax_id: '纳税人识别号',
}

export const STEP_OF: Record<string, Step> = {
  business_type: 1, certificate_type: 1, certificate_id: 1, years: 1, seals: 1,
  unit_name: 2, credit_code: 2, holder_name: 2, holder_id_number: 2,
  handler_name: 2, handler_phone: 2, handler_id_number: 2,
  delivery_recipient: 3, delivery_phone: 3, delivery_province: 3, delivery_city: 3,
  delivery_district: 3, delivery_address: 3, delivery_postcode: 3,
  invoice_title: 3, invoice_tax_id: 3,
}

/**
 * The server's text rule (ch_check_name with the field table's length caps): lo..hi
 * characters, no control characters, no leading or trailing (ideographic) space. The form
 * trims what it sends, so spaces only matter inside.
 */
export function checkText(s: string, lo: number, hi: number): string | null {
  const n = [...s].length
  if (n < lo) return lo > 1 ? `至少填写${lo}个字` : '此项不能为空'
  if (n > hi) return `最多${hi}个字`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(s)) return '不能含有控制字符'
  return null
}

const checkPostcode = (s: string): string | null => (/^[0-9]{6}$/.test(s) ? null : '邮政编码应为6位数字')

const CHECKS: Record<TextField, (s: string) => string | null> = {
  unit_name: (s) => checkText(s, 2, 100),
  credit_code: checkCreditCode,
  holder_name: (s) => checkText(s, 2, 50),
  holder_id_number: (s) => checkIdNumber(s),
  handler_name: (s) => checkText(s, 2, 50),
  handler_phone: checkPhone,
  handler_id_number: (s) => checkIdNumber(s),
  delivery_recipient: (s) => checkText(s, 2, 50),
  delivery_phone: checkPhone,
  delivery_province: (s) => checkText(s, 1, 50),
  delivery_city: (s) => checkText(s, 1, 50),
  delivery_district: (s) => checkText(s, 1, 50),
  delivery_address: (s) => checkText(s, 1, 200),
  delivery_postcode: checkPostcode,
  invoice_title: (s) => checkText(s, 1, 100),
  invoice_tax_id: checkCreditCode,
}

/** The check of one text field as typed; an empty field is not an error until submit. */
export function checkField(name: TextField, value: string): string | null {
  const v = value.trim()
  return v === '' ? null : CHECKS[name](v)
}

/**
 * The form field a server problem names: `field` is an RFC 6901 JSON pointer into the
 * body ("/credit_code"); the wizard's bodies are flat, so the first segment is the member.
 * Null when the problem names no field the form has.
 */
export function fieldOfPointer(pointer: string | undefined): string | null {
  if (!pointer || !pointer.startsWith('/')) return null
  const first = pointer.slice(1).split('/')[0] ?? ''
  const name = first.replace(/~1/g, '/').replace(/~0/g, '~')
  return name in STEP_OF ? name : null
}

/** The original certificate's number for every business but new: a positive integer id. */
export function checkCertificateId(bt: string, s: string): string | null {
  if (bt === 'new') return null
  return /^[1-9][0-9]{0,17}$/.test(s.trim()) ? null : '请填写原证书编号（数字，见证书详情）'
}

/**
 * A field error only the server can find, in Chinese (the client's checks cover the rest):
 * a certificate_id that names no certificate. Null when there is no special text.
 */
export function serverFieldText(field: string, slug: string): string | null {
  if (field === 'certificate_id' && slug === 'invalid-field') return '没有找到此编号的证书，请核对原证书编号'
  return null
}

/** Shipped business needs a delivery address; paid business an invoice title (SPEC §5). */
export const isShipped = (bt: string): boolean => bt === 'new' || bt === 'reissue'
export const isPaid = (bt: string): boolean => bt === 'new' || bt === 'renew' || bt === 'reissue'
export const hasTerm = (bt: string): boolean => bt === 'new' || bt === 'renew'

/** Which text fields a business and certificate type use (the rest are left null). */
export function fieldsFor(bt: string, ct: string): TextField[] {
  return TEXT_FIELDS.filter((f) => {
    if (f === 'holder_name' || f === 'holder_id_number') return ct === 'personal'
    if (f.startsWith('delivery_')) return isShipped(bt)
    if (f.startsWith('invoice_')) return isPaid(bt)
    return true
  })
}

export function emptyForm(): Form {
  const f = { business_type: 'new', certificate_type: 'org', certificate_id: '', years: 1, seals: 0 } as Form
  for (const n of TEXT_FIELDS) f[n] = ''
  return f
}

/** The form showing an application as the server has it. */
export function formOf(app: Application): Form {
  const f = emptyForm()
  f.business_type = app.business_type
  f.certificate_type = app.certificate_type
  f.certificate_id = app.certificate_id === null ? '' : String(app.certificate_id)
  f.years = app.years ?? 1
  f.seals = app.seals ?? 0
  for (const n of TEXT_FIELDS) f[n] = app[n] ?? ''
  return f
}

/**
 * The members of one step to send (the wizard saves a step at a time). Text is trimmed and
 * '' sent as null (which clears it); members the business does not take are sent as null so
 * that a change of business type leaves nothing the server would refuse.
 */
export function bodyOf(form: Form, step: Step): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  const bt = form.business_type
  if (step === 1) {
    body.business_type = bt
    body.certificate_type = form.certificate_type
    body.certificate_id = bt === 'new' || form.certificate_id.trim() === '' ? null : Number(form.certificate_id)
    body.years = hasTerm(bt) ? form.years : null
    body.seals = hasTerm(bt) ? form.seals : null
    if (form.certificate_type !== 'personal') { body.holder_name = null; body.holder_id_number = null }
    return body
  }
  const used = new Set(fieldsFor(bt, form.certificate_type))
  for (const n of TEXT_FIELDS) {
    if (STEP_OF[n] !== step) continue
    const v = form[n].trim()
    body[n] = used.has(n) && v !== '' ? v : null
  }
  return body
}

/** Why a submit was refused, in Chinese (problem `rule`, SubmitRefused in openapi.yaml). */
export const RULE_TEXT: Record<string, string> = {
  complete: '申请尚未填写完整',
  certificate_type: '原证书的类型与所选证书类型不一致',
  same_subject: '申请主体与原证书的主体不一致',
  renew_window: '原证书尚未到可续期的时间（到期前60天起可续期）',
  certificate_valid: '原证书已吊销或不在有效期内',
  one_open_per_certificate: '该证书已有一份正在办理的申请',
}

/** Why a submit was refused, ready to show. */
export interface Refusal { text: string; fields: string[]; materials: string[] }

/**
 * A refused submit (SubmitRefused, or 409 one_open_per_certificate) as what to show: the
 * rule's reason, the labels of the missing fields and the names of the missing materials
 * (kindName maps a material kind to the catalogue's name). Null for any other problem.
 */
export function refusalOf(problem: { type?: string; rule?: unknown; missing_fields?: unknown; missing_materials?: unknown },
  kindName: (kind: string) => string): Refusal | null {
  const rule = typeof problem.rule === 'string' ? problem.rule : null
  if (!rule) return null
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
  return {
    text: RULE_TEXT[rule] ?? '申请暂不能提交',
    fields: list(problem.missing_fields).map((f) => LABELS[f] ?? f),
    materials: list(problem.missing_materials).map(kindName),
  }
}

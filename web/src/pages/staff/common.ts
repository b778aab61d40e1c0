// What the staff console's pages share: the shapes they read (openapi.yaml), the zh-CN names
// of the console's codes, which page each role may open, and the one way a page deals with
// a failed call (a lost session goes back to the staff sign-in, keeping the page's address).
import type { Router } from 'vue-router'
import { api, apiPublic, ApiError, staffSession, type Catalog, type StaffRole } from '../../api'
import { problemText } from '../../problems'

export interface Quote { total_fen: number; lines: { code: string; name?: string; amount_fen: number }[] }
export interface Material { kind: string; content_type: string; size_bytes: number; sha256: string; uploaded_at: string }
export interface Application {
  id: number; status: string; version: number; channel: string
  business_type: string; certificate_type: string
  unit_name: string | null; credit_code: string | null
  holder_name: string | null; holder_id_number: string | null
  handler_name: string | null; handler_phone: string | null; handler_id_number: string | null
  years: number | null; seals: number | null
  delivery_recipient: string | null; delivery_phone: string | null; delivery_province: string | null
  delivery_city: string | null; delivery_district: string | null; delivery_address: string | null
  delivery_postcode: string | null; invoice_title: string | null; invoice_tax_id: string | null
  quote: Quote | null; quote_locked: boolean
  review_reason: string | null; return_materials: string[] | null
  materials?: Material[]; required_materials: string[]
  created_at: string; updated_at: string; submitted_at: string | null; due_by: string | null
}
export interface ApplicationList { items: Application[]; next_cursor: string | null }

/** The console's pages, in nav order, with the roles that may open each (the API's x-roles). */
export const CONSOLE_PAGES: { name: string; title: string; roles: StaffRole[] }[] = [
  { name: 'staff-review', title: '审核队列', roles: ['reviewer'] },
  { name: 'staff-fulfilment', title: '制证寄送', roles: ['operator', 'admin'] },
  { name: 'staff-counter', title: '窗口受理', roles: ['counter'] },
  { name: 'staff-finance', title: '财务', roles: ['finance', 'admin'] },
  { name: 'staff-admin-staff', title: '员工', roles: ['admin'] },
  { name: 'staff-admin-integrators', title: '接入平台', roles: ['admin'] },
  { name: 'staff-admin-fees', title: '收费标准', roles: ['admin'] },
  { name: 'staff-admin-calendar', title: '工作日历', roles: ['admin'] },
  { name: 'staff-admin-audit', title: '审计日志', roles: ['admin'] },
]
export const allowedPages = () => CONSOLE_PAGES.filter((p) => p.roles.some((r) => staffSession.has(r)))

export const ROLE_NAMES: Record<string, string> = {
  reviewer: '审核', operator: '制证寄送', finance: '财务', counter: '窗口', admin: '管理员',
}
export const CHANNEL_NAMES: Record<string, string> = { online: '网厅', integrator: '接入平台', counter: '窗口' }
export const BUCKET_NAMES: Record<string, string> = { overdue: '已超期', due_today: '今日到期', later: '未到期', met: '已按时办结' }
export const NEXT_NAMES: Record<string, string> = {
  personalise: '待制作USB Key', ship: '待寄出', await_delivery: '待签收', await_handler: '待经办人操作',
  await_signer: '待签发', signing_failed: '签发失败，需处理', complete: '待办结',
}
export const nameOf = (names: Record<string, string>, code: string | null | undefined): string =>
  code == null ? '—' : names[code] ?? code

/**
 * The message for a failed call, in Chinese; a lost session (401) sends the user to the
 * staff sign-in with the page to come back to, and gives null (nothing to show here).
 */
export async function failed(e: unknown, router: Router, labels: Record<string, string> = {}): Promise<string | null> {
  if (e instanceof ApiError && e.problem.status === 401) {
    staffSession.clear()
    await router.push({ name: 'staff-signin', query: { next: router.currentRoute.value.fullPath } })
    return null
  }
  return problemText(e, labels)
}

/** Today in Asia/Shanghai as YYYY-MM-DD. */
export function shanghaiToday(): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date())
}

/** The catalogue's names of business types, certificate types and material kinds. */
export interface Names { business: Record<string, string>; cert: Record<string, string>; material: Record<string, string> }
let catalogOnce: Promise<Catalog> | null = null
/** GET /catalog once per page load (it is public and changes only with a migration). */
export function catalog(): Promise<Catalog> {
  catalogOnce ??= apiPublic<Catalog>('/catalog')
  catalogOnce.catch(() => { catalogOnce = null })
  return catalogOnce
}
export async function names(): Promise<Names> {
  const c = await catalog()
  const map = (xs: { code: string; name: string }[]) => Object.fromEntries(xs.map((x) => [x.code, x.name]))
  return { business: map(c.business_types), cert: map(c.certificate_types), material: map(c.material_kinds) }
}

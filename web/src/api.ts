// The API on the same origin (/api/v1/, nginx). Every error is application/problem+json
// (RFC 9457): ApiError carries it, so a page can show `detail` at the field that
// `field` names. The applicant's bearer token lives in sessionStorage: it
// survives a reload, not the closing of the tab.

export interface Problem {
  type?: string
  title?: string
  status: number
  detail?: string
  field?: string
  parameter?: string
  [k: string]: unknown
}

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`)
  }
  /** The reason given for one field, when the server named it. */
  fieldReason(name: string): string | undefined {
    return this.problem.field === name || this.problem.parameter === name ? this.problem.detail : undefined
  }
}

const TOKEN_KEY = 'certhall.token'
export const session = {
  get token(): string | null { return sessionStorage.getItem(TOKEN_KEY) },
  set(token: string): void { sessionStorage.setItem(TOKEN_KEY, token) },
  clear(): void { sessionStorage.removeItem(TOKEN_KEY) },
}

export async function api<T>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...extraHeaders }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const token = session.token
  if (token) headers.Authorization = `Bearer ${token}`
  const res = await fetch(`/api/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  const data: unknown = text ? JSON.parse(text) : null
  if (!res.ok) {
    if (res.status === 401 && token) session.clear()
    throw new ApiError({ status: res.status, ...(data as object) } as Problem)
  }
  return data as T
}

/**
 * A public resource (the catalogue), asked without the session's token: a token that has
 * expired or been revoked must not turn the first page into an error (the API answers 401 to
 * bad credentials even where none are needed). The session is found to be gone at the first
 * call that needs it, which returns the user to sign-in.
 */
export async function apiPublic<T>(path: string): Promise<T> {
  const res = await fetch(`/api/v1${path}`, { headers: { Accept: 'application/json' } })
  const text = await res.text()
  const data: unknown = text ? JSON.parse(text) : null
  if (!res.ok) throw new ApiError({ status: res.status, ...(data as object) } as Problem)
  return data as T
}

// ---- the shapes this slice reads (openapi.yaml) --------------------------------------

export interface FeeItem {
  code: string; name: string; certificate_type: string; amount_fen: number
  per_year: boolean; per_seal: boolean; tax_rate_bp: number; note: string
}
export interface Catalog {
  business_types: { code: string; name: string; description: string; settlement: string; fee_items: string[] }[]
  certificate_types: { code: string; name: string; subject_fields: string[] }[]
  material_kinds: { code: string; name: string }[]
  required_materials: { business_type: string; certificate_type: string; materials: { kind: string; title: string }[] }[]
  material_rules: { accepted_types: string[]; max_file_bytes: number; official_seal_note: string }
  years: { min: number; max: number }
  fee_schedule: { version: number; effective_from: string; currency: string; items: FeeItem[] }
  online_flow: { step: number; title: string; description: string }[]
  counter: { address: string; open_days: string; weekdays: number[]; note: string }
  support: { website: string; hotline: string; hotline_note: string; qq: string }
}
export interface SmsCodeSent { phone: string; expires_in: number; resend_after: number }
export interface SessionCreated {
  token: string; expires_at: string
  me: { kind: string; roles: string[]; applicant: { id: number; phone: string } | null }
}
export interface ApplicationSummary {
  id: number; status: string; business_type: string; certificate_type: string
  unit_name: string | null; created_at: string; updated_at: string
  quote: { total_fen: number } | null; review_reason: string | null
}

// ---- staff console: who is signed in, with which roles ----------------------
// A staff member signs in with a username and password (POST /auth/staff-sessions) and gets
// the same kind of bearer token as an applicant, kept in the same place (`session`). Who
// they are (GET /me's `staff`: id, name, roles) is kept next to it, so the console's nav
// can show only what the roles allow without asking the server on every page; it counts
// only while the token is there (a 401 drops the token, and with it the staff member).
export type StaffRole = 'reviewer' | 'operator' | 'finance' | 'counter' | 'admin'
export interface StaffMe { id: number; username: string; display_name: string; roles: StaffRole[] }
const STAFF_KEY = 'certhall.staff'
export const staffSession = {
  get me(): StaffMe | null {
    if (!session.token) return null
    const raw = sessionStorage.getItem(STAFF_KEY)
    return raw ? (JSON.parse(raw) as StaffMe) : null
  },
  set(me: StaffMe): void { sessionStorage.setItem(STAFF_KEY, JSON.stringify(me)) },
  clear(): void { sessionStorage.removeItem(STAFF_KEY) },
  has(role: StaffRole): boolean { return this.me?.roles.includes(role) ?? false },
}

/**
 * One call on /api/v1 with the bearer token, for what `api` does not send: extra headers
 * (Idempotency-Key, If-Match), a raw body (a scanned file, typed by its Content-Type), or
 * an answer that is not JSON. Gives the Response when it is 2xx, else throws ApiError with
 * the problem (a 401 drops the token, as `api` does).
 */
export async function apiRaw(method: string, path: string, opts: {
  body?: BodyInit; contentType?: string; accept?: string; headers?: Record<string, string>
} = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json', ...opts.headers }
  if (opts.contentType) headers['Content-Type'] = opts.contentType
  const token = session.token
  if (token) headers.Authorization = `Bearer ${token}`
  const res = await fetch(`/api/v1${path}`, { method, headers, body: opts.body })
  if (res.ok) return res
  const text = await res.text()
  if (res.status === 401 && token) session.clear()
  let data: object = {}
  try { data = JSON.parse(text) as object } catch { /* not a problem document */ }
  throw new ApiError({ status: res.status, ...data } as Problem)
}

/** `api` with extra request headers (e.g. Idempotency-Key); JSON in, JSON out. */
export async function apiWith<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<T> {
  const res = await apiRaw(method, path, { body: JSON.stringify(body), contentType: 'application/json', headers })
  return (await res.json()) as T
}

/**
 * A file from the API with the bearer token (a scan, a CSV), as a Blob: an <img> or a
 * download link cannot send the token, so pages show it through URL.createObjectURL.
 */
export async function apiBlob(path: string, accept = '*/*'): Promise<Blob> {
  return (await apiRaw('GET', path, { accept })).blob()
}

// Unsaved form state that must survive a trip through the sign-in page.
//
// Decision (issue 15, "an expired session returns to sign-in and keeps the draft"): what the
// applicant typed but the server has not stored yet is kept in sessionStorage, under one
// key per application ("certhall.draft.<id>", or "certhall.draft.new" before the draft
// exists on the server), written on every change and removed once the server has it (a
// step saved, the application submitted or cancelled). sessionStorage and not
// localStorage: the form holds identity numbers, which must not outlive the tab or be
// shared with other tabs; the API token lives there too, so the draft lasts exactly as long
// as a sign-in could. When the API answers 401 the page sends the user to
// /signin?next=<the wizard's URL, with the application id and step>; after signing in the
// wizard reads the server's copy and lays the kept state over it, so the typed text wins.
// A key holds no user id, so signing out (App.vue) drops every kept form: the next person at
// a shared computer starts clean. Only an expired session keeps them. A different applicant
// signing in after an expiry is refused any other application (404), so a kept form for an
// id is dropped when the application cannot be read.

export interface DraftStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

const PREFIX = 'certhall.draft.'

/** The storage key of an application's unsaved state (null id: not yet created). */
export const draftKey = (id: number | null): string => `${PREFIX}${id ?? 'new'}`

export interface Kept<T> { step: number; form: T; savedAt: string }

/** Keeps form (and the step shown) for the application; never throws (a full storage
 * only loses the copy). */
export function keepDraft<T>(id: number | null, step: number, form: T,
  store: DraftStore = sessionStorage, now: Date = new Date()): void {
  try {
    store.setItem(draftKey(id), JSON.stringify({ step, form, savedAt: now.toISOString() }))
  } catch {
    // QuotaExceededError or storage disabled: the server's copy is still there.
  }
}

/** The kept state, or null when there is none or it cannot be read. */
export function keptDraft<T>(id: number | null, store: DraftStore = sessionStorage): Kept<T> | null {
  const raw = store.getItem(draftKey(id))
  if (raw === null) return null
  try {
    const v = JSON.parse(raw) as Kept<T>
    return v && typeof v === 'object' && typeof v.step === 'number' && v.form ? v : null
  } catch {
    return null
  }
}

/** Forgets the kept state once the server holds it. */
export function dropDraft(id: number | null, store: DraftStore = sessionStorage): void {
  store.removeItem(draftKey(id))
}

/** Moves the "new" copy to the id the server gave the draft. */
export function adoptDraft(id: number, store: DraftStore = sessionStorage): void {
  const raw = store.getItem(draftKey(null))
  if (raw !== null) store.setItem(draftKey(id), raw)
  store.removeItem(draftKey(null))
}

/** Lays kept values over the server's: only members the kept form has, of the same type. */
export function overlay<T extends object>(server: T, kept: Partial<T> | null | undefined): T {
  if (!kept) return server
  const out = { ...server }
  for (const k of Object.keys(server) as (keyof T)[]) {
    const v = kept[k]
    if (v !== undefined && typeof v === typeof server[k]) out[k] = v as T[keyof T]
  }
  return out
}

/** Forgets every kept form (signing out: the next person at this computer starts clean). */
export function dropAllDrafts(store: Pick<Storage, 'length' | 'key' | 'removeItem'> = sessionStorage): void {
  const keys: string[] = []
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i)
    if (k !== null && k.startsWith(PREFIX)) keys.push(k)
  }
  for (const k of keys) store.removeItem(k)
}

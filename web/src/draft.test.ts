import { describe, expect, it } from 'vitest'
import { adoptDraft, draftKey, dropAllDrafts, dropDraft, keepDraft, keptDraft, overlay, type DraftStore } from './draft'

function memory(): DraftStore & { map: Map<string, string> } {
  const map = new Map<string, string>()
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => { map.set(k, v) },
    removeItem: (k) => { map.delete(k) },
  }
}

describe('the kept draft', () => {
  it('keeps, reads and drops one application\'s form', () => {
    const s = memory()
    keepDraft(7, 3, { delivery_address: '红光镇白云村3组18号' }, s, new Date('2026-12-01T00:00:00Z'))
    expect(s.map.has('certhall.draft.7')).toBe(true)
    expect(keptDraft<{ delivery_address: string }>(7, s)).toEqual({
      step: 3, form: { delivery_address: '红光镇白云村3组18号' }, savedAt: '2026-12-01T00:00:00.000Z',
    })
    expect(keptDraft(8, s)).toBeNull()
    dropDraft(7, s)
    expect(keptDraft(7, s)).toBeNull()
  })

  it('keeps a form not yet created under "new" and moves it to the id the server gives', () => {
    const s = memory()
    expect(draftKey(null)).toBe('certhall.draft.new')
    keepDraft(null, 1, { business_type: 'new' }, s)
    adoptDraft(12, s)
    expect(keptDraft(null, s)).toBeNull()
    expect(keptDraft<{ business_type: string }>(12, s)?.form.business_type).toBe('new')
  })

  it('ignores what it cannot read and survives a full storage', () => {
    const s = memory()
    s.setItem('certhall.draft.3', '{not json')
    expect(keptDraft(3, s)).toBeNull()
    s.setItem('certhall.draft.4', '{"form":{}}')
    expect(keptDraft(4, s)).toBeNull()
    const full: DraftStore = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError') }, removeItem: () => {} }
    expect(() => keepDraft(5, 1, {}, full)).not.toThrow()
  })

  it('lays kept values over the server\'s, member by member and type by type', () => {
    const server = { unit_name: '甲单位', years: 1, credit_code: '' }
    expect(overlay(server, { unit_name: '乙单位', years: '3' as unknown as number, extra: 1 } as never))
      .toEqual({ unit_name: '乙单位', years: 1, credit_code: '' })
    expect(overlay(server, null)).toBe(server)
  })
})

describe('signing out', () => {
  it('drops every kept form and nothing else', () => {
    const map = new Map<string, string>([['certhall.draft.new', '{}'], ['certhall.draft.12', '{}'], ['certhall.token', 't']])
    const store = {
      get length() { return map.size },
      key: (i: number) => [...map.keys()][i] ?? null,
      removeItem: (k: string) => { map.delete(k) },
    }
    dropAllDrafts(store)
    expect([...map.keys()]).toEqual(['certhall.token'])
  })
})

// The client's checks against the same case tables as the C checkers
// (tests/unit/validate_cases.json, read by tests/unit/shared_cases.c too), plus the cases
// both sides make with the standards' algorithms.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { checkCreditCode, checkIdNumber, checkPhone } from './validators'

interface Table { good: string[]; bad: string[] }
const cases = JSON.parse(
  readFileSync(new URL('../../tests/unit/validate_cases.json', import.meta.url), 'utf8'),
) as { phone: Table; id_number: Table; credit_code: Table; id_number_births: { cases: [string, boolean][] } }

function table(name: string, t: Table, check: (s: string) => string | null): void {
  describe(name, () => {
    it.each(t.good)('accepts %j', (s) => expect(check(s)).toBeNull())
    it.each(t.bad)('refuses %j', (s) => expect(check(s)).toMatch(/./))
  })
}

table('phone', cases.phone, checkPhone)
table('id_number', cases.id_number, (s) => checkIdNumber(s))
table('credit_code', cases.credit_code, checkCreditCode)

// Written apart from validators.ts, from the standards, as the C test does.
const ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
function makeId(region: string, birth: string, seq: string): string {
  const s = region + birth + seq
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(s[i]) * ID_W[i]!
  return s + '10X98765432'[sum % 11]
}
const CC_A = '0123456789ABCDEFGHJKLMNPQRTUWXY'
const CC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
function makeCredit(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += CC_A.indexOf(first17[i]!) * CC_W[i]!
  const c = 31 - (sum % 31)
  return first17 + CC_A[c === 31 ? 0 : c]
}

describe('id_number_births', () => {
  it.each(cases.id_number_births.cases)('birth %s ok=%s', (birth, ok) => {
    const r = checkIdNumber(makeId('510104', birth, '123'))
    if (ok) expect(r).toBeNull()
    else expect(r).toMatch(/./)
  })
  it('takes today in China and refuses tomorrow', () => {
    // 2026-03-01 16:30 UTC is 2026-03-02 00:30 in China.
    const now = new Date(Date.UTC(2026, 2, 1, 16, 30))
    expect(checkIdNumber(makeId('510104', '20260302', '001'), now)).toBeNull()
    expect(checkIdNumber(makeId('510104', '20260303', '001'), now)).toMatch(/出生日期/)
  })
})

describe('check characters', () => {
  it('refuses every wrong ID check character', () => {
    const id = makeId('510104', '19900101', '123')
    for (const c of '0123456789X') {
      if (c !== id[17]) expect(checkIdNumber(id.slice(0, 17) + c)).toMatch(/校验位/)
    }
  })
  it('refuses every wrong credit code check character', () => {
    const cc = makeCredit('91510100MA6123456')
    for (const c of CC_A) {
      if (c !== cc[17]) expect(checkCreditCode(cc.slice(0, 17) + c)).toMatch(/校验位/)
    }
    expect(checkCreditCode(makeCredit('12100000400000000'))).toBeNull()
    expect(checkCreditCode(makeCredit('Y1234567890ABCDEF'))).toBeNull()
  })
  it('refuses I, O, S, V, Z anywhere', () => {
    for (const x of 'IOSVZ') {
      for (let pos = 0; pos < 18; pos++) {
        const s = '91350100M000100Y43'
        expect(checkCreditCode(s.slice(0, pos) + x + s.slice(pos + 1))).toMatch(/./)
      }
    }
  })
})

import { describe, expect, it } from 'vitest'
import { shanghaiTime, yuan, yuanSign } from './format'

describe('yuan', () => {
  it.each([
    [0, '0.00'], [5, '0.05'], [10, '0.10'], [100, '1.00'], [40000, '400.00'],
    [12345, '123.45'], [-12345, '-123.45'], [-5, '-0.05'],
    // 0.1 + 0.2 style rounding cannot happen: 2^53 - 1 fen is exact.
    [9007199254740991, '90071992547409.91'],
  ])('%d fen is %s yuan', (fen, s) => expect(yuan(fen)).toBe(s))
  it('refuses a non-integer', () => expect(() => yuan(1.5)).toThrow(RangeError))
  it('prefixes the sign', () => expect(yuanSign(20000)).toBe('¥200.00'))
})

describe('shanghaiTime', () => {
  it('shows UTC in Beijing time', () => {
    expect(shanghaiTime('2026-11-24T16:30:00Z')).toBe('2026/11/25 00:30')
    expect(shanghaiTime('2026-11-25T09:41:07+08:00')).toBe('2026/11/25 09:41')
  })
})

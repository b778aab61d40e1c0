import { describe, expect, it } from 'vitest'
import { ApiError } from './api'
import { problemSlug, problemText } from './problems'

const err = (p: Record<string, unknown>) => new ApiError({ status: 422, ...p })

describe('problemText', () => {
  it('names the field by its label, in Chinese, never the English detail', () => {
    const e = err({ type: 'urn:certhall:problem:invalid-field', field: '/subject/credit_code', detail: 'bad check digit' })
    expect(problemSlug(e)).toBe('invalid-field')
    expect(problemText(e, { '/subject/credit_code': '统一社会信用代码' })).toBe('统一社会信用代码：填写的内容不正确')
    expect(problemText(e)).not.toContain('bad check digit')
  })
  it('falls back by status for a type it does not know', () => {
    expect(problemText(new ApiError({ status: 502 }))).toBe('系统出现问题，请稍后再试或拨打客服电话')
    expect(problemText(err({ type: 'about:blank' }))).toBe('操作未成功，请检查后重试')
  })
  it('tells a network failure apart', () => {
    expect(problemText(new TypeError('Failed to fetch'))).toBe('网络连接失败，请检查网络后重试')
  })
})

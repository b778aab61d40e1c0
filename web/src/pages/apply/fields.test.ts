import { describe, expect, it } from 'vitest'
import {
  bodyOf, checkCertificateId, checkField, checkText, emptyForm, fieldOfPointer, fieldsFor, formOf,
  refusalOf, serverFieldText,
} from './fields'
import { checkFile, sizeText } from './materials'
import type { Application } from './types'

describe('server problems find their field', () => {
  it('maps an RFC 6901 pointer to the form member', () => {
    expect(fieldOfPointer('/credit_code')).toBe('credit_code')
    expect(fieldOfPointer('/certificate_id')).toBe('certificate_id')
    expect(fieldOfPointer('/years')).toBe('years')
  })
  it('names no field for the body, unknown members or no pointer', () => {
    expect(fieldOfPointer('')).toBeNull()
    expect(fieldOfPointer(undefined)).toBeNull()
    expect(fieldOfPointer('/nickname')).toBeNull()
    expect(fieldOfPointer('credit_code')).toBeNull()
    expect(fieldOfPointer('/a~1b')).toBeNull()
  })
  it('has Chinese for what only the server can find', () => {
    expect(serverFieldText('certificate_id', 'invalid-field')).toContain('没有找到')
    expect(serverFieldText('unit_name', 'invalid-field')).toBeNull()
  })
})

describe('field checks as typed (the server\'s rules)', () => {
  it('checks credit codes and ID numbers by their check characters', () => {
    expect(checkField('credit_code', '91510107MA6CM1234F')).toBeNull()
    expect(checkField('credit_code', '91510107MA6CM1234A')).toContain('校验位')
    expect(checkField('handler_id_number', '510104198503121232')).toBeNull()
    expect(checkField('handler_id_number', '510104198503121233')).toContain('校验位')
  })
  it('leaves an empty field alone until submit, and trims', () => {
    expect(checkField('unit_name', '')).toBeNull()
    expect(checkField('unit_name', '  ')).toBeNull()
    expect(checkField('handler_phone', ' 13800138000 ')).toBeNull()
  })
  it('counts characters, not bytes, and refuses control characters', () => {
    expect(checkText('张', 2, 50)).toContain('至少')
    expect(checkText('张伟', 2, 50)).toBeNull()
    expect(checkText('字'.repeat(51), 2, 50)).toContain('最多')
    expect(checkText('a\u0007b', 1, 50)).toContain('控制字符')
    expect(checkField('delivery_postcode', '61173')).toContain('6位')
  })
  it('asks for the original certificate for every business but new', () => {
    expect(checkCertificateId('new', '')).toBeNull()
    expect(checkCertificateId('renew', '')).not.toBeNull()
    expect(checkCertificateId('renew', '0')).not.toBeNull()
    expect(checkCertificateId('renew', '12')).toBeNull()
  })
})

describe('the wizard\'s bodies', () => {
  it('uses the fields of the business and certificate type', () => {
    expect(fieldsFor('new', 'org')).not.toContain('holder_name')
    expect(fieldsFor('new', 'personal')).toContain('holder_id_number')
    expect(fieldsFor('revoke', 'org').some((f) => f.startsWith('delivery_') || f.startsWith('invoice_'))).toBe(false)
    expect(fieldsFor('renew', 'org')).toContain('invoice_title')
    expect(fieldsFor('renew', 'org')).not.toContain('delivery_address')
  })
  it('sends step 1 with years and seals only for new and renew', () => {
    const f = { ...emptyForm(), years: 2, seals: 1 }
    expect(bodyOf(f, 1)).toEqual({
      business_type: 'new', certificate_type: 'org', certificate_id: null, years: 2, seals: 1,
      holder_name: null, holder_id_number: null,
    })
    expect(bodyOf({ ...f, business_type: 'revoke', certificate_id: '42' }, 1)).toMatchObject({
      business_type: 'revoke', certificate_id: 42, years: null, seals: null,
    })
  })
  it('sends a step\'s text trimmed, empty as null, and only that step\'s members', () => {
    const f = { ...emptyForm(), unit_name: ' 甲单位 ', credit_code: '', delivery_city: '成都市' }
    const b = bodyOf(f, 2)
    expect(b.unit_name).toBe('甲单位')
    expect(b.credit_code).toBeNull()
    expect('delivery_city' in b).toBe(false)
    expect(b.holder_name).toBeNull()
  })
  it('reads a form back from the server\'s application', () => {
    const app = { business_type: 'new', certificate_type: 'org', certificate_id: null, years: 3, seals: null,
      unit_name: '甲单位', invoice_title: null } as unknown as Application
    const f = formOf(app)
    expect(f.years).toBe(3)
    expect(f.seals).toBe(0)
    expect(f.unit_name).toBe('甲单位')
    expect(f.invoice_title).toBe('')
  })
})

describe('refused submits in Chinese', () => {
  const kindName = (k: string): string => ({ business_license: '单位营业执照复印件' })[k] ?? k
  it('lists the missing fields by label and materials by name', () => {
    const r = refusalOf({ type: 'urn:certhall:problem:not-eligible', rule: 'complete',
      missing_fields: ['invoice_title'], missing_materials: ['business_license'] }, kindName)
    expect(r).toEqual({ text: '申请尚未填写完整', fields: ['发票抬头'], materials: ['单位营业执照复印件'] })
  })
  it('explains the other rules and ignores problems without one', () => {
    expect(refusalOf({ rule: 'renew_window' }, kindName)?.text).toContain('60天')
    expect(refusalOf({ type: 'urn:certhall:problem:conflict' }, kindName)).toBeNull()
  })
})

describe('files checked before upload', () => {
  const rules = { accepted_types: ['application/pdf', 'image/jpeg', 'image/png'], max_file_bytes: 10485760 }
  it('takes the catalogue\'s types up to its size', () => {
    expect(checkFile('business_license', { type: 'image/jpeg', size: 1000 }, rules)).toBeNull()
    expect(checkFile('business_license', { type: 'image/gif', size: 1000 }, rules)).toContain('PDF、JPG、PNG')
    expect(checkFile('business_license', { type: 'application/pdf', size: 10485761 }, rules)).toContain('10.0 MB')
    expect(checkFile('business_license', { type: 'application/pdf', size: 0 }, rules)).toContain('空')
  })
  it('takes only PNG for the seal impression', () => {
    expect(checkFile('seal_impression', { type: 'image/jpeg', size: 10 }, rules)).toContain('PNG')
    expect(checkFile('seal_impression', { type: 'image/png', size: 10 }, rules)).toBeNull()
  })
  it('writes sizes as people read them', () => {
    expect(sizeText(300)).toBe('300 B')
    expect(sizeText(12 * 1024)).toBe('12 KB')
    expect(sizeText(1572864)).toBe('1.5 MB')
  })
})

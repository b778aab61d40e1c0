import { describe, expect, it } from 'vitest'
import { hasCertificate, hasShipment, nextSteps, paymentState, safePayUrl, signatureBase64, signCommand } from './steps'
import type { PaymentView } from './types'

const app = (status: string, business_type: string, facts: Partial<Record<'paid_at' | 'verified_at' | 'possession_proven_at', string>> = {}) => ({
  status, business_type, paid_at: null, verified_at: null, possession_proven_at: null, ...facts,
})
const kinds = (a: ReturnType<typeof app>) => nextSteps(a).map((s) => s.kind)

describe('nextSteps', () => {
  it('paid business waits for the payment', () => {
    expect(kinds(app('awaiting_payment', 'new'))).toEqual(['pay'])
    expect(kinds(app('awaiting_payment', 'reissue'))).toEqual(['pay'])
  })
  it('renew owes a payment and proof of possession, each until it is done', () => {
    expect(kinds(app('awaiting_payment', 'renew'))).toEqual(['pay', 'possession'])
    expect(kinds(app('awaiting_payment', 'renew', { paid_at: 't' }))).toEqual(['possession'])
    expect(kinds(app('awaiting_payment', 'renew', { possession_proven_at: 't' }))).toEqual(['pay'])
  })
  it('free business waits for the code; change also for possession', () => {
    expect(kinds(app('awaiting_verification', 'revoke'))).toEqual(['verify'])
    expect(kinds(app('awaiting_verification', 'unlock'))).toEqual(['verify'])
    expect(kinds(app('awaiting_verification', 'change'))).toEqual(['verify', 'possession'])
    expect(kinds(app('awaiting_verification', 'change', { verified_at: 't' }))).toEqual(['possession'])
  })
  it('issuing and issued lead to the deliverables page', () => {
    expect(nextSteps(app('issuing', 'new'))[0]).toMatchObject({ kind: 'issuing', route: 'deliverables' })
    for (const s of ['issued', 'shipped', 'delivered', 'activated', 'completed']) {
      expect(nextSteps(app(s, 'new'))[0]).toMatchObject({ kind: 'deliverables', route: 'deliverables' })
    }
  })
  it('asks nothing before approval or after an end', () => {
    for (const s of ['draft', 'submitted', 'returned', 'rejected', 'cancelled']) expect(kinds(app(s, 'new'))).toEqual([])
  })
})

describe('hasCertificate and hasShipment', () => {
  it('a certificate once issued, for business that makes one', () => {
    expect(hasCertificate({ status: 'issuing', business_type: 'new' })).toBe(false)
    expect(hasCertificate({ status: 'issued', business_type: 'change' })).toBe(true)
    expect(hasCertificate({ status: 'completed', business_type: 'revoke' })).toBe(false)
  })
  it('a shipment for new and reissue once shipped', () => {
    expect(hasShipment({ status: 'issued', business_type: 'new' })).toBe(false)
    expect(hasShipment({ status: 'shipped', business_type: 'reissue' })).toBe(true)
    expect(hasShipment({ status: 'completed', business_type: 'renew' })).toBe(false)
  })
})

const order = (status: string) => ({ id: 1, out_trade_no: 'CH1', amount_fen: 40000, status, pay_url: 'http://gw/pay/x', expires_at: 't', paid_at: null, provider: 'sandbox' })
const payment = (id: number, disposition: string) => ({ id, transaction_id: `t${id}`, method: 'online', amount_fen: 40000, disposition, paid_at: 't' })
const view = (v: Partial<PaymentView>): PaymentView => ({ order: null, payments: [], refunds: [], ...v })

describe('paymentState', () => {
  it('reads the order while nothing is captured', () => {
    expect(paymentState(view({}))).toBe('none')
    expect(paymentState(view({ order: order('open') }))).toBe('open')
    expect(paymentState(view({ order: order('expired') }))).toBe('failed')
    expect(paymentState(view({ order: order('closed') }))).toBe('failed')
    expect(paymentState(view({ order: order('paid') }))).toBe('paid')
  })
  it('a captured payment is paid, whatever became of a later order', () => {
    expect(paymentState(view({ order: order('open'), payments: [payment(1, 'captured')] }))).toBe('paid')
  })
  it('money that could not be taken is not a payment', () => {
    expect(paymentState(view({ order: order('expired'), payments: [payment(1, 'refund_due')] }))).toBe('failed')
  })
  it('refunded only when every captured payment has a refund that did not fail', () => {
    const p = [payment(1, 'captured')]
    expect(paymentState(view({ payments: p, refunds: [{ id: 9, payment_id: 1, amount_fen: 40000, status: 'pending' }] }))).toBe('refunded')
    expect(paymentState(view({ payments: p, refunds: [{ id: 9, payment_id: 1, amount_fen: 40000, status: 'failed' }] }))).toBe('paid')
    expect(paymentState(view({ payments: p, refunds: [{ id: 9, payment_id: 2, amount_fen: 40000, status: 'succeeded' }] }))).toBe('paid')
  })
})

describe('safePayUrl', () => {
  it('takes http(s) only', () => {
    expect(safePayUrl('http://127.0.0.1:9/pay/wx1?redirect_url=x')).toBe('http://127.0.0.1:9/pay/wx1?redirect_url=x')
    expect(safePayUrl('https://pay.example/p')).toBe('https://pay.example/p')
    expect(safePayUrl('javascript:alert(1)')).toBeNull()
    expect(safePayUrl('data:text/html,x')).toBeNull()
    expect(safePayUrl('/relative')).toBeNull()
    expect(safePayUrl(null)).toBeNull()
  })
})

const bytes = (s: string) => new TextEncoder().encode(s)

describe('signatureBase64', () => {
  it('raw binary signatures are encoded', () => {
    expect(signatureBase64(new Uint8Array([0x30, 0x45, 0x02, 0x21, 0x00, 0xff]))).toEqual({ ok: true, value: 'MEUCIQD/' })
  })
  it('base64 text is taken as it is, unwrapped; base64url and missing padding are mended', () => {
    expect(signatureBase64(bytes('MEUC\nIQD/\n'))).toEqual({ ok: true, value: 'MEUCIQD/' })
    expect(signatureBase64(bytes('MEUCIQD_'))).toEqual({ ok: true, value: 'MEUCIQD/' })
    expect(signatureBase64(bytes('MEUCIQ'))).toEqual({ ok: true, value: 'MEUCIQ==' })
  })
  it('printable bytes that are not base64 are the signature itself', () => {
    expect(signatureBase64(bytes('a!b'))).toEqual({ ok: true, value: btoa('a!b') })
  })
  it('refuses nothing and too much', () => {
    expect(signatureBase64(new Uint8Array())).toEqual({ ok: false, reason: 'empty' })
    expect(signatureBase64(bytes(' \n'))).toEqual({ ok: false, reason: 'empty' })
    expect(signatureBase64(new Uint8Array(2049).fill(0x80))).toEqual({ ok: false, reason: 'too-large' })
    expect(signatureBase64(bytes('A'.repeat(4000)))).toEqual({ ok: false, reason: 'too-large' })
  })
})

describe('signCommand', () => {
  it('names SM3 and the distinguishing ID for SM2, SHA-256 otherwise', () => {
    expect(signCommand('sm2-sm3')).toContain('-sm3')
    expect(signCommand('sm2-sm3')).toContain('distid:1234567812345678')
    expect(signCommand('rsa-pkcs1-sha256')).toContain('-sha256')
    expect(signCommand('ecdsa-p256-sha256')).toContain('-sha256')
  })
})

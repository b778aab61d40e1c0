// Pure logic of the after-approval pages: what an application asks of its applicant next
// (docs/CONTRACT.md "Pay or verify": new, reissue owe a payment; renew a payment and proof
// of possession; change a verification code and proof of possession; revoke, unlock a
// verification code), how a payment view reads, and how a signature file becomes the base64
// the API takes. Tested by steps.test.ts.
import type { AppView, PaymentView } from './types'

export type StepKind = 'pay' | 'verify' | 'possession' | 'issuing' | 'deliverables'
export interface Step { kind: StepKind; route: string | null; title: string; text: string }

const NEEDS_POSSESSION = new Set(['renew', 'change'])
const ISSUED = new Set(['issued', 'shipped', 'delivered', 'activated', 'completed'])

/**
 * The actions an application waits for, in the order the applicant does them (empty when
 * it waits for nobody here: a draft, under review, returned, rejected, cancelled). Route
 * names are the router's (`pay`, `verify`, `possession`, `deliverables`).
 */
export function nextSteps(a: Pick<AppView, 'status' | 'business_type' | 'paid_at' | 'verified_at' | 'possession_proven_at'>): Step[] {
  const steps: Step[] = []
  const possession = NEEDS_POSSESSION.has(a.business_type) && !a.possession_proven_at
  if (a.status === 'awaiting_payment') {
    if (!a.paid_at) steps.push({ kind: 'pay', route: 'pay', title: '在线缴费', text: '审核已通过，请按锁定的报价在线缴费。' })
    if (possession) steps.push({ kind: 'possession', route: 'possession', title: '证明持有原证书', text: '请用原证书的私钥签署校验串，证明您持有该证书。' })
  } else if (a.status === 'awaiting_verification') {
    if (!a.verified_at) steps.push({ kind: 'verify', route: 'verify', title: '短信验证', text: '本业务免费，请输入发送到证书登记手机的验证码。' })
    if (possession) steps.push({ kind: 'possession', route: 'possession', title: '证明持有原证书', text: '请用原证书的私钥签署校验串，证明您持有该证书。' })
  } else if (a.status === 'issuing') {
    steps.push({ kind: 'issuing', route: 'deliverables', title: '制证中', text: '费用已结清，正在制作证书；发票开具后可在此查看。' })
  } else if (ISSUED.has(a.status)) {
    steps.push({ kind: 'deliverables', route: 'deliverables', title: '证书与发票', text: '下载证书、电子印章，查看物流和发票。' })
  }
  return steps
}

const NEW_CERTIFICATE = new Set(['new', 'renew', 'reissue', 'change'])
const SHIPPED = new Set(['shipped', 'delivered', 'activated', 'completed'])

/** Whether the application has a certificate of its own to download (issued and after). */
export const hasCertificate = (a: Pick<AppView, 'status' | 'business_type'>): boolean =>
  NEW_CERTIFICATE.has(a.business_type) && ISSUED.has(a.status)

/** Whether a USB key was shipped for it (new and reissue, once shipped). */
export const hasShipment = (a: Pick<AppView, 'status' | 'business_type'>): boolean =>
  (a.business_type === 'new' || a.business_type === 'reissue') && SHIPPED.has(a.status)

export type PaymentState = 'none' | 'open' | 'paid' | 'refunded' | 'failed'

/**
 * What a payment view (GET …/payment) says of the money: `paid` once a captured payment is
 * on record (or the latest order is paid), `refunded` when the money went back, `failed`
 * when the latest order expired or was closed unpaid, `open` while it waits, `none` without
 * an order.
 */
export function paymentState(v: PaymentView): PaymentState {
  const captured = v.payments.filter((p) => p.disposition === 'captured')
  if (captured.length > 0) {
    const refunded = (id: number): boolean => v.refunds.some((r) => r.payment_id === id && r.status !== 'failed')
    return captured.every((p) => refunded(p.id)) ? 'refunded' : 'paid'
  }
  if (!v.order) return 'none'
  if (v.order.status === 'paid') return 'paid'
  if (v.order.status === 'expired' || v.order.status === 'closed') return 'failed'
  return 'open'
}

/** Where the gateway may send the payer: an http(s) URL, nothing else (no javascript:). */
export function safePayUrl(u: string | null): string | null {
  if (!u) return null
  try {
    const url = new URL(u)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null
  } catch {
    return null
  }
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/
export const SIGNATURE_MAX_BYTES = 2048  // CH_VERIFY_SIGNATURE_MAX_BYTES

/**
 * A signature file or pasted text as the API's standard base64 (with padding), or an error
 * code: a client tool writes either the raw signature (binary, e.g. `openssl dgst -sign`) or
 * its base64 text (maybe wrapped in lines, maybe base64url). Text that is all base64
 * characters is taken as base64; anything else as the raw bytes.
 */
export function signatureBase64(bytes: Uint8Array): { ok: true; value: string } | { ok: false; reason: 'empty' | 'too-large' } {
  if (bytes.length === 0) return { ok: false, reason: 'empty' }
  let text = ''
  let ascii = true
  for (const b of bytes) {
    if (b > 0x7e || (b < 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)) { ascii = false; break }
    text += String.fromCharCode(b)
  }
  if (ascii) {
    let t = text.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/')
    if (t.length > 0 && !t.includes('=') && t.length % 4 !== 0) t += '='.repeat(4 - (t.length % 4))
    if (t.length % 4 === 0 && B64.test(t)) {
      if ((t.length / 4) * 3 > SIGNATURE_MAX_BYTES + 2) return { ok: false, reason: 'too-large' }
      return { ok: true, value: t }
    }
    if (t.length === 0) return { ok: false, reason: 'empty' }
  }
  if (bytes.length > SIGNATURE_MAX_BYTES) return { ok: false, reason: 'too-large' }
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return { ok: true, value: btoa(bin) }
}

/** How a client tool signs a challenge, per algorithm (shown with the challenge). */
export function signCommand(algorithm: string): string {
  const sm2 = algorithm === 'sm2-sm3'
  return [
    "printf '%s' '<待签名内容>' > challenge.txt",
    sm2
      ? 'openssl dgst -sm3 -sign 原证书私钥.pem -sigopt distid:1234567812345678 -out signature.bin challenge.txt'
      : 'openssl dgst -sha256 -sign 原证书私钥.pem -out signature.bin challenge.txt',
  ].join('\n')
}

export const ALGORITHM_NAMES: Record<string, string> = {
  'rsa-pkcs1-sha256': 'RSA（PKCS#1 v1.5，SHA-256）',
  'ecdsa-p256-sha256': 'ECDSA P-256（SHA-256）',
  'sm2-sm3': 'SM2（SM3，标识 1234567812345678）',
}

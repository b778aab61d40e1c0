// The shapes the after-approval pages read (openapi.yaml): only the members they use.

export interface QuoteLine { fee_code: string; name: string; quantity: number; amount_fen: number }
export interface AppView {
  id: number
  status: string
  business_type: string
  certificate_type: string
  unit_name: string | null
  holder_name: string | null
  handler_phone: string | null
  quote: { total_fen: number; lines?: QuoteLine[] } | null
  quote_locked: boolean
  paid_at: string | null
  verified_at: string | null
  possession_proven_at: string | null
  settled_at: string | null
  due_by: string | null
}

/** What ApplicationNextStep reads: any Application (GET /applications/{id}) will do. */
export type NextStepApp = Pick<AppView, 'id' | 'status' | 'business_type' | 'paid_at' | 'verified_at' | 'possession_proven_at'> & {
  quote: { total_fen: number } | null
}

export interface PaymentOrder {
  id: number; out_trade_no: string; amount_fen: number; status: string
  pay_url: string | null; expires_at: string; paid_at: string | null; provider: string
}
export interface Payment {
  id: number; transaction_id: string; method: string; amount_fen: number; disposition: string
  paid_at: string
}
export interface Refund { id: number; payment_id: number; amount_fen: number; status: string }
export interface PaymentView { order: PaymentOrder | null; payments: Payment[]; refunds: Refund[] }

export interface CodeSent { sent_to: string; expires_at: string }
export interface PossessionChallenge {
  challenge_id: number; to_sign: string; algorithm: string; expires_at: string
}

export interface Certificate {
  id: number; serial: string; status: string; certificate_type: string; unit_name: string | null
  holder_name: string | null; not_before: string; not_after: string
}
export interface Seal {
  id: number; name: string; seal_number: number; status: string; valid_end: string
  links: { self: string; der: string }
}
export interface Shipment {
  carrier: string; tracking_no: string; shipped_at: string; status: 'in_transit' | 'delivered'
  delivered_at: string | null; signed_by_name: string | null
}
export interface InvoiceLine { fee_code: string; name: string; quantity: number; gross_fen: number }
export interface Invoice {
  id: number; kind: 'blue' | 'red'; application_id: number; status: 'pending' | 'issued' | 'failed'
  number: string | null; original_number: string | null; issued_at: string | null
  buyer: { kind: string; name: string; code: string | null }
  seller: { name: string; code: string } | null
  total_capitals?: string
  lines: InvoiceLine[]
  total: { net_fen: number; tax_fen: number; gross_fen: number }
}

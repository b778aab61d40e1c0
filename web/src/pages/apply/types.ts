// The shapes the applicant's pages read and send (openapi.yaml: Application, Material,
// ApplicationHistory, Quote). Kept here, not in api.ts, so the shared file stays small.

export interface Material {
  kind: string; content_type: string; size_bytes: number; sha256: string; uploaded_at: string
}

export interface QuoteLine { fee_code: string; name: string; unit_fen: number; quantity: number; amount_fen: number }
export interface Quote {
  business_type: string; certificate_type: string; years: number | null; seals: number | null
  currency: string; schedule_version: number; lines: QuoteLine[]; total_fen: number
}

/** The members an applicant fills in (ApplicationCreate / ApplicationPatch). */
export const TEXT_FIELDS = [
  'unit_name', 'credit_code', 'holder_name', 'holder_id_number',
  'handler_name', 'handler_phone', 'handler_id_number',
  'delivery_recipient', 'delivery_phone', 'delivery_province', 'delivery_city',
  'delivery_district', 'delivery_address', 'delivery_postcode',
  'invoice_title', 'invoice_tax_id',
] as const
export type TextField = (typeof TEXT_FIELDS)[number]

export type Application = {
  id: number; status: string; version: number; channel: string
  business_type: string; certificate_type: string; certificate_id: number | null
  years: number | null; seals: number | null
  quote: Quote | null; quote_locked: boolean
  review_reason: string | null; return_materials: string[] | null
  materials: Material[]; required_materials: string[]
  created_at: string; updated_at: string; submitted_at: string | null; reviewed_at: string | null
  paid_at: string | null; verified_at: string | null; possession_proven_at: string | null
  [k: string]: unknown
} & { [F in TextField]: string | null }

export interface HistoryEntry {
  from: string | null; to: string; at: string; actor_kind: string; reason: string | null
}

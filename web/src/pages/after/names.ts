// zh-CN names of the codes the after-approval pages show.
export const INVOICE_STATUS: Record<string, string> = { pending: '开具中', issued: '已开具', failed: '开具失败' }
export const SHIPMENT_STATUS: Record<string, string> = { in_transit: '运输中', delivered: '已签收' }
export const BUYER_KIND: Record<string, string> = { unit: '单位', person: '个人' }

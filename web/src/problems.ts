// Server errors in Chinese. The API's problem+json (RFC 9457) gives an English `detail` for
// developers and curl users; the hall shows its users Chinese, chosen by the problem's `type`
// (urn:certhall:problem:<slug>) and, for a field error, by the field's own label. The English
// detail is kept for the support desk: pages put it in a title attribute, never as the message.
import { ApiError } from './api'

const BY_SLUG: Record<string, string> = {
  'bad-request': '请求有误，请检查后重试',
  'malformed-json': '请求格式有误，请刷新页面后重试',
  'duplicate-key': '请求格式有误，请刷新页面后重试',
  'too-deep': '请求格式有误，请刷新页面后重试',
  unauthorized: '登录已过期，请重新登录',
  forbidden: '您没有办理此项业务的权限',
  'not-found': '没有找到要办理的记录',
  'method-not-allowed': '不支持此操作',
  'not-implemented': '暂不支持此操作',
  'not-acceptable': '不支持此操作',
  'payload-too-large': '文件或内容过大',
  'unsupported-media-type': '文件类型不支持',
  'invalid-field': '填写的内容不正确',
  'missing-field': '此项必填',
  'unknown-field': '请求含有不支持的内容，请刷新页面后重试',
  conflict: '当前状态不能进行此操作，请刷新后查看',
  'precondition-failed': '记录已被更新，请刷新后再操作',
  'precondition-required': '请刷新后再操作',
  'not-eligible': '申请尚不能提交，请补齐所需内容',
  'too-many-requests': '操作过于频繁，请稍后再试',
  internal: '系统出现问题，请稍后再试或拨打客服电话',
  'service-unavailable': '服务暂时不可用，请稍后再试',
  'gateway-unavailable': '支付渠道暂时不可用，请稍后再试',
  'signer-unavailable': '制证服务暂时不可用，请稍后再试',
}

/** The problem's slug: "urn:certhall:problem:invalid-field" -> "invalid-field". */
export function problemSlug(e: ApiError): string {
  const t = e.problem.type ?? ''
  return t.startsWith('urn:certhall:problem:') ? t.slice('urn:certhall:problem:'.length) : ''
}

/**
 * What to tell the user about a failed call, in Chinese. A field error is prefixed with the
 * field's label when `labels` names it (labels maps the server's JSON pointer, e.g.
 * "/subject/unit_name", to the label the form shows). Anything not an ApiError (the network
 * failed) gets the network message.
 */
export function problemText(e: unknown, labels: Record<string, string> = {}): string {
  if (!(e instanceof ApiError)) return '网络连接失败，请检查网络后重试'
  const msg = BY_SLUG[problemSlug(e)] ??
    (e.problem.status >= 500 ? '系统出现问题，请稍后再试或拨打客服电话' : '操作未成功，请检查后重试')
  const field = e.problem.field ?? e.problem.parameter
  const label = field ? labels[field] : undefined
  return label ? `${label}：${msg}` : msg
}

// zh-CN names of the API's codes that the catalogue does not name itself.
export const STATUS_NAMES: Record<string, string> = {
  draft: '草稿', submitted: '待审核', returned: '已退回', rejected: '未通过', approved: '审核通过',
  awaiting_payment: '待缴费', awaiting_verification: '待验证', issuing: '制证中', issued: '已制证',
  shipped: '已寄出', delivered: '已签收', activated: '已开通', completed: '已完成', cancelled: '已撤销',
}
export const statusName = (s: string): string => STATUS_NAMES[s] ?? s

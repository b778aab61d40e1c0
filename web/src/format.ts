// Money and time as the hall shows them. Money arrives as integer fen and is shown in yuan
// with exactly two decimals, by string arithmetic: no floating point touches it. Times arrive
// as RFC 3339 and are shown in Asia/Shanghai whatever the browser's own zone.

/** 40000 -> "400.00", 5 -> "0.05", -12345 -> "-123.45". Throws on a non-integer. */
export function yuan(fen: number): string {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`not an integer amount of fen: ${fen}`)
  const neg = fen < 0
  const digits = String(neg ? -fen : fen).padStart(3, '0')
  return `${neg ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`
}

/** "¥400.00" */
export const yuanSign = (fen: number): string => `¥${yuan(fen)}`

const timeFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
})

/** "2026-11-25T01:19:58Z" -> "2026/11/25 09:19" (Beijing time). */
export function shanghaiTime(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : timeFormat.format(d)
}

const WEEKDAYS = ['', '周一', '周二', '周三', '周四', '周五', '周六', '周日']
/** ISO weekday numbers (1 = Monday) as 周一, 周二 … */
export const weekdayNames = (days: number[]): string => days.map((d) => WEEKDAYS[d] ?? String(d)).join('、')

// The hall's field checks, the same rules as the server's (src/base/validate.c), so that a
// field is refused as the user types and not only on submit. Each returns null when the value
// is acceptable, else a zh-CN reason to show at the field. The case tables are shared with the
// C unit tests: tests/unit/validate_cases.json (src/validators.test.ts).

const isDigits = (s: string, n: number): boolean => s.length === n && /^[0-9]+$/.test(s)

/** A mainland mobile number: 11 ASCII digits, 13x to 19x; no +86, spaces or dashes. */
export function checkPhone(s: string): string | null {
  return /^1[3-9][0-9]{9}$/.test(s) ? null : '请输入11位手机号码（13至19开头）'
}

/** The 6 digits of an SMS code. */
export function checkSmsCode(s: string): string | null {
  return isDigits(s, 6) ? null : '请输入短信中的6位数字验证码'
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Today in China (UTC+8) as YYYYMMDD, the server's clock for "not in the future". */
function chinaToday(now: Date): number {
  const t = new Date(now.getTime() + 8 * 3600 * 1000)
  return t.getUTCFullYear() * 10000 + (t.getUTCMonth() + 1) * 100 + t.getUTCDate()
}

function realBirthDate(s: string, now: Date): boolean {
  const y = Number(s.slice(0, 4))
  const m = Number(s.slice(4, 6))
  const d = Number(s.slice(6, 8))
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  if (d > (MONTH_DAYS[m - 1] ?? 0) + (m === 2 && leap ? 1 : 0)) return false
  return y * 10000 + m * 100 + d <= chinaToday(now)
}

/** A resident identity number (GB 11643): 17 digits and the check character (uppercase X). */
export function checkIdNumber(s: string, now: Date = new Date()): string | null {
  if (s.length !== 18) return '身份证号码应为18位'
  if (!/^[0-9]{17}[0-9X]$/.test(s)) return '身份证号码只能由数字和末位大写X组成'
  if (s[0] === '0') return '身份证号码的地区码无效'
  if (!realBirthDate(s.slice(6, 14), now)) return '身份证号码中的出生日期无效'
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(s[i]) * (ID_WEIGHTS[i] ?? 0)
  return '10X98765432'[sum % 11] === s[17] ? null : '身份证号码校验位不正确，请核对'
}

const CREDIT_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY'
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

/** A unified social credit code (GB 32100): 18 characters without I, O, S, V, Z. */
export function checkCreditCode(s: string): string | null {
  if (s.length !== 18) return '统一社会信用代码应为18位'
  for (const c of s) {
    if (!CREDIT_ALPHABET.includes(c)) return '统一社会信用代码只能使用数字和大写字母（不含I、O、S、V、Z）'
  }
  let sum = 0
  for (let i = 0; i < 17; i++) sum += CREDIT_ALPHABET.indexOf(s[i] ?? '') * (CREDIT_WEIGHTS[i] ?? 0)
  const c = 31 - (sum % 31)
  return CREDIT_ALPHABET[c === 31 ? 0 : c] === s[17] ? null : '统一社会信用代码校验位不正确，请核对'
}

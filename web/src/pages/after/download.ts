// Files the API gives only with the bearer token (certificates, seals, invoice PDFs): a plain
// link cannot carry it, so the page fetches the file, makes a blob: URL and lets the browser
// save it under a name of ours. The CSP allows connect-src 'self' for the fetch; a blob:
// download is not a navigation it restricts.
import { ApiError, session, type Problem } from '../../api'

/** GET /api/v1<path> as a Blob; ApiError (problem+json) when refused. */
export async function fetchFile(path: string): Promise<Blob> {
  const headers: Record<string, string> = { Accept: '*/*' }
  const token = session.token
  if (token) headers.Authorization = `Bearer ${token}`
  const res = await fetch(`/api/v1${path}`, { headers })
  if (!res.ok) {
    let problem: Problem = { status: res.status }
    try { problem = { ...(await res.json() as object), status: res.status } } catch { /* not JSON */ }
    if (res.status === 401 && token) session.clear()
    throw new ApiError(problem)
  }
  return res.blob()
}

/** Fetches path and has the browser save it as filename. */
export async function saveFile(path: string, filename: string): Promise<void> {
  const blob = await fetchFile(path)
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

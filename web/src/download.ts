// Files the API gives only with the bearer token (certificates, seals, invoice PDFs, finance
// CSVs): a plain link cannot carry it, so the page fetches the file (apiBlob), makes a blob:
// URL and lets the browser save it under a name of ours. The CSP allows connect-src 'self'
// for the fetch; a blob: download is not a navigation it restricts.
import { apiBlob } from './api'

/** Has the browser save blob as filename, through a temporary object URL. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/** Fetches /api/v1<path> with the token and has the browser save it as filename; ApiError
 * (problem+json) when refused. */
export async function saveFile(path: string, filename: string): Promise<void> {
  saveBlob(await apiBlob(path), filename)
}

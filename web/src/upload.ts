// Uploads a file with progress. fetch() reports no upload progress, so this is an
// XMLHttpRequest: the file is the raw body (PUT …/materials/{kind}, openapi.yaml), sent with
// its own Content-Type and the applicant's bearer token. Errors come back as ApiError, as
// from api(), so a page handles both alike.
import { ApiError, session, type Problem } from './api'

export interface Progress { loaded: number; total: number }

/**
 * PUTs file to /api/v1<path> and resolves with the parsed JSON answer; onProgress is
 * called as bytes go out. Rejects with ApiError (the problem, status 0 when the network
 * failed). A 401 drops the token, as api() does.
 */
export function uploadFile<T>(path: string, file: Blob, contentType: string,
  onProgress: (p: Progress) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', `/api/v1${path}`)
    xhr.setRequestHeader('Content-Type', contentType)
    xhr.setRequestHeader('Accept', 'application/json')
    const token = session.token
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size })
    xhr.onload = () => {
      let data: unknown = null
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null
      } catch {
        data = null
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ loaded: file.size, total: file.size })
        resolve(data as T)
        return
      }
      if (xhr.status === 401 && token) session.clear()
      reject(new ApiError({ status: xhr.status, ...(data as object) } as Problem))
    }
    xhr.onerror = () => reject(new ApiError({ status: 0, title: 'network error' }))
    xhr.send(file)
  })
}

// Checks on a chosen file before it is uploaded, with the catalogue's rules
// (catalog.material_rules): the accepted types, the size cap, and PNG only for the seal
// impression (the server's rule, PUT …/materials/{kind}). Pure, for Vitest.

export interface MaterialRules { accepted_types: string[]; max_file_bytes: number }

/** "1.5 MB", "12 KB", "300 B": sizes as people read them (binary units). */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(Math.round((bytes * 10) / (1024 * 1024)) / 10).toFixed(1)} MB`
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`
  return `${bytes} B`
}

const TYPE_NAMES: Record<string, string> = {
  'application/pdf': 'PDF', 'image/jpeg': 'JPG', 'image/png': 'PNG',
}
export const typeName = (t: string): string => TYPE_NAMES[t] ?? t

/** Null when the file may be uploaded as kind, else why not, in Chinese. */
export function checkFile(kind: string, file: { type: string; size: number }, rules: MaterialRules): string | null {
  const accepted = kind === 'seal_impression' ? ['image/png'] : rules.accepted_types
  if (!accepted.includes(file.type)) {
    return `文件类型不支持，请上传${accepted.map(typeName).join('、')}文件`
  }
  if (file.size === 0) return '文件是空的，请重新选择'
  if (file.size > rules.max_file_bytes) return `文件不能超过${sizeText(rules.max_file_bytes)}`
  return null
}

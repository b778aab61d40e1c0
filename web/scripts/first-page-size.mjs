// The first page's JavaScript and CSS, compressed (issue 15's budget: < 200 KiB): the
// files index.html itself loads from a build directory (default dist/; the stack's is
// ../build/web), gzip -9 and brotli. Other pages' chunks load later and are not counted.
// nginx compresses on the fly at gzip level 1: tests/e2e/test_web_hall.py measures that.
// Usage: node scripts/first-page-size.mjs [BUILD_DIR]
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { brotliCompressSync, gzipSync } from 'node:zlib'

const dir = process.argv[2] ?? 'dist'
const html = readFileSync(path.join(dir, 'index.html'), 'utf8')
const files = [...new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]))]
let raw = 0, gz = 0, br = 0
for (const f of files) {
  const b = readFileSync(path.join(dir, f))
  const g = gzipSync(b, { level: 9 }).length
  const r = brotliCompressSync(b).length
  raw += b.length; gz += g; br += r
  console.log(`${f}  ${b.length} B, gzip ${g} B, brotli ${r} B`)
}
const kib = (n) => (n / 1024).toFixed(1)
console.log(`first page JS+CSS: ${files.length} files, ${kib(raw)} KiB raw, ${kib(gz)} KiB gzip -9, ${kib(br)} KiB brotli (budget 200 KiB)`)
process.exitCode = gz < 200 * 1024 ? 0 : 1

// The web hall's build. `npm run build` writes dist/ (nginx serves it at /, next to /api/v1/,
// on the same origin: nginx/certhall.conf.in). Assets get content hashes in their names
// (dist/assets/*-<hash>.js|css), so nginx caches them for a year and index.html not at all.
// `npm run dev` serves on 127.0.0.1:5173 and passes /api/ to the stack in CERTHALL_URL
// (`. var/env`), so the page and the API share an origin in development too.
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or data: URLs: the Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2020',
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: { '/api/': process.env.CERTHALL_URL ?? 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})

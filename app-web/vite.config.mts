// Vite builds the clinician app (two pages: the SMART launch page and the app itself) into dist/app, served by
// the server at /app (server/web-app.ts). Everything is bundled: no CDN, no inline script or style (the pages' CSP).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/app/',
  logLevel: 'warn',
  build: {
    outDir: resolve(here, '../dist/app'),
    emptyOutDir: true,
    target: 'es2022',
    // the pages' CSP has no 'unsafe-inline': never inline small assets or the module preload helper
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      onwarn(warning, warn) {
        // fhirclient's isomorphic-webcrypto shim mixes module syntaxes; it runs fine in the browser
        if (warning.code === 'COMMONJS_VARIABLE_IN_ESM') return;
        warn(warning);
      },
      input: { index: resolve(here, 'index.html'), launch: resolve(here, 'launch.html') },
    },
  },
});

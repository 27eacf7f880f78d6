import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The admin console: built into dist/console, served by the app at its root URL. */
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: resolve(import.meta.dirname, '..', 'dist', 'console'),
    emptyOutDir: true,
    // One deployment, no CDN: everything the page needs is in these files.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2_000,
    sourcemap: false,
  },
  logLevel: 'warn',
});

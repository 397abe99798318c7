// Builds the NAS UI's page (ui/src, TypeScript) into ui/dist: one index.html, one script and one stylesheet with
// relative paths, so that `nasgraph ui` serves it and `nasgraph report` can inline it into a single HTML file.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    cssCodeSplit: false,
    assetsInlineLimit: 100_000_000,
    chunkSizeWarningLimit: 4096,
    modulePreload: false,
    rollupOptions: { output: { inlineDynamicImports: true } },
  },
});

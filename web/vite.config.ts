// Clove's admin UI. `npm run build` writes dist/ (or CLOVE_WEB_OUT), which the CMake build embeds
// into the clove binary. `npm run dev` serves the UI with hot reload and forwards the API to a
// running Clove (CLOVE_URL, default http://127.0.0.1:5201).
import { defineConfig } from 'vite';
import tailwindcss from '@tailwindcss/vite';
import { fileURLToPath } from 'node:url';

const clove = process.env.CLOVE_URL ?? 'http://127.0.0.1:5201';

export default defineConfig({
  plugins: [tailwindcss()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  // TSX through esbuild's automatic JSX runtime: no React plugin needed (no fast refresh in dev).
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: process.env.CLOVE_WEB_OUT ?? 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    reportCompressedSize: false,
    rollupOptions: {
      onwarn(warning, warn) {
        // Radix marks its modules "use client" for server-component bundlers; meaningless here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: { '/admin/api': clove, '/v1': clove, '/metrics': clove },
  },
});

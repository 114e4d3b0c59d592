/// <reference types="vitest/config" />
// Builds the console into dist/ (hashed files under dist/assets/, the service worker at dist/sw.js), serves it in
// development with the API proxied to a running platform, and runs the unit tests (Vitest, jsdom).

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

/** The platform the dev server and `vite preview` forward API calls to. */
const platform = process.env.SWITCHBOARD_URL ?? "http://127.0.0.1:8080";

/** The Content-Security-Policy the gateway sends with the console; `vite preview` sends it too, so e2e runs catch
 *  anything it would block. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; " +
  "object-src 'none'";

/** API paths on the gateway's port: REST, gRPC-Web services, OpenAPI, JWKS. `/oauth/callback` is a console page. */
const proxy = Object.fromEntries(
  ["/v1", "/switchboard.", "/grpc.", "/openapi.json", "/.well-known"].map((path) => [
    path,
    { target: platform, changeOrigin: false },
  ]),
);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Emits src/sw/sw.ts as /sw.js (a classic script: no imports left) with the build's shell files and a version
 * derived from them in place of `__SHELL__`.
 */
function serviceWorker(): Plugin {
  return {
    name: "service-worker",
    apply: "build",
    buildStart() {
      this.emitFile({ type: "chunk", id: "src/sw/sw.ts", fileName: "sw.js" });
    },
    generateBundle(_options, bundle) {
      const built = Object.keys(bundle).filter(
        (f) => f !== "sw.js" && f !== "index.html" && !f.endsWith(".map") && !f.startsWith(".vite/"),
      );
      const publicFiles = filesUnder("public")
        .map((f) => relative("public", f).split("\\").join("/"))
        .filter((f) => f !== "robots.txt");
      const files = [...built, ...publicFiles].map((f) => `/${f}`).sort();
      const version = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 12);
      const sw = bundle["sw.js"];
      if (!sw || sw.type !== "chunk") throw new Error("service-worker: sw.js was not built");
      if (/^\s*(import|export)\b/m.test(sw.code)) throw new Error("service-worker: sw.js must not import or export");
      if (!sw.code.includes("__SHELL__")) throw new Error("service-worker: __SHELL__ placeholder not found");
      sw.code = sw.code.replaceAll("__SHELL__", JSON.stringify({ version, files }));
    },
  };
}

/**
 * Writes `<file>.gz` and `<file>.br` beside every compressible file of the build, for a server that serves
 * precompressed files (tower-http's `ServeDir::precompressed_gzip().precompressed_br()`).
 */
function precompress(): Plugin {
  return {
    name: "precompress",
    apply: "build",
    closeBundle() {
      for (const file of filesUnder("dist")) {
        if (!/\.(js|css|html|svg|webmanifest)$/.test(file)) continue;
        const bytes = readFileSync(file);
        if (bytes.length < 1024) continue;
        writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
        writeFileSync(`${file}.br`, brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), serviceWorker(), precompress()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // dist/.vite/manifest.json: the chunk graph scripts/size.mjs measures the first load from.
    manifest: true,
    // Inline nothing as data: URLs; every asset is a file under /assets/ (and CSP allows data: for images only).
    assetsInlineLimit: 0,
  },
  server: { proxy },
  preview: { proxy, headers: { "Content-Security-Policy": CSP } },
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});

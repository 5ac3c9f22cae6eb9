#!/usr/bin/env node
// Builds a Junction connector written in TypeScript into a WebAssembly component:
//
//   node kits/typescript/build.mjs CONNECTOR_DIR [-o OUT.wasm]
//
// 1. generate: TypeScript declarations of the WIT contract (jco guest-types) and of the
//    canonical documents (wit/schemas/*.v1.json), into kits/typescript/generated/;
// 2. type-check the connector with tsc (a document of the wrong shape fails here);
// 3. bundle CONNECTOR_DIR/src/index.ts with the kit into one ES module (esbuild);
// 4. componentize it against world `junction:connector/connector` (componentize-js).
//
// The output (default: target/connectors/NAME.wasm at the repository root, NAME from the
// connector's package.json) is skipped when a hash of every input matches the last build's,
// so a test run builds each connector once. Exit code 1 with the tool's message on failure.

import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { schemasToTypeScript } from "./schemas.mjs";

const kitDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(kitDir, "..", "..");
const witDir = path.join(repoRoot, "wit");
const bin = (name) => path.join(kitDir, "node_modules", ".bin", name);

function fail(message) {
  console.error(`junction-ts-build: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { dir: undefined, out: undefined, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o" || a === "--out") args.out = argv[++i];
    else if (a === "--force") args.force = true;
    else if (a === "-h" || a === "--help") {
      console.log("usage: node kits/typescript/build.mjs CONNECTOR_DIR [-o OUT.wasm] [--force]");
      process.exit(0);
    } else if (!args.dir) args.dir = a;
    else fail(`unexpected argument \`${a}\``);
  }
  if (!args.dir) fail("which connector? usage: build.mjs CONNECTOR_DIR [-o OUT.wasm]");
  return args;
}

function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { stdio: ["ignore", "inherit", "inherit"], ...options });
  if (r.error) fail(`cannot run ${path.basename(cmd)}: ${r.error.message}`);
  if (r.status !== 0) fail(`${path.basename(cmd)} failed (exit ${r.status}); see above`);
}

/** Every file under `dir` (sorted), skipping folders that are outputs or dependencies. */
function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (["node_modules", "generated", "dist", ".build"].includes(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

function inputsHash(connectorDir) {
  const h = createHash("sha256");
  for (const f of [...files(connectorDir), ...files(path.join(kitDir, "src")), ...files(witDir),
    path.join(kitDir, "build.mjs"), path.join(kitDir, "schemas.mjs"), path.join(kitDir, "package-lock.json")]) {
    h.update(path.relative(repoRoot, f));
    h.update("\0");
    h.update(fs.readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}

/** Writes the declarations of the WIT world and the canonical documents. */
export function generate() {
  const gen = path.join(kitDir, "generated");
  fs.mkdirSync(gen, { recursive: true });
  const schemaDir = path.join(witDir, "schemas");
  const schemas = fs.readdirSync(schemaDir).filter((f) => f.endsWith(".v1.json")).sort()
    .map((f) => ({ object: f.replace(/\.v1\.json$/, ""), schema: JSON.parse(fs.readFileSync(path.join(schemaDir, f), "utf8")) }));
  fs.writeFileSync(path.join(gen, "schemas.ts"), schemasToTypeScript(schemas));
  // guest-types runs inside WASI with the working directory as its only preopen: relative paths.
  run(bin("jco"), ["guest-types", path.relative(kitDir, witDir), "--world-name", "connector", "--all-features",
    "-q", "-o", "generated/wit"], { cwd: kitDir });
}

/**
 * Builds share kits/typescript/generated/: one at a time (a test runner may start several
 * processes). A lock folder holds the owner's pid; a lock whose owner is gone is taken over.
 */
function lock() {
  const dir = path.join(kitDir, ".build-lock");
  const deadline = Date.now() + 15 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "pid"), String(process.pid));
      const release = () => fs.rmSync(dir, { recursive: true, force: true });
      process.on("exit", release);
      return;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(dir, "pid"), "utf8"));
      } catch {}
      let alive = false;
      if (Number.isInteger(owner) && owner > 0) {
        try {
          process.kill(owner, 0);
          alive = true;
        } catch {}
      }
      if (!alive && Number.isInteger(owner)) fs.rmSync(dir, { recursive: true, force: true });
      if (Date.now() > deadline) fail(`${dir} has been held for 15 minutes; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const connectorDir = path.resolve(args.dir);
  const pkgPath = path.join(connectorDir, "package.json");
  if (!fs.existsSync(pkgPath)) fail(`${connectorDir} has no package.json (a TypeScript connector needs one, with its name)`);
  const pkg = JSON.parse(fs.readFileSync(pkgPath, "utf8"));
  const name = String(pkg.name ?? "").replace(/^@[^/]+\//, "");
  if (!/^[a-z][a-z0-9-]*$/.test(name)) fail(`package.json name \`${pkg.name}\` is not a connector name (lower case letters, digits, dashes)`);
  const entry = path.join(connectorDir, "src", "index.ts");
  if (!fs.existsSync(entry)) fail(`${entry} is missing: a connector's entry point is src/index.ts`);
  if (!fs.existsSync(bin("componentize-js"))) {
    fail(`the kit's tools are not installed: run \`npm ci\` in ${path.relative(process.cwd(), kitDir) || "."}`);
  }
  const out = path.resolve(args.out ?? path.join(repoRoot, "target", "connectors", `${name}.wasm`));
  lock();
  const hash = inputsHash(connectorDir);
  const stamp = `${out}.inputs`;
  if (!args.force && fs.existsSync(out) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === hash) {
    console.error(`junction-ts-build: ${path.relative(process.cwd(), out)} is up to date`);
    return;
  }
  const started = Date.now();
  generate();

  // Type-check: the connector's own tsconfig (extending the kit's) when it has one.
  const tsconfig = path.join(connectorDir, "tsconfig.json");
  if (!fs.existsSync(tsconfig)) fail(`${tsconfig} is missing (see kits/typescript/README.md)`);
  run(bin("tsc"), ["-p", tsconfig]);

  const work = path.join(path.dirname(out), `.${name}.build`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const bundle = path.join(work, "connector.js");
  run(bin("esbuild"), [entry, "--bundle", "--format=esm", "--platform=neutral", "--target=es2022",
    `--outfile=${bundle}`, "--external:junction:*", "--external:wasi:*",
    `--alias:@junction/connector-kit=${path.join(kitDir, "src", "index.ts")}`, "--log-level=warning"]);
  // componentize-js also reads the WIT inside WASI, relative to its working directory.
  fs.cpSync(witDir, path.join(work, "wit"), { recursive: true });
  const tmp = `${out}.tmp`;
  run(bin("componentize-js"), ["--wit", "wit", "--world-name", "connector", "-o", tmp, "connector.js"], { cwd: work });
  fs.renameSync(tmp, out);
  fs.writeFileSync(stamp, hash);
  fs.rmSync(work, { recursive: true, force: true });
  const size = (fs.statSync(out).size / (1 << 20)).toFixed(1);
  console.error(`junction-ts-build: built ${path.relative(process.cwd(), out)} (${size} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

#!/usr/bin/env node
// Installs the solc launcher where py-solc-x looks for compilers:
//   $SOLCX_BINARY_PATH (or ~/.solcx)/solc-v<version>       a small executable shell script
//   $SOLCX_BINARY_PATH (or ~/.solcx)/.nmrstake-solc-v<version>/  the launcher and its npm modules
// The folder is self-contained (copied from this project's node_modules), so the installed
// compiler keeps working when the clone that installed it moves or is deleted.
// Idempotent: when the stamp matches, it does nothing and says so.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');

const root = path.resolve(__dirname, '..', '..');
const solcPkg = require(path.join(root, 'node_modules', 'solc', 'package.json'));
const version = solcPkg.version;
const dest = process.env.SOLCX_BINARY_PATH || path.join(os.homedir(), '.solcx');
const libDir = path.join(dest, `.nmrstake-solc-v${version}`);
const binary = path.join(dest, `solc-v${version}`);
const launcher = path.join(__dirname, 'solc.js');

// Every package that `solc` needs at run time, found the way node would find it.
function closure(name, fromDir, seen) {
  const pkgJson = require.resolve(`${name}/package.json`, { paths: [fromDir] });
  const dir = path.dirname(pkgJson);
  if (seen.has(dir)) return;
  seen.set(dir, name);
  const deps = Object.keys(require(pkgJson).dependencies || {});
  for (const d of deps) closure(d, dir, seen);
}

const packages = new Map();
closure('solc', root, packages);

const hash = crypto.createHash('sha256');
hash.update(fs.readFileSync(launcher));
hash.update(process.execPath);
for (const [dir, name] of [...packages].sort()) hash.update(`${name}@${require(path.join(dir, 'package.json')).version}`);
const stamp = hash.digest('hex');
const stampFile = path.join(libDir, 'STAMP');

if (fs.existsSync(binary) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) {
  console.log(`solc ${version} launcher already installed at ${binary}`);
  process.exit(0);
}

// Build beside the destination, then swap in with renames: never a half-installed compiler.
fs.mkdirSync(dest, { recursive: true });
const tmp = fs.mkdtempSync(path.join(dest, '.nmrstake-tmp-'));
const modules = path.join(tmp, 'node_modules');
for (const [dir, name] of packages) {
  // Each package goes to node_modules/<name>; nested copies keep their relative place.
  const rel = path.relative(path.join(root, 'node_modules'), dir);
  fs.cpSync(dir, path.join(modules, rel), { recursive: true, dereference: true,
    filter: (src) => !src.endsWith('.md') });
}
fs.copyFileSync(launcher, path.join(tmp, 'solc.js'));
fs.writeFileSync(path.join(tmp, 'STAMP'), stamp);
fs.rmSync(libDir, { recursive: true, force: true });
fs.renameSync(tmp, libDir);

const script = `#!/bin/sh\n# solc ${version} (npm WASM build) behind a native-CLI launcher, installed by nmrstake's make install.\nexec "${process.execPath}" "${path.join(libDir, 'solc.js')}" "$@"\n`;
const tmpBin = `${binary}.tmp-${process.pid}`;
fs.writeFileSync(tmpBin, script, { mode: 0o755 });
fs.renameSync(tmpBin, binary);
console.log(`installed solc ${version} launcher at ${binary}`);

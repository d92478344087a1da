#!/usr/bin/env node
// A native-`solc`-compatible command line over the npm `solc` module (WASM build).
//
// py-solc-x and ape-solidity drive a native solc binary; the npm package's own `solcjs`
// prints a non-JSON banner and rejects `--allow-paths`, so this launcher implements the
// subset those tools use, offline:
//   solc --version
//   solc --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths A,B]
//   solc --combined-json KEYS [--base-path DIR] [--include-path DIR]... [--allow-paths A,B]
//        [--optimize] [--optimize-runs N] [--evm-version V] [REMAP=PATH]... FILE...
// Anything else fails with exit code 2 and a message naming the option.
'use strict';

const fs = require('fs');
const path = require('path');

function loadSolc() {
  // Installed layout: <dir>/node_modules/solc beside this file; in the repo: ../../node_modules.
  const candidates = [
    path.join(__dirname, 'node_modules', 'solc'),
    path.join(__dirname, '..', '..', 'node_modules', 'solc'),
  ];
  for (const c of candidates) {
    if (fs.existsSync(path.join(c, 'package.json'))) return require(c);
  }
  fail('the npm package `solc` was not found beside the launcher; run `make install`');
}

function fail(msg, code = 2) {
  process.stderr.write(`solc: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { mode: null, basePath: null, includePaths: [], allowPaths: [], files: [],
    remappings: [], combinedKeys: null, optimize: false, optimizeRuns: 200, evmVersion: null };
  const takesValue = new Set(['--base-path', '--include-path', '--allow-paths', '--combined-json',
    '--optimize-runs', '--evm-version']);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    if (arg.startsWith('--') && arg.includes('=')) {
      [arg, value] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    }
    if (takesValue.has(arg) && value === null) {
      if (i + 1 >= argv.length) fail(`option ${arg} needs a value`);
      value = argv[++i];
    }
    switch (arg) {
      case '--version': opts.mode = opts.mode || 'version'; break;
      case '--standard-json': opts.mode = 'standard-json'; break;
      case '--combined-json': opts.mode = 'combined-json'; opts.combinedKeys = value.split(','); break;
      case '--base-path': opts.basePath = path.resolve(value); break;
      case '--include-path': opts.includePaths.push(path.resolve(value)); break;
      case '--allow-paths':
        for (const p of value.split(',')) if (p) opts.allowPaths.push(path.resolve(p));
        break;
      case '--optimize': opts.optimize = true; break;
      case '--optimize-runs': opts.optimizeRuns = parseInt(value, 10); break;
      case '--evm-version': opts.evmVersion = value; break;
      default:
        if (arg.startsWith('-')) fail(`unsupported option ${arg} (this launcher serves --version, --standard-json and --combined-json)`);
        if (arg.includes('=') && !fs.existsSync(arg)) opts.remappings.push(arg);
        else opts.files.push(arg);
    }
  }
  return opts;
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

// Resolves an import the way native solc's file reader does: the source unit name is
// looked up under the base path, then under each include path; absolute names as given.
// A file outside every allowed directory is refused.
function makeReader(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths];
  const allowed = [...roots, ...opts.allowPaths];
  return function findImports(name) {
    const tries = path.isAbsolute(name) ? [name] : roots.map((r) => path.join(r, name));
    for (const candidate of tries) {
      const real = path.resolve(candidate);
      if (!fs.existsSync(real) || !fs.statSync(real).isFile()) continue;
      if (!allowed.some((dir) => isInside(real, dir))) {
        return { error: `File outside of allowed directories: ${real}` };
      }
      return { contents: fs.readFileSync(real, 'utf8') };
    }
    return { error: `File not found. Searched the following locations: ${roots.map((r) => JSON.stringify(r)).join(', ')}` };
  };
}

function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (e) {
    fail(`could not read standard input: ${e.message}`);
  }
}

function standardJson(solc, opts) {
  const input = readStdin();
  try {
    JSON.parse(input);
  } catch (e) {
    // Native solc answers malformed input with a JSON error object, exit 0.
    process.stdout.write(JSON.stringify({ errors: [{ component: 'general', formattedMessage: `Error: Invalid JSON supplied: ${e.message}`, message: `Invalid JSON supplied: ${e.message}`, severity: 'error', type: 'JSONError' }] }) + '\n');
    return;
  }
  const out = solc.compile(input, { import: makeReader(opts) });
  process.stdout.write(out + '\n');
}

const COMBINED_SELECTORS = {
  abi: ['abi'], bin: ['evm.bytecode.object'], 'bin-runtime': ['evm.deployedBytecode.object'],
  srcmap: ['evm.bytecode.sourceMap'], 'srcmap-runtime': ['evm.deployedBytecode.sourceMap'],
  userdoc: ['userdoc'], devdoc: ['devdoc'], hashes: ['evm.methodIdentifiers'],
  metadata: ['metadata'], 'storage-layout': ['storageLayout'], opcodes: ['evm.bytecode.opcodes'],
  asm: ['evm.legacyAssembly'],
};

function combinedJson(solc, opts) {
  if (opts.files.length === 0) fail('--combined-json needs at least one source file');
  const base = opts.basePath || process.cwd();
  const sources = {};
  for (const f of opts.files) {
    const abs = path.resolve(f);
    if (!fs.existsSync(abs)) fail(`source file not found: ${f}`);
    const unit = isInside(abs, base) ? path.relative(base, abs).split(path.sep).join('/') : abs;
    sources[unit] = { content: fs.readFileSync(abs, 'utf8') };
  }
  const keys = opts.combinedKeys.filter((k) => k !== 'compact-format');
  for (const k of keys) {
    if (k !== 'ast' && !COMBINED_SELECTORS[k]) fail(`unsupported --combined-json key: ${k}`);
  }
  const selection = [].concat(...keys.filter((k) => k !== 'ast').map((k) => COMBINED_SELECTORS[k]));
  const settings = {
    optimizer: { enabled: opts.optimize, runs: opts.optimizeRuns },
    remappings: opts.remappings,
    outputSelection: { '*': { '*': selection, '': keys.includes('ast') ? ['ast'] : [] } },
  };
  if (opts.evmVersion) settings.evmVersion = opts.evmVersion;
  const result = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }),
    { import: makeReader({ ...opts, allowPaths: [...opts.allowPaths, base] }) }));
  let failed = false;
  for (const e of result.errors || []) {
    process.stderr.write((e.formattedMessage || e.message) + '\n');
    if (e.severity === 'error') failed = true;
  }
  if (failed) process.exit(1);
  const get = (obj, dotted) => dotted.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);
  const contracts = {};
  for (const [unit, byName] of Object.entries(result.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const entry = {};
      for (const k of keys) {
        if (k === 'ast') continue;
        const v = get(c, COMBINED_SELECTORS[k][0]);
        entry[k] = (k === 'metadata' || typeof v === 'string') ? v : v;
      }
      contracts[`${unit}:${name}`] = entry;
    }
  }
  const out = { contracts, version: solc.version() };
  if (keys.includes('ast')) {
    out.sourceList = Object.keys(result.sources || {});
    out.sources = {};
    for (const [unit, s] of Object.entries(result.sources || {})) out.sources[unit] = { AST: s.ast, id: s.id };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.mode === null) fail('nothing to do: use --version, --standard-json or --combined-json');
  const solc = loadSolc();
  if (opts.mode === 'version') {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  } else if (opts.mode === 'standard-json') {
    standardJson(solc, opts);
  } else {
    combinedJson(solc, opts);
  }
}

main();

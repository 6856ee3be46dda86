#!/usr/bin/env node
// The tarball check, as a user who installs ringcast into a new project sees it:
// pack, install the tarball into a fresh directory outside the repository,
// run a publisher and subscribers (import and require) from there, type-check
// a consumer, lint the package with publint and arethetypeswrong, and check
// the fallback: with its install script allowed, it compiles what it ships.
// Ends with "test:pack: N passed, N failed"; exit code 1 if any check failed.
//
// The pack runs in a staged copy of the working tree (tracked and untracked,
// not ignored files) that shares node_modules: `npm pack` rebuilds the addon
// (prepack: prebuildify), and doing that in the checkout would pull
// build/Release away from anything running there. KEEP=1 keeps the
// directories for a look afterwards.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const consumerSources = join(repo, 'test', 'pack-consumer');
const bin = (name) => join(repo, 'node_modules', '.bin', name);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Under `npm run`/`npm test`, npm describes the repository's package in the
// environment (npm_config_local_prefix among them); a nested npm would act on
// the repository instead of the directory it runs in.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|INIT_CWD$)/.test(key)),
);

/** What the tarball may contain: each path must match one of these. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^binding\.gyp$/,
  /^dist\/[\w./-]+\.(js|d\.ts)$/,
  /^prebuilds\/[a-z0-9]+-[a-z0-9+]+\/ringcast\.napi\.(glibc|musl)\.node$/,
  /^native\/(include|src|binding)\/([\w-]+\/)*[\w.-]+\.(h|c|cc)$/,
  /^kmod\/ringcast_ivshmem\.h$/, // the guest driver's user-space interface, included by native/include/rc_ivshmem.h
  /^kmod\/ringcast_xengrant\.h$/, // the Xen grant device's user-space interface, included by native/src/rc_xen.c
];
/** What it must contain. */
const REQUIRED = [
  'package.json',
  'README.md',
  'LICENSE',
  'binding.gyp',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/cli.js',
  'native/include/ringcast_layout.h',
  'native/binding/addon.cc',
  `prebuilds/${process.platform}-${process.arch}/ringcast.napi.glibc.node`,
];

let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    const detail = await body();
    passed++;
    console.log(`ok - ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failed++;
    console.log(`not ok - ${name}\n${String(error?.stack ?? error).replace(/^/gm, '    ')}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
function exec(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    // No step of a working package takes minutes; a hung one is killed and reported.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, killSignal: 'SIGKILL', ...options });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${out}${err}`.trimEnd()));
    });
  });
}

/** A node program in the consumer directory; resolves with its stdout's last JSON line. */
async function runNode(cwd, args) {
  const out = await exec(process.execPath, args, { cwd });
  const last = out.trim().split('\n').at(-1);
  return JSON.parse(last);
}

/** Build products and dependencies: never copied into the staging directory. */
const NOT_SOURCES = new Set(['.git', 'node_modules', 'build', 'dist', 'prebuilds']);

function stage() {
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-pack-'));
  let listed = null;
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // not a git checkout (an unpacked source archive): everything but build products
  }
  if (listed === null) {
    cpSync(repo, dir, { recursive: true, filter: (source) => !NOT_SOURCES.has(basename(source)) });
  } else {
    for (const file of listed.split('\0')) {
      if (!file || !existsSync(join(repo, file))) continue; // deleted in the working tree
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      copyFileSync(join(repo, file), join(dir, file));
    }
  }
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** A fresh project with the consumer programs, ringcast installed from the tarball (and @types/node). */
async function consumerProject(packageFields, env) {
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-consumer-'));
  consumers.push(dir);
  cpSync(consumerSources, dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'ringcast-consumer', private: true, version: '1.0.0', ...packageFields }, null, 2)}\n`);
  const typesNode = JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("@types/node/package.json").version)'], { cwd: repo, encoding: 'utf8' }));
  // --prefer-offline: the dependencies are in npm's cache from the checkout's install.
  await exec(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@types/node@${typesNode}`], { cwd: dir, env });
  return dir;
}

/** The addon file ringcast loads in `dir`, relative to it. */
async function loadedAddon(dir) {
  const loaded = await runNode(dir, [
    '--input-type=module',
    '-e',
    // load-addon is internal; the installed file is where a user would look when the addon does not load.
    "const { addonPath } = await import('./node_modules/ringcast/dist/load-addon.js'); console.log(JSON.stringify(addonPath()))",
  ]);
  return loaded.slice(dir.length + 1);
}

/** The consumer's publisher and the given subscriber programs on one bus; resolves with the subscribers' reports. */
async function runBus(dir, subscribers, messages) {
  const path = join(dir, 'bus.sock');
  const publisher = spawn(process.execPath, ['publisher.mjs', path, String(subscribers.length), String(messages)], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let publisherOut = '';
  publisher.stdout.setEncoding('utf8').on('data', (chunk) => (publisherOut += chunk));
  const publisherExit = new Promise((resolve) => publisher.on('close', resolve));
  while (!publisherOut.includes('listening')) {
    if (publisher.exitCode !== null) throw new Error(`publisher exited: ${publisherOut}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let results;
  try {
    results = await Promise.all(subscribers.map((program) => runNode(dir, [program, path])));
  } finally {
    if (publisher.exitCode === null) setTimeout(() => publisher.kill('SIGKILL'), 30_000).unref(); // it never hangs the check
  }
  assert((await publisherExit) === 0, `publisher exited with an error: ${publisherOut}`);
  for (const result of results) assert(result.received === messages && result.intact, `subscriber got ${JSON.stringify(result)}`);
  return results.map((r) => `${r.loader}: ${r.received} intact`).join(', ');
}

const staging = stage();
const consumers = [];
let consumer = '';
let tarball = '';
let files = [];
let ok = true;

try {
  await check('npm pack builds the prebuilt addon and the tarball', async () => {
    const out = await exec(npm, ['pack', '--json', '--pack-destination', staging], { cwd: staging, env: npmEnv });
    const [report] = JSON.parse(out.slice(out.indexOf('[')));
    tarball = join(staging, report.filename);
    files = report.files.map((f) => f.path).sort();
    return `${report.filename}, ${files.length} files, ${Math.round(report.size / 1024)} KiB`;
  });
  ok = tarball !== '';

  if (ok) {
    await check('the tarball contains only what it needs', () => {
      const stray = files.filter((f) => !ALLOWED.some((pattern) => pattern.test(f)));
      const missing = REQUIRED.filter((f) => !files.includes(f));
      assert(stray.length === 0, `files that do not belong: ${stray.join(', ')}`);
      assert(missing.length === 0, `missing: ${missing.join(', ')}`);
      return files.filter((f) => f.startsWith('prebuilds/')).join(', ');
    });

    await check('installs into a fresh directory without running its install script', async () => {
      consumer = await consumerProject({}, npmEnv);
      const installed = join(consumer, 'node_modules', 'ringcast');
      assert(!existsSync(join(installed, 'build')), 'an install script compiled the addon; the prebuilt one should have been enough');
      return `prebuilds: ${readdirSync(join(installed, 'prebuilds')).join(', ')}`;
    });

    await check('the addon loads from prebuilds/', async () => {
      const loaded = await loadedAddon(consumer);
      assert(loaded.startsWith('node_modules/ringcast/prebuilds/'), `loaded ${loaded}`);
      return loaded;
    });

    await check('a publisher and subscribers run from the installed package (import and require)', () =>
      runBus(consumer, ['subscriber.mjs', 'subscriber.cjs', 'subscriber.cjs'], 2000),
    );

    await check('the ringcast command runs from node_modules/.bin', async () => {
      const out = await exec(join(consumer, 'node_modules', '.bin', 'ringcast'), ['demo', '--subscribers', '2', '--messages', '5000'], { cwd: consumer });
      assert(out.includes('ok: every subscriber received every message'), out);
      return out.trim().split('\n').at(-1);
    });

    await check('types resolve for import (.mts) and require (.cts) with module NodeNext', async () => {
      await exec(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: consumer });
    });

    await check('publint', async () => {
      const out = await exec(bin('publint'), ['run', join(consumer, 'node_modules', 'ringcast'), '--pack', 'false', '--strict']);
      return out.trim().split('\n').at(-1);
    });

    await check('arethetypeswrong', async () => {
      // esm-only: ringcast is an ES module; CommonJS callers reach it through
      // require(esm) (Node 20.19+), which the check above type-checks.
      const out = await exec(bin('attw'), [tarball, '--profile', 'esm-only', '--no-definitely-typed', '--format', 'ascii', '--no-color']);
      return `${out.match(/🟢/g)?.length ?? 0} resolutions green, none failing under profile esm-only`;
    });

    await check('the fallback: its install script allowed and told to build from source, it compiles the shipped sources', async () => {
      const dir = await consumerProject({ allowScripts: { ringcast: true } }, { ...npmEnv, npm_config_build_from_source: 'true' });
      const loaded = await loadedAddon(dir);
      assert(loaded === 'node_modules/ringcast/build/Release/ringcast.node', `loaded ${loaded}`);
      return `${loaded}; ${await runBus(dir, ['subscriber.mjs'], 500)}`;
    });
  }
} finally {
  if (process.env.KEEP === '1') console.log(`kept ${[staging, ...consumers].join(' ')}`);
  else for (const dir of [staging, ...consumers]) rmSync(dir, { recursive: true, force: true });
}

console.log(`test:pack: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;

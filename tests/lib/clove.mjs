// Helpers to run the Clove binary in tests: write a temporary TOML config pointing at a fake
// upstream, spawn `clove --config FILE`, wait for its `listening on` line, collect its logs, and
// always stop what was started.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLIENT_KEY = 'ck-alice-123';
export const CLIENT_KEY_NAME = 'alice';
export const UPSTREAM_KEY = 'sk-upstream-secret';
export const LISTEN_RE = /listening on http:\/\/[^\s:]+:(\d+)/;
export const ACCESS_MARK = ' access {';
/** The one line a first start prints when it generated an admin key (docs/admin-api.md). */
export const ADMIN_KEY_RE = /admin key \(shown once, store it now\): (clv_admin_[A-Za-z0-9_-]+)/;
/** Env variables of the binary that tests never inherit from the caller's environment. */
export const CLOVE_ENV_VARS = [
  'HOST',
  'PORT',
  'CLOVE_CONFIG',
  'API_KEYS',
  'LOG_LEVEL',
  'ADMIN_API_KEYS',
  'DATA_DIR',
  'DATABASE_URL',
  'CLOVE_SECRET_KEY',
  'PROXY_URL', // seeds settings.outbound_proxy: a caller's proxy must not reroute the tests
];

/** Absolute path of the binary under test: $CLOVE_BIN (relative paths from the repo root) or build/release/clove. */
export function cloveBin() {
  const b = process.env.CLOVE_BIN || 'build/release/clove';
  return path.isAbsolute(b) ? b : path.resolve(REPO_ROOT, b);
}

export function cloveBinExists() {
  try {
    fs.accessSync(cloveBin(), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------- TOML ----------

function tomlKey(k) {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`bad TOML number ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object') {
    return `{ ${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`)
      .join(', ')} }`;
  }
  throw new Error(`cannot write ${typeof v} to TOML`);
}

function tomlTable(obj) {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}\n`)
    .join('');
}

/**
 * Serialises a config object. Top-level keys whose value is an array of objects become [[arrays
 * of tables]]; object values become [tables]; scalars go first.
 */
export function toToml(config) {
  let out = '';
  const scalars = {};
  const tables = [];
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      for (const item of v) tables.push(`[[${tomlKey(k)}]]\n${tomlTable(item)}`);
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      tables.push(`[${tomlKey(k)}]\n${tomlTable(v)}`);
    } else scalars[k] = v;
  }
  out += tomlTable(scalars);
  return out + tables.join('\n');
}

/** An upstream entry for a fake upstream (overrides merged in). */
export function fakeUpstreamEntry(fakeUrl, overrides = {}) {
  return {
    name: 'fake',
    kind: 'anthropic',
    base_url: fakeUrl,
    api_key: UPSTREAM_KEY,
    models: ['claude-*'],
    model_map: { 'claude-latest': 'claude-sonnet-4-5' },
    connect_timeout_ms: 5000,
    first_byte_timeout_ms: 600000,
    stream_idle_timeout_ms: 300000,
    ...overrides,
  };
}

/** The standard test config (see docs/interfaces-for-tests.md) pointing at fakeUrl. */
export function defaultConfig(fakeUrl, { server = {}, log = {}, upstream = {}, clientKeys } = {}) {
  return {
    server: {
      host: '127.0.0.1',
      port: 0,
      workers: 2,
      max_body_bytes: 33554432,
      max_header_bytes: 65536,
      header_timeout_ms: 10000,
      body_timeout_ms: 30000,
      idle_timeout_ms: 75000,
      drain_timeout_ms: 5000, // docs default is 30000; shorter so a stuck test cannot stall shutdown long
      ...server,
    },
    log: { level: 'info', ...log },
    upstream: [fakeUpstreamEntry(fakeUrl, upstream)],
    // clientKeys: null → no [[client_key]] at all
    client_key: clientKeys === null ? undefined : clientKeys ?? [{ name: CLIENT_KEY_NAME, key: CLIENT_KEY }],
  };
}

// ---------- process management ----------

const running = new Set();
const ownedDataDirs = new Set(); // temporary data dirs created here, removed at the latest on exit
process.on('exit', () => {
  for (const p of running) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const d of ownedDataDirs) removeDataDir(d);
});

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of CLOVE_ENV_VARS) delete env[k];
  // an explicit undefined in extra removes a variable too
  const out = { ...env, ...extra };
  for (const [k, v] of Object.entries(out)) if (v === undefined || v === null) delete out[k];
  return out;
}

const dataDirSupport = new Map();
/**
 * Whether the binary under test knows `--data-dir` (the database-backed build; older builds
 * refuse unknown flags). Asked once per binary via `--help`.
 */
export function supportsDataDir(env = {}) {
  const bin = cloveBin();
  const key = `${bin}\0${env.CLOVE_REAL_BIN ?? ''}`;
  if (!dataDirSupport.has(key)) {
    let ok = false;
    try {
      const r = spawnSync(bin, ['--help'], { env: cleanEnv(env), encoding: 'utf8', timeout: 10000 });
      ok = /--data-dir/.test(`${r.stdout}${r.stderr}`);
    } catch {
      ok = false;
    }
    dataDirSupport.set(key, ok);
  }
  return dataDirSupport.get(key);
}

/** A new empty temporary data directory (the caller removes it, e.g. with removeDataDir). */
export function makeDataDir(prefix = 'clove-data-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDataDir(dir) {
  if (!dir) return;
  ownedDataDirs.delete(dir);
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    /* ignore */
  }
}

/** The admin key a first start printed (stdout, else stderr), or null. */
export function adminKeyFrom(clove) {
  for (const lines of [clove.stdoutLines, clove.stderrLines]) {
    for (const line of lines) {
      const m = ADMIN_KEY_RE.exec(line);
      if (m) return m[1];
    }
  }
  return null;
}

/** All admin-key lines Clove printed so far (stdout and stderr). */
export function adminKeyLines(clove) {
  return [...clove.stdoutLines, ...clove.stderrLines].filter((l) => /admin key/i.test(l) && /clv_admin_/.test(l));
}

/** Waits (default 5 s) for the printed admin key; throws with Clove's output when none comes. */
export async function waitForAdminKey(clove, { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const k = adminKeyFrom(clove);
    if (k) return k;
    if (Date.now() > deadline) {
      throw new Error(
        `no "admin key (shown once, store it now): clv_admin_..." line within ${timeoutMs} ms\n--- stdout ---\n${clove.stdoutLines.join('\n')}\n--- stderr (tail) ---\n${clove.stderrLines.slice(-20).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function writeConfig(config) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-test-'));
  ownedDataDirs.add(dir); // removed on stop, at the latest on exit
  const file = path.join(dir, 'clove.toml');
  fs.writeFileSync(file, typeof config === 'string' ? config : toToml(config));
  return { dir, file };
}

/**
 * Starts Clove. opts: {config (object or TOML text) | fakeUrl (+ server/log/upstream/clientKeys for
 * defaultConfig), args: extra CLI args, env: extra env (e.g. DATABASE_URL, ADMIN_API_KEYS,
 * CLOVE_SECRET_KEY; an undefined value removes the variable), dataDir: data directory to use
 * (kept on stop; default: a fresh temporary one per start, removed on stop), t: node:test
 * context (stop on its end), startTimeoutMs}.
 * The binary inherits none of CLOVE_ENV_VARS from the test's environment, so ADMIN_API_KEYS is
 * unset unless opts.env sets it: a first start then prints a generated admin key (adminKeyFrom).
 * Returns {url, port, proc, configPath, dataDir, stderrLines, stdoutLines, accessLogs(),
 *          waitForAccessLog(), stderrText(), stop(signal), exited}.
 */
export async function startClove(opts = {}) {
  const bin = cloveBin();
  if (!cloveBinExists()) {
    throw new Error(`Clove binary not found or not executable at ${bin} (set CLOVE_BIN or build it)`);
  }
  const config = opts.config ?? defaultConfig(opts.fakeUrl, opts);
  const { dir, file } = writeConfig(config);
  const withDataDir = opts.dataDir !== undefined || supportsDataDir(opts.env ?? {});
  const ownDataDir = withDataDir && !opts.dataDir;
  const dataDir = withDataDir ? opts.dataDir || makeDataDir() : null;
  if (ownDataDir) ownedDataDirs.add(dataDir);
  const args = ['--config', file, ...(dataDir ? ['--data-dir', dataDir] : []), ...(opts.args ?? [])];
  const proc = spawn(bin, args, { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  const stderrLines = [];
  const stdoutLines = [];
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(proc);
      resolve(exitInfo);
    });
  });
  const lineWaiters = [];
  const collect = (stream, sink, echoTo) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        sink.push(line);
        if (process.env.CLOVE_TEST_ECHO_LOGS) echoTo.write(`[clove] ${line}\n`);
        for (const w of [...lineWaiters]) w(line);
      }
    });
    stream.on('end', () => {
      if (buf) sink.push(buf);
    });
  };
  collect(proc.stderr, stderrLines, process.stderr);
  collect(proc.stdout, stdoutLines, process.stderr);

  const startTimeoutMs = opts.startTimeoutMs ?? 15000;
  let port;
  try {
    port = await new Promise((resolve, reject) => {
      const check = (line) => {
        const m = LISTEN_RE.exec(line);
        if (m) {
          done();
          resolve(Number(m[1]));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Clove did not log "listening on" within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      const onExit = (code, signal) => {
        done();
        reject(new Error(`Clove exited before listening (code ${code}, signal ${signal})`));
      };
      const done = () => {
        clearTimeout(timer);
        proc.off('exit', onExit);
        const i = lineWaiters.indexOf(check);
        if (i >= 0) lineWaiters.splice(i, 1);
      };
      lineWaiters.push(check);
      proc.on('exit', onExit);
      for (const l of [...stderrLines, ...stdoutLines]) check(l);
    });
  } catch (err) {
    proc.kill('SIGKILL');
    await exited;
    err.message += `\n--- config ---\n${fs.readFileSync(file, 'utf8')}--- stderr ---\n${stderrLines.join('\n')}\n--- stdout ---\n${stdoutLines.join('\n')}`;
    removeDataDir(dir);
    if (ownDataDir) removeDataDir(dataDir);
    throw err;
  }

  const handle = {
    url: `http://127.0.0.1:${port}`,
    port,
    /** ADMIN_API_KEYS given in opts.env (null: a first start prints a generated admin key). */
    adminKeys: opts.env?.ADMIN_API_KEYS ?? null,
    proc,
    pid: proc.pid,
    configPath: file,
    dataDir,
    args,
    stderrLines,
    stdoutLines,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    stderrText() {
      return stderrLines.join('\n');
    },
    /** Parsed access-log objects, in order. */
    accessLogs() {
      const out = [];
      for (const line of [...stderrLines, ...stdoutLines]) {
        const i = line.indexOf(ACCESS_MARK);
        if (i < 0) continue;
        try {
          out.push(JSON.parse(line.slice(i + ACCESS_MARK.length - 1)));
        } catch {
          out.push({ unparsable: line });
        }
      }
      return out;
    },
    /** Waits for an access-log object matching pred (default: any new one after `after` count). */
    async waitForAccessLog(pred, { timeoutMs = 5000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = handle.accessLogs().find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) {
          throw new Error(
            `no matching access-log line within ${timeoutMs} ms; access lines:\n${handle
              .accessLogs()
              .map((x) => JSON.stringify(x))
              .join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Sends signal (default SIGTERM), waits up to waitMs, then SIGKILL. Resolves {code, signal}. */
    async stop(signal = 'SIGTERM', waitMs = 10000) {
      if (exitInfo) {
        removeDataDir(dir);
        if (ownDataDir) removeDataDir(dataDir);
        return exitInfo;
      }
      try {
        proc.kill(signal);
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          proc.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }, waitMs);
      const info = await exited;
      clearTimeout(t);
      removeDataDir(dir);
      if (ownDataDir) removeDataDir(dataDir);
      return info;
    },
  };
  if (opts.t) opts.t.after(() => handle.stop('SIGKILL', 2000));
  return handle;
}

/**
 * Runs Clove with a config that it is expected to refuse. Resolves {code, signal, stderr, listening}.
 */
export async function runCloveExpectingExit(config, { args = [], env = {}, timeoutMs = 10000, dataDir } = {}) {
  const { dir, file } = writeConfig(config);
  const withDataDir = dataDir !== undefined || supportsDataDir(env);
  const ownDataDir = withDataDir && !dataDir;
  const dd = withDataDir ? dataDir || makeDataDir() : null;
  if (ownDataDir) ownedDataDirs.add(dd);
  const proc = spawn(cloveBin(), ['--config', file, ...(dd ? ['--data-dir', dd] : []), ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  let listening = false;
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  const onData = (d) => {
    out += d;
    if (!listening && LISTEN_RE.test(out)) {
      listening = true;
      proc.kill('SIGKILL');
    }
  };
  proc.stderr.on('data', onData);
  proc.stdout.on('data', onData);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  clearTimeout(timer);
  running.delete(proc);
  removeDataDir(dir);
  if (ownDataDir) removeDataDir(dd);
  return { code, signal, stderr: out, listening };
}

/** An admin key of a started Clove: the first of ADMIN_API_KEYS, else the one it printed. */
export async function adminKeyOf(clove) {
  if (clove.adminKeys) return String(clove.adminKeys).split(',')[0].trim();
  return waitForAdminKey(clove);
}

/** Admin API call (JSON) to a started Clove with its admin key; resolves {status, json, text}. */
export async function adminCall(clove, method, apiPath, body) {
  const key = await adminKeyOf(clove);
  const { request } = await import('./http.mjs');
  const headers = { 'x-api-key': key };
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const r = await request(`${clove.url}/admin/api${apiPath}`, { method, headers, body: payload, timeoutMs: 10000 });
  let json;
  try {
    json = r.text ? JSON.parse(r.text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text: r.text, json };
}

/**
 * Routing keeps per-credential state: an upstream 401/402/403 marks a credential invalid, a 429
 * (or repeated 5xx/529) cools it down. Tests that script such errors against a single
 * credential and then expect normal traffic call this: every enabled credential that is not
 * `valid` is re-enabled through the admin API (PATCH {"enabled": true} resets it to valid).
 * Resolves the ids it reset.
 */
export async function resetCredentialStates(clove) {
  const ups = await adminCall(clove, 'GET', '/upstreams');
  if (ups.status !== 200) throw new Error(`GET /admin/api/upstreams → ${ups.status} ${ups.text}`);
  const reset = [];
  for (const up of ups.json.data) {
    const list = await adminCall(clove, 'GET', `/upstreams/${up.id}/credentials`);
    if (list.status !== 200) throw new Error(`GET credentials of ${up.id} → ${list.status} ${list.text}`);
    for (const c of list.json.data) {
      if (!c.enabled || c.state === 'valid') continue;
      const p = await adminCall(clove, 'PATCH', `/credentials/${c.id}`, { enabled: true });
      if (p.status !== 200 || p.json?.state !== 'valid') {
        throw new Error(`PATCH /admin/api/credentials/${c.id} {"enabled":true} → ${p.status} ${p.text} (expected state valid)`);
      }
      reset.push(c.id);
    }
  }
  return reset;
}

/** Standard request headers for a client of Clove. */
export function clientHeaders(extra = {}) {
  return {
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
    'x-api-key': CLIENT_KEY,
    ...extra,
  };
}

/**
 * Registers node:test hooks for a test file: one fake upstream and one Clove (config from
 * defaultConfig + opts) for the whole file, the fake's records reset before each test.
 * Returns an object whose .fake and .clove are set once the `before` hook ran.
 */
export function useCloveWithFake(hooks, opts = {}) {
  const ctx = { fake: null, clove: null };
  hooks.before(async () => {
    const { startFakeUpstream } = await import('../fake_upstream/server.mjs');
    ctx.fake = await startFakeUpstream(opts.fake ?? {});
    ctx.clove = await startClove({ ...opts, fakeUrl: ctx.fake.url });
  });
  hooks.after(async () => {
    try {
      if (ctx.clove) await stopCloveChecked(ctx.clove);
    } finally {
      if (ctx.fake) await ctx.fake.close();
    }
  });
  hooks.beforeEach(() => ctx.fake && ctx.fake.reset());
  return ctx;
}

/** Asserts an Anthropic-shaped gateway error response (from lib/http.mjs request()). */
export function anthropicErrorProblems(res, status, type) {
  const problems = [];
  if (res.status !== status) problems.push(`status ${res.status}, expected ${status}`);
  if (!/^application\/json/.test(res.headers['content-type'] ?? '')) problems.push(`content-type ${res.headers['content-type']}`);
  let j;
  try {
    j = JSON.parse(res.text);
  } catch {
    problems.push(`body is not JSON: ${res.text.slice(0, 300)}`);
    return problems;
  }
  if (j.type !== 'error') problems.push(`body.type ${j.type}`);
  if (!j.error || j.error.type !== type) problems.push(`error.type ${j.error && j.error.type}, expected ${type}`);
  if (!j.error || typeof j.error.message !== 'string' || !j.error.message) problems.push('error.message missing');
  if (typeof j.request_id !== 'string' || !/^req_/.test(j.request_id)) problems.push(`request_id ${j.request_id}`);
  if (!res.headers['request-id']) problems.push('no request-id header');
  else if (j.request_id !== res.headers['request-id']) problems.push(`request-id header ${res.headers['request-id']} != body ${j.request_id}`);
  return problems;
}

/**
 * Stops Clove at the end of a test file and fails if it had died on its own (crash, sanitizer
 * abort) or does not exit 0 on SIGTERM (the contract: drain, then exit 0; under ASan a leak
 * report makes the exit code non-zero).
 */
export async function stopCloveChecked(clove, { waitMs = 9000 } = {}) {
  const died = clove.exitInfo;
  const info = await clove.stop('SIGTERM', waitMs);
  const tail = () => clove.stderrLines.slice(-40).join('\n');
  if (died) throw new Error(`Clove exited during the tests (code ${died.code}, signal ${died.signal}); stderr tail:\n${tail()}`);
  if (info.code !== 0) {
    throw new Error(`Clove did not exit 0 on SIGTERM (code ${info.code}, signal ${info.signal}); stderr tail:\n${tail()}`);
  }
}

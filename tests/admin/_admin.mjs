// Shared helpers for the admin API suites (tests/admin/*.test.mjs; not a test file itself).
//
// Every suite runs once per database backend (sqlite, postgres; env CLOVE_TEST_BACKENDS picks a
// subset, e.g. CLOVE_TEST_BACKENDS=sqlite). Each test gets its own environment: a fake upstream,
// a fresh data directory, for postgres a fresh database (tests/lib/pg.mjs), and one Clove seeded
// from the standard test config (upstream "fake" with the upstream key, client key "alice").
// The contract is docs/admin-api.md.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import {
  startClove,
  defaultConfig,
  makeDataDir,
  removeDataDir,
  supportsDataDir,
  cloveBinExists,
  cloveBin,
  CLIENT_KEY,
} from '../lib/clove.mjs';
import { request, sleep } from '../lib/http.mjs';
import { ensurePg, freshDatabase, pgAvailable } from '../lib/pg.mjs';

export const ADMIN_KEY = 'adm-test-key-0123456789abcdef-0001';
export const MODEL = 'claude-sonnet-5-5';
export const ALL_BACKENDS = ['sqlite', 'postgres'];
export const BACKENDS = (process.env.CLOVE_TEST_BACKENDS || ALL_BACKENDS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s) => ALL_BACKENDS.includes(s));

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$/;
export const isTime = (v) => typeof v === 'string' && RFC3339_UTC.test(v) && !Number.isNaN(Date.parse(v));

/**
 * describe() once per backend. The postgres run is skipped (visibly) only when no Postgres can be
 * had at all; a binary without --data-dir fails every test with an explanation.
 */
export function forEachBackend(title, fn) {
  for (const backend of BACKENDS) {
    let skip = false;
    if (backend === 'postgres' && !pgAvailable()) skip = process.env.CLOVE_SKIP_PG === '1' ? 'CLOVE_SKIP_PG=1' : 'no PostgreSQL (install postgresql or set CLOVE_TEST_PG_URL)';
    describe(`${title} [${backend}]`, { skip }, () => fn(backend));
  }
}

function checkBinary() {
  if (!cloveBinExists()) throw new Error(`Clove binary not found at ${cloveBin()} (set CLOVE_BIN)`);
  if (!supportsDataDir()) throw new Error(`${cloveBin()} has no --data-dir flag: not the database-backed build (issue 4)`);
}

/** JSON (or raw text) request to Clove; resolves {status, headers, text, json, ms}. */
export async function call(baseUrl, method, path, body, { key, bearer, headers = {}, localAddress, timeoutMs = 20000 } = {}) {
  const h = { ...headers };
  if (key !== undefined && key !== null) {
    if (bearer) h.authorization = `Bearer ${key}`;
    else h['x-api-key'] = key;
  }
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const t0 = Date.now();
  const r = await request(`${baseUrl}${path}`, { method, headers: h, body: payload, localAddress, timeoutMs });
  let json;
  try {
    json = r.text ? JSON.parse(r.text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text: r.text, json, ms: Date.now() - t0, method, path };
}

export const describeRes = (r) => `${r.method} ${r.path} → ${r.status} ${String(r.text).slice(0, 600)}`;

/** Asserts an admin error: status, Anthropic shape, error.type and (when given) error.field. */
export function assertError(r, status, type, field) {
  assert.equal(r.status, status, describeRes(r));
  assert.match(String(r.headers['content-type']), /^application\/json/, `content-type of ${describeRes(r)}`);
  assert.ok(r.json && r.json.type === 'error' && r.json.error, `error shape: ${describeRes(r)}`);
  if (type) assert.equal(r.json.error.type, type, describeRes(r));
  assert.equal(typeof r.json.error.message, 'string', describeRes(r));
  assert.ok(r.json.error.message.length > 0, describeRes(r));
  if (field !== undefined) {
    const f = r.json.error.field;
    if (field instanceof RegExp) assert.match(String(f), field, `error.field of ${describeRes(r)}`);
    else assert.equal(f, field, `error.field of ${describeRes(r)}`);
  }
}

/** Like assertError but returns a list of problems (for tables of cases). */
export function errorProblems(r, status, type, field) {
  const p = [];
  if (r.status !== status) p.push(`status ${r.status}, expected ${status}`);
  if (!r.json || r.json.type !== 'error' || !r.json.error) {
    p.push(`not an error object: ${String(r.text).slice(0, 300)}`);
    return p;
  }
  if (!/^application\/json/.test(String(r.headers['content-type']))) p.push(`content-type ${r.headers['content-type']}`);
  if (type && r.json.error.type !== type) p.push(`error.type ${r.json.error.type}, expected ${type}`);
  if (typeof r.json.error.message !== 'string' || !r.json.error.message) p.push('no error.message');
  if (field !== undefined) {
    const f = r.json.error.field;
    const ok = field instanceof RegExp ? field.test(String(f)) : f === field;
    if (!ok) p.push(`error.field ${JSON.stringify(f)}, expected ${field} (message: ${r.json.error.message})`);
  }
  return p;
}

/**
 * Runs a table of invalid requests: cases = [[label, body, field]] (field: string, RegExp or
 * undefined for "any"). Each must answer 400 invalid_request_error with that error.field.
 * Collects every mismatch and fails once with the whole list.
 */
export async function expect400s(env, method, path, cases) {
  const problems = [];
  for (const [label, body, field] of cases) {
    const r = await env.api(method, path, body);
    const p = errorProblems(r, 400, 'invalid_request_error', field);
    if (p.length) problems.push(`${method} ${path} ${label} (body ${JSON.stringify(body)?.slice(0, 120)}): ${p.join('; ')}`);
  }
  assert.deepEqual(problems, [], `invalid requests not answered as specified:\n${problems.join('\n')}`);
}

/**
 * PATCH path with each invalid body of `cases` (as expect400s), then asserts that GET path still
 * answers `original`: a rejected PATCH changes nothing.
 */
export async function expectRejectedPatches(env, path, original, cases, message) {
  await expect400s(env, 'PATCH', path, cases);
  assert.deepEqual(await get(env, path), original, message);
}

/** Each of requests = [[method, path, body]] must answer 404 not_found_error (checked in order). */
export async function expect404s(env, requests) {
  for (const [method, path, body] of requests) assertError(await env.api(method, path, body), 404, 'not_found_error');
}

/** Asserts the `name`s of a list (GET path → data), in the order listed. */
export async function assertNames(env, path, names, message) {
  assert.deepEqual(
    (await get(env, path)).data.map((x) => x.name),
    names,
    message,
  );
}

/** Copy of obj with a dotted path set (value undefined deletes it). */
export function withPath(obj, dotted, value) {
  const out = structuredClone(obj);
  const parts = dotted.split('.');
  let cur = out;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return out;
}

export function assertStatus(r, status) {
  assert.equal(r.status, status, describeRes(r));
  return r.json;
}

/** A standard Messages request body. */
export function messageBody({ model = MODEL, stream = false, text = 'hi', maxTokens = 32 } = {}) {
  return { model, max_tokens: maxTokens, messages: [{ role: 'user', content: text }], ...(stream ? { stream: true } : {}) };
}

/**
 * Starts a fresh environment for one test. opts: {config | configOpts (for defaultConfig),
 * env (extra env), adminKeys (ADMIN_API_KEYS value; null = unset), args, fake (reuse one),
 * dbUrl (postgres: use this database instead of a fresh one on the shared server)}.
 * Returns env = {backend, fake, clove, url, dataDir, dbUrl, adminKey, api(), v1(), messages(),
 * restart(), stop()}; everything is stopped and removed when the test ends.
 */
export async function startEnv(t, backend, opts = {}) {
  checkBinary();
  const ownFake = !opts.fake;
  const fake = opts.fake ?? (await startFakeUpstream());
  const dataDir = makeDataDir('clove-admin-');
  let dbUrl = null;
  if (backend === 'postgres') dbUrl = opts.dbUrl ?? (await freshDatabase(await ensurePg()));
  const adminKey = opts.adminKeys === null ? null : (opts.adminKeys ?? ADMIN_KEY).split(',')[0];
  const env = {
    backend,
    fake,
    dataDir,
    dbUrl,
    adminKey,
    clove: null,
    url: null,
    starts: [],
    configFor: (o = {}) => o.config ?? opts.config ?? defaultConfig(fake.url, { ...(opts.configOpts ?? {}), ...(o.configOpts ?? {}) }),
    envFor(o = {}) {
      const e = { ...(opts.env ?? {}), ...(o.env ?? {}) };
      const keys = 'adminKeys' in o ? o.adminKeys : opts.adminKeys === undefined ? ADMIN_KEY : opts.adminKeys;
      if (keys !== null && keys !== undefined) e.ADMIN_API_KEYS = keys;
      if (dbUrl) e.DATABASE_URL = dbUrl;
      return e;
    },
    /** (Re)starts Clove on the same data dir / database. o: {config, configOpts, env, adminKeys, args}. */
    async start(o = {}) {
      const clove = await startClove({
        config: env.configFor(o),
        dataDir,
        env: env.envFor(o),
        args: o.args ?? opts.args ?? [],
      });
      env.clove = clove;
      env.url = clove.url;
      env.starts.push(clove);
      return clove;
    },
    /** Graceful stop (SIGTERM); fails when Clove had died on its own or does not exit 0. */
    async stop() {
      const c = env.clove;
      if (!c) return;
      env.clove = null;
      const died = c.exitInfo;
      const info = await c.stop('SIGTERM', 9000);
      if (died) throw new Error(`Clove died during the test (code ${died.code}, signal ${died.signal}):\n${c.stderrLines.slice(-30).join('\n')}`);
      if (info.code !== 0) throw new Error(`Clove did not exit 0 on SIGTERM (${JSON.stringify(info)}):\n${c.stderrLines.slice(-30).join('\n')}`);
    },
    async restart(o = {}) {
      await env.stop();
      return env.start(o);
    },
    /** Admin API call with the admin key (override with o.key; o.key = null sends none). */
    api(method, path, body, o = {}) {
      const key = 'key' in o ? o.key : env.adminKey;
      return call(env.url, method, `/admin/api${path}`, body, { ...o, key });
    },
    /** Any call to Clove (no key unless o.key). */
    raw(method, path, body, o = {}) {
      return call(env.url, method, path, body, o);
    },
    /** POST /v1/messages with a client key (default alice's). o: {key, bearer, model, stream, scenario, text}. */
    messages(o = {}) {
      const headers = { 'anthropic-version': '2023-06-01' };
      if (o.scenario) headers['x-fake-scenario'] = o.scenario;
      return call(env.url, 'POST', '/v1/messages', messageBody(o), {
        key: 'key' in o ? o.key : CLIENT_KEY,
        bearer: o.bearer,
        headers,
        localAddress: o.localAddress,
      });
    },
  };
  t.after(async () => {
    try {
      await env.stop();
    } finally {
      for (const c of env.starts) if (!c.exitInfo) await c.stop('SIGKILL', 2000);
      if (ownFake) await fake.close();
      removeDataDir(dataDir);
    }
  });
  await env.start();
  return env;
}

/** Creates a resource and returns its JSON (asserting 201). */
export async function create(env, path, body) {
  const r = await env.api('POST', path, body);
  assert.equal(r.status, 201, describeRes(r));
  return r.json;
}

/** GET that must answer 200; returns the JSON. */
export async function get(env, path) {
  const r = await env.api('GET', path);
  assert.equal(r.status, 200, describeRes(r));
  return r.json;
}

/** The seeded upstream "fake" (from the config file). */
export async function seededUpstream(env) {
  const list = await get(env, '/upstreams');
  const up = list.data.find((u) => u.name === 'fake');
  assert.ok(up, `seeded upstream "fake" missing: ${JSON.stringify(list)}`);
  return up;
}

export async function seededKey(env) {
  const list = await get(env, '/keys');
  const k = list.data.find((x) => x.name === 'alice');
  assert.ok(k, `seeded client key "alice" missing: ${JSON.stringify(list)}`);
  return k;
}

/** Polls usage/requests (with query) until at least n records are there. */
export async function waitUsage(env, n, query = '', { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await env.api('GET', `/usage/requests?limit=1000${query ? `&${query}` : ''}`);
    if (last.status === 200 && last.json && Array.isArray(last.json.data) && last.json.data.length >= n) return last.json.data;
    if (Date.now() > deadline) throw new Error(`expected ≥ ${n} usage records for "${query}" within ${timeoutMs} ms; last: ${describeRes(last)}`);
    await sleep(50);
  }
}

/** Polls the audit log until an entry matches pred; returns it. */
export async function waitAudit(env, pred, what = 'audit entry', { timeoutMs = 3000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await env.api('GET', '/audit?limit=200');
    if (last.status === 200 && Array.isArray(last.json?.data)) {
      const hit = last.json.data.find(pred);
      if (hit) return hit;
    }
    if (Date.now() > deadline) throw new Error(`no ${what} in the audit log within ${timeoutMs} ms; last: ${describeRes(last)}`);
    await sleep(50);
  }
}

/** Matches the audit entry for an action on a resource id (action names: create/update/delete…). */
export function auditFor(action, resourceId, resourceRe) {
  const actionRe = {
    create: /^(create|created|add|added|insert)$/i,
    update: /^(update|updated|patch|modify|modified|set|enable|disable)$/i,
    delete: /^(delete|deleted|remove|removed)$/i,
    test: /^(test|tested|credential_test)$/i,
    put: /^(update|updated|put|set|create|created|upsert)$/i,
  }[action];
  return (e) =>
    e &&
    actionRe.test(String(e.action)) &&
    (resourceId === undefined || e.resource_id === resourceId) &&
    (resourceRe === undefined || resourceRe.test(String(e.resource)));
}

/** Checks the common shape of an audit entry. */
export function assertAuditShape(e) {
  assert.ok(e.id !== undefined && e.id !== null, `audit id: ${JSON.stringify(e)}`);
  assert.ok(isTime(e.time), `audit time: ${JSON.stringify(e)}`);
  assert.equal(typeof e.actor, 'string', `audit actor: ${JSON.stringify(e)}`);
  assert.ok(e.actor.length > 0);
  assert.equal(typeof e.action, 'string');
  assert.equal(typeof e.resource, 'string');
  assert.ok(e.detail === null || typeof e.detail === 'object', `audit detail: ${JSON.stringify(e)}`);
}

/** Random printable key material. */
export function randomKey(prefix = 'sk-test-', n = 32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = prefix;
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

export const stripSlash = (u) => String(u).replace(/\/+$/, '');
export { sleep, CLIENT_KEY };

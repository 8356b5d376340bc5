// Helpers for the usage-record tests (reliability rows 12–14): a mixed JSON/SSE load that
// remembers what every client saw, readers for the `usage` table (sqlite3 CLI, psql), admin API
// calls, and the comparison of rows against what the clients saw.
//
// Usage table columns (docs/admin-api.md, issue 4): request_id (unique), ts (unix ms), key_id,
// upstream_id, credential_id, model, upstream_model, status, error_type, stream (0/1), ttfb_ms,
// duration_ms, input_tokens, output_tokens, cache_creation_tokens, cache_creation_5m_tokens,
// cache_creation_1h_tokens, cache_read_tokens, cost_nanousd (integer, 1e-9 USD).
//
// The last section is the scaffolding the row 12–14 test files share: skip reasons, the
// per-backend registration of checks, the per-file fake upstream and data directories, and the
// assertions on rows and counters.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { execFile } from 'node:child_process';
import { request } from './http.mjs';
import { startClove, makeDataDir, removeDataDir, supportsDataDir } from './clove.mjs';
import { startFakeUpstream } from '../fake_upstream/server.mjs';

/** Admin key handed to Clove through ADMIN_API_KEYS (>= 16 characters). */
export const ADMIN_KEY = 'clv_admin_usage-tests-0123456789';
/** Two client keys (seeded from the config file). */
export const USAGE_KEYS = Object.freeze([
  Object.freeze({ name: 'alice', key: 'ck-alice-123' }),
  Object.freeze({ name: 'bob', key: 'ck-bob-4567890' }),
]);

/** The fake upstream entry's model_map (tests/lib/clove.mjs fakeUpstreamEntry). */
export const USAGE_MODEL_MAP = Object.freeze({ 'claude-latest': 'claude-sonnet-4-5' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The mixed load.

/**
 * What request number i sends: key i % keys, JSON or SSE alternating per key, 1–7 text deltas
 * (output tokens vary), a body of varying length (input tokens vary), prompt-cache usage in 4 of 5
 * requests, and the aliased model `claude-latest` (model_map → claude-sonnet-4-5) in 1 of 10.
 */
export function usageRequestSpec(i, keys = USAGE_KEYS) {
  const key = keys[i % keys.length];
  const stream = Math.floor(i / keys.length) % 2 === 1;
  const deltas = 1 + (i % 7);
  const noCache = i % 5 === 0;
  const model = i % 10 === 3 ? 'claude-latest' : 'claude-sonnet-4-5';
  const body = JSON.stringify({
    model,
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
    messages: [{ role: 'user', content: `usage test request ${i} ${'x'.repeat((i * 7) % 113)}` }],
  });
  return { i, key, stream, model, body, scenario: `deltas:${deltas}${noCache ? ',no_cache' : ''}` };
}

/** Normalised usage numbers from an Anthropic usage object. */
function normUsage(u = {}) {
  const cc = u.cache_creation || {};
  return {
    input: u.input_tokens ?? 0,
    output: u.output_tokens ?? 0,
    cacheCreation: u.cache_creation_input_tokens ?? 0,
    cacheCreation5m: cc.ephemeral_5m_input_tokens ?? null,
    cacheCreation1h: cc.ephemeral_1h_input_tokens ?? null,
    cacheRead: u.cache_read_input_tokens ?? 0,
  };
}

/**
 * The usage a client saw in a response (JSON: body.usage; SSE: message_start's usage overridden
 * by message_delta's), or null when the response carried none.
 */
export function clientSeenUsage(res, stream) {
  if (stream) {
    const start = res.events.find((e) => e.event === 'message_start');
    const delta = [...res.events].reverse().find((e) => e.event === 'message_delta');
    const su = start?.json?.message?.usage;
    if (!su) return null;
    return normUsage({ ...su, ...(delta?.json?.usage || {}), cache_creation: su.cache_creation });
  }
  try {
    const j = JSON.parse(res.text);
    return j && j.usage ? normUsage(j.usage) : null;
  } catch {
    return null;
  }
}

/** The Clove request id of a response: x-clove-request-id, else request-id. */
export function cloveRequestId(headers = {}) {
  return headers['x-clove-request-id'] || headers['request-id'] || null;
}

async function oneRequest(url, spec, agent, timeoutMs) {
  const r = {
    i: spec.i,
    key: spec.key.name,
    stream: spec.stream,
    model: spec.model,
    tStart: Date.now(),
    tEnd: null,
    status: null,
    rid: null,
    requestIdHeader: null,
    ok: false,
    usage: null,
    error: null,
  };
  try {
    const res = await request(`${url}/v1/messages`, {
      agent,
      timeoutMs,
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-api-key': spec.key.key,
        'x-fake-scenario': spec.scenario,
      },
      body: spec.body,
    });
    r.tEnd = Date.now();
    r.status = res.status;
    r.rid = cloveRequestId(res.headers);
    r.requestIdHeader = res.headers['request-id'] ?? null;
    r.usage = res.status === 200 ? clientSeenUsage(res, spec.stream) : null;
    if (res.error) r.error = String(res.error.message || res.error);
    const streamOk = !spec.stream || (res.events.some((e) => e.event === 'message_stop') && !res.events.some((e) => e.event === 'error'));
    r.ok = res.status === 200 && res.complete && !res.error && streamOk && r.usage !== null;
    if (!r.ok && !r.error) r.error = `status ${res.status}: ${res.text.slice(0, 200)}`;
  } catch (err) {
    r.tEnd = Date.now();
    r.error = err.code || err.message;
  }
  return r;
}

/**
 * Starts a closed-loop load: `concurrency` workers on one keep-alive agent (at most `concurrency`
 * connections), each sending the next request number until `total` were sent or stop() is called.
 * Returns {results (filled as responses end), done (resolves to results), stop(), sent()}.
 * Each result: {i, key, stream, model, tStart, tEnd (Date.now()), status, rid, requestIdHeader,
 * ok, usage, error}.
 */
export function startUsageLoad(url, { total = Infinity, concurrency = 64, keys = USAGE_KEYS, timeoutMs = 60000, paceMs = 0, firstIndex = 0 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const results = [];
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < total) {
      const spec = usageRequestSpec(firstIndex + next++, keys);
      results.push(await oneRequest(url, spec, agent, timeoutMs));
      if (paceMs) await sleep(paceMs);
    }
  };
  const done = Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker)).then(() => {
    agent.destroy();
    return results;
  });
  return {
    results,
    done,
    stop() {
      stopped = true;
    },
    sent: () => next,
  };
}

/** Counts of a result list: {total, ok, failed, byError: {reason: n}}. */
export function loadSummary(results) {
  const byError = {};
  let ok = 0;
  for (const r of results) {
    if (r.ok) ok++;
    else {
      const k = r.status ? `status ${r.status}` : String(r.error).slice(0, 60);
      byError[k] = (byError[k] || 0) + 1;
    }
  }
  return { total: results.length, ok, failed: results.length - ok, byError };
}

// ---------------------------------------------------------------------------------------------
// Reading the database.

function run(cmd, args, { timeoutMs = 60000, env } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024, env: env ?? process.env }, (err, stdout, stderr) => {
      if (err) {
        err.message = `${cmd} ${args.map((a) => JSON.stringify(a)).join(' ')} failed: ${err.message}\n${stderr}`;
        reject(err);
      } else resolve(stdout);
    });
  });
}

/** Rows of one SQL statement from a SQLite file, through `sqlite3 -json`. */
export async function sqliteJson(dbPath, sql, { timeoutMs = 60000 } = {}) {
  const out = await run('sqlite3', ['-bail', '-cmd', '.timeout 10000', '-json', dbPath, sql], { timeoutMs });
  return out.trim() ? JSON.parse(out) : [];
}

/** `PRAGMA integrity_check` of a SQLite file: 'ok' or the problems, one per line. */
export async function sqliteIntegrity(dbPath) {
  const out = await run('sqlite3', ['-bail', '-cmd', '.timeout 10000', dbPath, 'PRAGMA integrity_check;']);
  return out.trim();
}

function pgToolEnv() {
  const env = { ...process.env, LC_ALL: 'C' };
  for (const k of Object.keys(env)) if (/^PG/.test(k)) delete env[k];
  env.PGCONNECT_TIMEOUT = '5';
  return env;
}

/** Rows of one SELECT from PostgreSQL, through `psql` (json_agg, so types survive). */
export async function psqlJson(url, sql, { timeoutMs = 60000 } = {}) {
  const wrapped = `select coalesce(json_agg(q), '[]'::json) from (${sql}) q`;
  const out = await run('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', wrapped], {
    timeoutMs,
    env: pgToolEnv(),
  });
  return JSON.parse(out.trim() || '[]');
}

/** A database handle: {kind: 'sqlite', path} or {kind: 'pg', url}. */
export function sqliteDb(dataDir) {
  return { kind: 'sqlite', path: path.join(dataDir, 'clove.db') };
}
export function pgDb(url) {
  return { kind: 'pg', url };
}

export async function dbQuery(db, sql) {
  return db.kind === 'pg' ? psqlJson(db.url, sql) : sqliteJson(db.path, sql);
}

export const USAGE_COLUMNS = [
  'request_id', 'ts', 'key_id', 'upstream_id', 'credential_id', 'model', 'upstream_model', 'status', 'error_type',
  'stream', 'ttfb_ms', 'duration_ms', 'input_tokens', 'output_tokens', 'cache_creation_tokens',
  'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'cost_nanousd',
];

/** Every usage row (all the columns above). */
export async function usageRows(db) {
  const rows = await dbQuery(db, `select ${USAGE_COLUMNS.join(', ')} from usage`);
  for (const r of rows) {
    for (const k of ['ts', 'status', 'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'cost_nanousd']) {
      if (typeof r[k] === 'string' && /^-?\d+$/.test(r[k])) r[k] = Number(r[k]);
    }
    if (typeof r.stream === 'boolean') r.stream = r.stream ? 1 : 0;
    else if (r.stream !== null && r.stream !== undefined) r.stream = Number(r.stream);
  }
  return rows;
}

export async function usageCount(db) {
  const [r] = await dbQuery(db, 'select count(*) as n from usage');
  return Number(r.n);
}

/** Copies a SQLite database with its -wal and -shm files (as a crash left them) into dir. */
export function copySqliteFiles(dbPath, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const dst = path.join(dir, path.basename(dbPath));
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    if (fs.existsSync(dbPath + suffix)) fs.copyFileSync(dbPath + suffix, dst + suffix);
  }
  return dst;
}

// ---------------------------------------------------------------------------------------------
// Admin API.

/**
 * One admin call on a fresh connection. Resolves {status, ms, json (or null), text, error}; a
 * timeout or connection error is reported in `error` (status null), never thrown.
 */
export async function admin(url, method, p, { body, key = ADMIN_KEY, timeoutMs = 10000 } = {}) {
  const t0 = Date.now();
  try {
    const res = await request(`${url}${p}`, {
      method,
      agent: false,
      timeoutMs,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
      json = JSON.parse(res.text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, ms: Date.now() - t0, json, text: res.text, error: null };
  } catch (err) {
    return { status: null, ms: Date.now() - t0, json: null, text: '', error: err.code || err.message };
  }
}

/** Like admin() but throws unless the status is `want`; returns the parsed JSON. */
export async function adminOk(url, method, p, opts = {}) {
  const want = opts.want ?? 200;
  const r = await admin(url, method, p, opts);
  if (r.status !== want) {
    throw new Error(`${method} ${p}: status ${r.status} (want ${want}) ${r.error ?? ''} ${r.text.slice(0, 300)}`);
  }
  return r.json;
}

/** {name: id} of the client keys, from GET /admin/api/keys. */
export async function keyIdsByName(url) {
  const j = await adminOk(url, 'GET', '/admin/api/keys');
  return Object.fromEntries(j.data.map((k) => [k.name, k.id]));
}

// ---------------------------------------------------------------------------------------------
// Prices and cost (docs/admin-api.md "Prices").

function globToRegExp(glob) {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** The most specific price (longest pattern, then fewest wildcards) for a model, or null. */
export function priceFor(prices, model) {
  if (!model) return null;
  const hits = prices.filter((p) => globToRegExp(p.model).test(model));
  hits.sort((a, b) => b.model.length - a.model.length || (a.model.match(/[*?]/g) || []).length - (b.model.match(/[*?]/g) || []).length);
  return hits[0] ?? null;
}

/**
 * Expected cost of a usage row in nano-USD (prices are USD per million tokens, so USD per token ×
 * 1e9 = price × 1000), pricing the requested model and falling back to the upstream model.
 * Returns null when no price matches.
 */
export function expectedCostNano(row, prices) {
  const p = priceFor(prices, row.model) ?? priceFor(prices, row.upstream_model);
  if (!p) return null;
  const w5 = p.cache_write_5m ?? 1.25 * p.input;
  const w1 = p.cache_write_1h ?? 2 * p.input;
  const rd = p.cache_read ?? 0.1 * p.input;
  let c5 = row.cache_creation_5m_tokens ?? 0;
  let c1 = row.cache_creation_1h_tokens ?? 0;
  if (c5 + c1 === 0 && row.cache_creation_tokens) c5 = row.cache_creation_tokens; // no TTL split → 5-minute writes
  return 1000 * (row.input_tokens * p.input + row.output_tokens * p.output + c5 * w5 + c1 * w1 + row.cache_read_tokens * rd);
}

// ---------------------------------------------------------------------------------------------
// Rows against client observations.

/** request_ids that occur more than once: [[id, n], ...]. */
export function duplicateIds(rows) {
  const n = new Map();
  for (const r of rows) n.set(r.request_id, (n.get(r.request_id) || 0) + 1);
  return [...n].filter(([, c]) => c > 1);
}

/**
 * Compares each client result that has a request id with its row: key, stream flag, status and
 * the four token counters (plus the 5m/1h split when the client saw it).
 * Returns {missing: [result], mismatched: [{rid, problems}], extra: [row], matched}.
 */
export function matchRowsToResults(rows, results, keyIds) {
  const byId = new Map(rows.map((r) => [r.request_id, r]));
  const seen = new Set();
  const missing = [];
  const mismatched = [];
  let matched = 0;
  for (const res of results) {
    if (!res.rid) continue;
    seen.add(res.rid);
    const row = byId.get(res.rid);
    if (!row) {
      if (res.ok) missing.push(res);
      continue;
    }
    matched++;
    if (!res.ok) continue;
    const p = [];
    if (keyIds && keyIds[res.key] && row.key_id !== keyIds[res.key]) p.push(`key_id ${row.key_id}, want ${keyIds[res.key]} (${res.key})`);
    if (row.stream !== (res.stream ? 1 : 0)) p.push(`stream ${row.stream}, want ${res.stream ? 1 : 0}`);
    if (row.status !== res.status) p.push(`status ${row.status}, want ${res.status}`);
    if (row.model !== res.model) p.push(`model ${row.model}, want ${res.model}`);
    const upModel = USAGE_MODEL_MAP[res.model] ?? res.model;
    if (row.upstream_model !== upModel) p.push(`upstream_model ${row.upstream_model}, want ${upModel}`);
    const u = res.usage;
    const cmp = [
      ['input_tokens', u.input],
      ['output_tokens', u.output],
      ['cache_creation_tokens', u.cacheCreation],
      ['cache_read_tokens', u.cacheRead],
      ['cache_creation_5m_tokens', u.cacheCreation5m],
      ['cache_creation_1h_tokens', u.cacheCreation1h],
    ];
    for (const [col, want] of cmp) if (want !== null && row[col] !== want) p.push(`${col} ${row[col]}, want ${want}`);
    if (p.length) mismatched.push({ rid: res.rid, problems: p });
  }
  const extra = rows.filter((r) => !seen.has(r.request_id));
  return { missing, mismatched, extra, matched };
}

/** Per-key sums of rows: {key_id: {requests, input, output, cacheCreation, cacheRead, costNano}}. */
export function rowSumsByKey(rows) {
  const out = {};
  for (const r of rows) {
    const s = (out[r.key_id] ||= { requests: 0, input: 0, output: 0, cacheCreation: 0, cacheRead: 0, costNano: 0 });
    s.requests++;
    s.input += r.input_tokens;
    s.output += r.output_tokens;
    s.cacheCreation += r.cache_creation_tokens;
    s.cacheRead += r.cache_read_tokens;
    s.costNano += r.cost_nanousd;
  }
  return out;
}

/** Per-key sums of what the clients saw: {keyName: {requests, input, output, cacheCreation, cacheRead}}. */
export function clientSumsByKey(results) {
  const out = {};
  for (const r of results) {
    if (!r.ok) continue;
    const s = (out[r.key] ||= { requests: 0, input: 0, output: 0, cacheCreation: 0, cacheRead: 0 });
    s.requests++;
    s.input += r.usage.input;
    s.output += r.usage.output;
    s.cacheCreation += r.usage.cacheCreation;
    s.cacheRead += r.usage.cacheRead;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Starting Clove for the usage tests.

/**
 * Starts Clove against the fake upstream with the two USAGE_KEYS, ADMIN_KEY, the given data
 * directory (kept on stop) and, when databaseUrl is set, PostgreSQL instead of SQLite.
 * extra: more startClove options (server, env, ...).
 */
export async function startUsageClove({ fakeUrl, dataDir, databaseUrl, ...extra }) {
  return startClove({
    fakeUrl,
    dataDir,
    clientKeys: USAGE_KEYS.map((k) => ({ ...k })),
    startTimeoutMs: 30000,
    ...extra,
    env: { ADMIN_API_KEYS: ADMIN_KEY, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), ...(extra.env || {}) },
  });
}

/** Every record of GET /admin/api/usage/requests (paged with limit=1000 and next_cursor). */
export async function allUsageRecords(url, query = '', { maxPages = 1000 } = {}) {
  const out = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page++) {
    const q = `limit=1000${query ? `&${query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const j = await adminOk(url, 'GET', `/admin/api/usage/requests?${q}`, { timeoutMs: 30000 });
    out.push(...j.data);
    cursor = j.next_cursor;
    if (!cursor || !j.data.length) return out;
  }
  throw new Error(`usage/requests: more than ${maxPages} pages`);
}

/**
 * Differences between the admin API's counters and the rows: `summary` is the body of
 * GET /admin/api/usage/summary?group_by=key (requests, errors, tokens, cost_usd per key_id), `keys`
 * the data of GET /admin/api/keys (each key's `usage`: requests, input/output tokens, cost_usd).
 * Costs compare Σ cost_nanousd / 1e9 within 1e-6 USD. Returns a list of problems (empty = equal).
 */
export function counterProblems(rows, { summary, keys } = {}) {
  const byRows = rowSumsByKey(rows);
  const errorsByKey = {};
  for (const r of rows) if (r.status >= 400) errorsByKey[r.key_id] = (errorsByKey[r.key_id] || 0) + 1;
  const costClose = (a, nano) => Math.abs(a - nano / 1e9) <= 1e-6 + 1e-9 * (nano / 1e9);
  const problems = [];
  if (summary) {
    const groups = new Map(summary.data.map((g) => [g.group, g]));
    for (const [keyId, s] of Object.entries(byRows)) {
      const g = groups.get(keyId);
      if (!g) {
        problems.push(`summary: no group for ${keyId} (groups ${[...groups.keys()]})`);
        continue;
      }
      const want = {
        requests: s.requests,
        errors: errorsByKey[keyId] || 0,
        input_tokens: s.input,
        output_tokens: s.output,
        cache_creation_input_tokens: s.cacheCreation,
        cache_read_input_tokens: s.cacheRead,
      };
      for (const [f, v] of Object.entries(want)) if (g[f] !== v) problems.push(`summary ${keyId} ${f}: ${g[f]}, rows ${v}`);
      if (!costClose(g.cost_usd, s.costNano)) problems.push(`summary ${keyId} cost_usd: ${g.cost_usd}, Σ rows ${s.costNano / 1e9}`);
    }
    for (const id of groups.keys()) if (!byRows[id]) problems.push(`summary: group ${id} has no rows`);
    const t = summary.totals || {};
    if (t.requests !== rows.length) problems.push(`summary totals.requests ${t.requests}, rows ${rows.length}`);
  }
  if (keys) {
    for (const k of keys) {
      const s = byRows[k.id] || { requests: 0, input: 0, output: 0, costNano: 0 };
      const u = k.usage || {};
      if (u.requests !== s.requests) problems.push(`key ${k.name} usage.requests ${u.requests}, rows ${s.requests}`);
      if (u.input_tokens !== s.input) problems.push(`key ${k.name} usage.input_tokens ${u.input_tokens}, rows ${s.input}`);
      if (u.output_tokens !== s.output) problems.push(`key ${k.name} usage.output_tokens ${u.output_tokens}, rows ${s.output}`);
      if (!costClose(u.cost_usd, s.costNano)) problems.push(`key ${k.name} usage.cost_usd ${u.cost_usd}, Σ rows ${s.costNano / 1e9}`);
    }
  }
  return problems;
}

/** GET summary?group_by=key and GET keys, for counterProblems. */
export async function adminCounters(url) {
  const summary = await adminOk(url, 'GET', '/admin/api/usage/summary?group_by=key', { timeoutMs: 30000 });
  const keys = (await adminOk(url, 'GET', '/admin/api/keys', { timeoutMs: 30000 })).data;
  return { summary, keys };
}

/** Resolves the promise's value, or {error: message} when it rejects (one failing admin call fails its own check only). */
export async function settle(promise) {
  try {
    return await promise;
  } catch (err) {
    return { error: String((err && err.message) || err) };
  }
}

/**
 * The key_id each client key's requests were recorded under, derived from the rows alone (no
 * admin call): {ids: {name: key_id}, problems: [...]} — a problem when one key's rows carry
 * several key_ids, none, or two keys share one.
 */
export function deriveKeyIds(rows, results) {
  const byId = new Map(rows.map((r) => [r.request_id, r]));
  const seen = {};
  for (const res of results) {
    const row = res.rid && byId.get(res.rid);
    if (!row) continue;
    (seen[res.key] ||= new Set()).add(row.key_id);
  }
  const ids = {};
  const problems = [];
  for (const [name, set] of Object.entries(seen)) {
    if (set.size !== 1) problems.push(`key ${name}: rows carry key_id ${[...set].join(', ')}`);
    const id = [...set][0];
    if (!id) problems.push(`key ${name}: rows carry no key_id`);
    ids[name] = id;
  }
  const vals = Object.values(ids);
  if (new Set(vals).size !== vals.length) problems.push(`two keys share a key_id: ${JSON.stringify(ids)}`);
  return { ids, problems };
}

// ---------------------------------------------------------------------------------------------
// Scaffolding of the usage test files (tests/reliability/usage_*.test.mjs).

/** The backends a usage test runs on: SQLite in the data directory, PostgreSQL through DATABASE_URL. */
export const USAGE_BACKENDS = Object.freeze(['sqlite', 'pg']);

/**
 * Why a usage test cannot run on `backend`, or false: a binary without --data-dir (not the
 * database build) skips every backend, CLOVE_SKIP_PG=1 skips 'pg'.
 */
export function usageSkipReason(backend) {
  if (!supportsDataDir()) return 'the binary has no --data-dir (not the database build)';
  if (backend === 'pg' && process.env.CLOVE_SKIP_PG === '1') return 'CLOVE_SKIP_PG=1';
  return false;
}

/**
 * Registers a file's checks once per backend: fn(backend, {name, opts}) where name(s) is
 * `[backend] s` and opts is {skip: reason} when the backend cannot run (usageSkipReason), else {}.
 */
export function forEachUsageBackend(fn) {
  for (const backend of USAGE_BACKENDS) {
    const skip = usageSkipReason(backend);
    fn(backend, { name: (s) => `[${backend}] ${s}`, opts: skip ? { skip } : {} });
  }
}

/**
 * {sqlite: run, pg: run}: run() starts scenario(backend) on its first call and returns that same
 * promise on every call, so each check of a backend reads one shared run.
 */
export function oncePerBackend(scenario) {
  const runs = {};
  for (const backend of USAGE_BACKENDS) {
    let p = null;
    runs[backend] = () => (p ||= scenario(backend));
  }
  return runs;
}

/**
 * The per-file resources of a usage scenario, released by one after() hook: one fake upstream
 * for the whole file (started on first use) and every directory handed out or tracked.
 * prepare(backend, prefix) → {fake, dataDir, databaseUrl, db}: a fresh data directory
 * (`${prefix}${backend}-…`) and, for 'pg', a fresh database on the shared PostgreSQL
 * (tests/lib/pg.mjs ensurePg; databaseUrl is undefined for 'sqlite'); db is the handle for
 * usageRows(). track(dir) hands one more directory to the cleanup and returns it.
 */
export function usageFixture() {
  let fake = null;
  const dirs = [];
  after(async () => {
    if (fake) await fake.close();
    for (const d of dirs) removeDataDir(d);
  });
  return {
    track(dir) {
      dirs.push(dir);
      return dir;
    },
    async prepare(backend, prefix) {
      if (!fake) fake = await startFakeUpstream();
      const dataDir = makeDataDir(`${prefix}${backend}-`);
      dirs.push(dataDir);
      let databaseUrl;
      if (backend === 'pg') {
        const pgLib = await import('./pg.mjs');
        databaseUrl = await pgLib.freshDatabase(await pgLib.ensurePg());
      }
      return { fake, dataDir, databaseUrl, db: backend === 'pg' ? pgDb(databaseUrl) : sqliteDb(dataDir) };
    },
  };
}

/** Asserts that no request_id occurs in more than one row. */
export function assertNoDuplicateIds(rows) {
  const dups = duplicateIds(rows);
  assert.equal(dups.length, 0, `duplicates: ${JSON.stringify(dups.slice(0, 5))}`);
}

/**
 * Asserts that the admin counters (settle(adminCounters(url))) were read and equal the per-key
 * sums of the rows (counterProblems).
 */
export function assertCountersMatchRows(rows, counters) {
  assert.ok(!counters.error, counters.error);
  assert.deepEqual(counterProblems(rows, counters), []);
}

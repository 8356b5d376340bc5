// Row 16 — secrets, admin authorization, injection, failed-login limiting (docs/admin-api.md).
//
// (a) Canary scan. Random canary strings serve as the upstream key seeded by the config file,
//     upstream keys added through the admin API (single, add-many with duplicates, with an
//     upstream's creation, an invalid one), a client key from the config file, client keys
//     created through the API (one then deleted), ADMIN_API_KEYS, and wrong keys clients try.
//     After a workload (proxied JSON/SSE requests, upstream errors, admin CRUD, credential
//     tests, log level raised to trace, every admin GET, /metrics, a restart with
//     --apply-config) none may appear — in full, as their secret tail, hex-, base64- or
//     UTF-16-encoded — in Clove's stdout/stderr, in any response Clove sent (status line,
//     headers, body), in any file of the data dir (SQLite db, WAL, SHM, …, raw bytes) or in
//     `sqlite3 clove.db .dump` (PostgreSQL: pg_dump of the database). The fake upstream
//     legitimately receives upstream keys and is not scanned. Prefixes and hints that the
//     contract shows (client key `prefix`, 12 chars; `hint`, first and last 4) are not secrets.
// (b) Authorization matrix: every method+path of docs/admin-api.md (checked against the doc's
//     text), with real ids, × {no key, wrong x-api-key, wrong Bearer, client keys (API-created
//     and config) via x-api-key and Bearer, the admin key in the query string, in other
//     headers / schemes} → 401 (403 for client keys), never 2xx, and nothing changed.
//     Path-normalisation variants of admin routes without a key are never 2xx. Admin keys on
//     /v1/* → 401.
// (c) Injection: SQL/control/encoding payloads in every body field, query parameter and path id
//     → only 200/201/204/400/404/409, never 500, each within 2.5 s (no time-based injection);
//     the database is intact afterwards (lists work, proxying and usage recording work, the same
//     tables exist, SQLite integrity_check ok).
// (d) Failed-login limiting: 10 wrong admin keys from one address → 401; the 11th → 429
//     rate_limit_error with retry-after (1…60 s); then even a valid key from that address → 429;
//     X-Forwarded-For does not bypass it; another address is unaffected.
//
// Each source address is a distinct 127.x.y.z (Linux routes all of 127/8 to lo), so the
// per-address limit of (d) does not disturb (a)–(c). Runs on SQLite; (a) and (c) also on
// PostgreSQL when one is available (tests/lib/pg.mjs).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { defaultConfig, REPO_ROOT, resetCredentialStates } from '../lib/clove.mjs';
import { pgAvailable, pgDump, psql } from '../lib/pg.mjs';
import { startEnv, call, create, get, seededUpstream, seededKey, waitUsage, describeRes, sleep, MODEL } from '../admin/_admin.mjs';
import { makeRow } from './_lib.mjs';

const row = makeRow('row 16 (security)');
const BACKENDS = ['sqlite', ...(pgAvailable() ? ['postgres'] : [])];

// ---------------------------------------------------------------------------------------------
// distinct loopback source addresses
let addrSeq = 0;
function nextAddr() {
  addrSeq++;
  return `127.${16 + Math.floor(addrSeq / 250)}.${addrSeq % 250}.${1 + (process.pid % 200)}`;
}

const hex = (n = 16) => crypto.randomBytes(n).toString('hex');

// ---------------------------------------------------------------------------------------------
// (a) canary scan

/** Byte patterns that betray a secret: the full string, its secret tail, and simple encodings. */
function patternsFor(name, secret, visiblePrefix = 0) {
  const out = [];
  const add = (what, s) => {
    if (s && s.length >= 8) out.push({ name, what, buf: Buffer.from(s, 'utf8'), ci: false });
  };
  add('full', secret);
  const tail = secret.slice(Math.max(visiblePrefix, 0)).slice(0, -4); // what neither prefix nor hint shows
  add('tail', tail);
  out.push({ name, what: 'tail (any case)', buf: Buffer.from(tail.toLowerCase()), ci: true });
  add('hex', Buffer.from(secret).toString('hex'));
  out.push({ name, what: 'utf-16le', buf: Buffer.from(secret, 'utf16le'), ci: false });
  for (let off = 0; off < 3; off++) {
    const b64 = Buffer.concat([Buffer.alloc(off, 0x20), Buffer.from(secret)]).toString('base64');
    add(`base64@${off}`, b64.slice(4, -4));
    add(`base64url@${off}`, Buffer.concat([Buffer.alloc(off, 0x20), Buffer.from(secret)]).toString('base64url').slice(4, -4));
  }
  return out;
}

function scanBuffer(where, buf, patterns, findings) {
  let lower = null;
  for (const p of patterns) {
    let hay = buf;
    if (p.ci) hay = lower ??= Buffer.from(buf.toString('latin1').toLowerCase(), 'latin1');
    if (hay.indexOf(p.buf) >= 0) findings.push(`${p.name} (${p.what}) found in ${where}`);
  }
}

function filesUnder(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function sqlite(dbFile, ...args) {
  const r = spawnSync('sqlite3', [dbFile, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new Error(`sqlite3: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`sqlite3 ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Scans every file of the data dir and, on SQLite, `sqlite3 .dump` of clove.db; `suffix` is added to each place's name. */
function scanDataDir(env, patterns, findings, suffix = '') {
  for (const f of filesUnder(env.dataDir)) scanBuffer(`data dir file ${path.relative(env.dataDir, f)}${suffix}`, fs.readFileSync(f), patterns, findings);
  if (env.backend === 'sqlite') scanBuffer(`sqlite3 .dump${suffix}`, Buffer.from(sqlite(path.join(env.dataDir, 'clove.db'), '.dump')), patterns, findings);
}

/** All admin GET routes with real ids (for scanning what the API shows). */
async function adminGetPaths(env) {
  const paths = ['/status', '/upstreams', '/keys', '/settings', '/prices', '/usage/requests?limit=1000', '/audit?limit=1000', '/usage/latency', '/admin-keys'];
  for (const g of ['key', 'upstream', 'credential', 'model', 'hour', 'day']) paths.push(`/usage/summary?group_by=${g}`);
  const ups = (await get(env, '/upstreams')).data;
  for (const u of ups) {
    paths.push(`/upstreams/${u.id}`, `/upstreams/${u.id}/credentials`);
    for (const c of (await get(env, `/upstreams/${u.id}/credentials`)).data) paths.push(`/credentials/${c.id}`);
  }
  for (const k of (await get(env, '/keys')).data) paths.push(`/keys/${k.id}`);
  return paths;
}

for (const backend of BACKENDS) {
  row.check(`(a) canaries never leak: logs, responses, data dir, database dump [${backend}]`, async (t) => {
    const fake = await startFakeUpstream();
    t.after(() => fake.close());
    const C = {
      cfgUpstream: `sk-ant-api03-CfgUp${hex()}`,
      apiUpstream: `sk-ant-api03-ApiUp${hex()}`,
      manyUpstream: `sk-ant-api03-ManyUp${hex()}`,
      createUpstream: `sk-ant-api03-CreateUp${hex()}`,
      invalidUpstream: `sk-ant-api03-Invalid ${hex()}`, // a space: refused, must not be echoed
      cfgClient: `ck-cfgclient-${hex()}`,
      admin: `adm-canary-${hex()}`,
      wrongClient: `ck-wrongclient-${hex()}`,
      wrongAdmin: `adm-wrongadmin-${hex()}`,
    };
    const visible = { cfgClient: 12 }; // the client key prefix (first 12) is shown by design
    const config = defaultConfig(fake.url, {
      upstream: { api_key: C.cfgUpstream },
      clientKeys: [{ name: 'cfg-client', key: C.cfgClient }],
    });
    const env = await startEnv(t, backend, { fake, config, adminKeys: C.admin });
    const responses = [];
    const rec = (r) => {
      responses.push(r);
      return r;
    };
    const api = async (m, p, b, o) => rec(await env.api(m, p, b, o));
    const raw = async (m, p, b, o) => rec(await env.raw(m, p, b, o));
    const msg = async (o) => rec(await env.messages(o));

    // --- admin CRUD with secrets
    assert.equal((await api('PATCH', '/settings', { log_level: 'trace' })).status, 200);
    const seeded = await seededUpstream(env);
    let r = await api('POST', `/upstreams/${seeded.id}/credentials`, { key: C.apiUpstream, label: 'canary' });
    assert.equal(r.status, 201, describeRes(r));
    r = await api('POST', `/upstreams/${seeded.id}/credentials`, { keys: [C.manyUpstream, C.manyUpstream, C.apiUpstream, C.cfgUpstream] });
    assert.equal(r.status, 201, describeRes(r));
    r = await api('POST', `/upstreams/${seeded.id}/credentials`, { key: C.invalidUpstream });
    assert.ok([400, 201].includes(r.status), describeRes(r));
    r = await api('POST', `/upstreams/${seeded.id}/credentials`, { keys: [C.invalidUpstream] });
    assert.ok([400, 201].includes(r.status), describeRes(r));
    r = await api('POST', '/upstreams', { name: 'second', base_url: fake.url, models: ['gpt-canary-*'], credentials: [C.createUpstream, C.createUpstream] });
    assert.equal(r.status, 201, describeRes(r));
    const second = r.json;
    r = await api('POST', '/upstreams', { name: 'second', base_url: fake.url, credentials: [C.createUpstream] }); // 409
    assert.equal(r.status, 409, describeRes(r));
    r = await api('POST', '/upstreams', { name: 'bad name', base_url: fake.url, credentials: [C.apiUpstream] }); // 400
    assert.equal(r.status, 400, describeRes(r));
    // the creation response is the one place a client key is shown (by design)
    const resA = await api('POST', '/keys', { name: 'api-client' });
    resA.allow = ['apiClient'];
    const resB = await api('POST', '/keys', { name: 'deleted-client' });
    resB.allow = ['deletedClient'];
    const keyA = resA.json;
    const keyB = resB.json;
    C.apiClient = keyA.key;
    C.deletedClient = keyB.key;
    visible.apiClient = 12;
    visible.deletedClient = 12;
    assert.match(C.apiClient, /^clv_/);
    await api('PATCH', `/keys/${keyA.id}`, { name: 'api-client-renamed', limits: { rpm: 1000 } });
    await api('PUT', '/prices/claude-canary-%2A', { input: 1, output: 2 });
    const creds = (await get(env, `/upstreams/${seeded.id}/credentials`)).data;
    for (const c of creds) await api('POST', `/credentials/${c.id}/test`);
    await api('PATCH', `/credentials/${creds[0].id}`, { label: 'relabelled' });

    // --- proxied traffic
    for (const key of [C.cfgClient, C.apiClient, C.deletedClient]) {
      assert.equal((await msg({ key })).status, 200);
      assert.equal((await msg({ key, stream: true })).status, 200);
      assert.equal((await msg({ key, bearer: true, model: 'gpt-canary-1' })).status, 200);
    }
    for (const sc of ['error:429', 'error:500', 'error:401', 'error:529', 'drop_after:3']) {
      await msg({ key: C.apiClient, scenario: sc, stream: sc.startsWith('drop') });
      // a 429 cools the credentials down, a 401 marks them invalid (with last_error, which the
      // scan covers): back to valid so that every scenario reaches the upstream
      await resetCredentialStates(env.clove);
    }
    await rec(await call(env.url, 'POST', '/v1/messages/count_tokens', { model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { key: C.apiClient, headers: { 'anthropic-version': '2023-06-01' } }));
    await rec(await call(env.url, 'GET', '/v1/models', undefined, { key: C.cfgClient, headers: { 'anthropic-version': '2023-06-01' } }));
    await msg({ key: C.wrongClient, localAddress: nextAddr() });
    await msg({ key: C.wrongClient, bearer: true, localAddress: nextAddr() });
    await msg({ key: C.admin, localAddress: nextAddr() }); // an admin key is no client key
    await api('GET', '/status', undefined, { key: C.wrongAdmin, localAddress: nextAddr() });
    await api('GET', '/status', undefined, { key: C.wrongAdmin, bearer: true, localAddress: nextAddr() });
    await api('GET', '/status', undefined, { key: C.apiClient, localAddress: nextAddr() }); // 403
    await raw('GET', '/metrics', undefined, { key: C.cfgClient, localAddress: nextAddr() });
    await api('DELETE', `/keys/${keyB.id}`);
    await msg({ key: C.deletedClient, localAddress: nextAddr() }); // 401 now
    await waitUsage(env, 9);

    const scanAll = async (stage) => {
      // every admin GET and /metrics
      for (const p of await adminGetPaths(env)) await api('GET', p);
      await raw('GET', '/metrics', undefined, { key: C.admin });
      const patterns = Object.entries(C).flatMap(([name, s]) => patternsFor(name, s, visible[name] ?? 0));
      const findings = [];
      responses.forEach((res, i) => {
        const head = `${res.status}\n${Object.entries(res.headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n')}\n`;
        const pats = res.allow ? patterns.filter((p) => !res.allow.includes(p.name)) : patterns;
        scanBuffer(`response #${i} ${res.method} ${res.path} (${res.status})`, Buffer.from(head + res.text), pats, findings);
      });
      for (const [i, c] of env.starts.entries()) {
        scanBuffer(`stdout of start #${i + 1}`, Buffer.from(c.stdoutLines.join('\n')), patterns, findings);
        scanBuffer(`stderr of start #${i + 1}`, Buffer.from(c.stderrLines.join('\n')), patterns, findings);
      }
      scanDataDir(env, patterns, findings);
      if (backend !== 'sqlite') scanBuffer('pg_dump', Buffer.from(await pgDump(env.dbUrl)), patterns, findings);
      return findings.map((f) => `[${stage}] ${f}`);
    };

    // the scan must have something to look at
    const files = filesUnder(env.dataDir).map((f) => path.relative(env.dataDir, f));
    if (backend === 'sqlite') assert.ok(files.includes('clove.db'), `data dir files: ${files}`);
    assert.ok(env.clove.stderrLines.length > 10, 'Clove logged (almost) nothing at trace level');
    assert.ok(responses.length > 30);
    const findings = await scanAll('running');
    // restart with --apply-config (seeding code paths run again), then scan again
    await env.restart({ config, adminKeys: C.admin, args: ['--apply-config'] });
    assert.equal((await msg({ key: C.cfgClient })).status, 200);
    assert.equal((await msg({ key: C.apiClient })).status, 200);
    findings.push(...(await scanAll('after --apply-config restart')));
    await env.stop();
    // once stopped (WAL checkpointed or not), the files again
    const patterns = Object.entries(C).flatMap(([name, s]) => patternsFor(name, s, visible[name] ?? 0));
    const stopped = [];
    scanDataDir(env, patterns, stopped, ' (stopped)');
    findings.push(...stopped);
    // sanity: the scanner does find what the fake upstream legitimately received
    const upstreamSeen = Buffer.from(JSON.stringify(fake.requests.map((x) => x.rawHeaders)));
    const control = [];
    scanBuffer('fake upstream (control)', upstreamSeen, patternsFor('cfgUpstream', C.cfgUpstream), control);
    assert.ok(control.length > 0, 'the scanner failed its positive control');
    assert.deepEqual([...new Set(findings)], [], `secrets leaked:\n${[...new Set(findings)].join('\n')}`);
  });
}

// ---------------------------------------------------------------------------------------------
// (b) authorization matrix

/** Documented admin routes (method + templated path) from docs/admin-api.md. */
function documentedRoutes() {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'admin-api.md'), 'utf8');
  const out = new Set();
  for (const m of doc.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^\s`?]+)/g)) {
    // Clove's own routes only: the doc also names upstream endpoints (e.g. the health probes).
    if (m[2].startsWith('/admin/api') || m[2] === '/metrics') out.add(`${m[1]} ${m[2]}`);
  }
  return out;
}

/** What unauthorised requests must not change (a key's usage and last_used_at may move). */
async function adminState(env, up) {
  return {
    upstreams: (await get(env, '/upstreams')).data,
    creds: (await get(env, `/upstreams/${up.id}/credentials`)).data,
    keys: (await get(env, '/keys')).data.map(({ usage, last_used_at, ...k }) => k),
    settings: await get(env, '/settings'),
    prices: (await get(env, '/prices')).data,
  };
}

row.check('(b) authorization matrix: every admin route × wrong credentials → 401/403, never 2xx', async (t) => {
  const ADMIN = `adm-matrix-${hex()}`;
  const env = await startEnv(t, 'sqlite', { adminKeys: ADMIN });
  const up = await seededUpstream(env);
  const cred = (await get(env, `/upstreams/${up.id}/credentials`)).data[0];
  const alice = await seededKey(env);
  const client = await create(env, '/keys', { name: 'matrix-client' });
  assert.equal((await env.api('PUT', '/prices/claude-sec-%2A', { input: 9, output: 9 })).status, 200);
  const second = await env.api('POST', '/admin-keys', { name: 'matrix-second' });
  assert.equal(second.status, 201, describeRes(second));
  const before = await adminState(env, up);

  const routes = [
    ['GET', '/admin/api/status', '/admin/api/status'],
    ['GET', '/admin/api/upstreams', '/admin/api/upstreams'],
    ['POST', '/admin/api/upstreams', '/admin/api/upstreams', { name: 'authz-up', base_url: 'http://127.0.0.1:9' }],
    ['GET', '/admin/api/upstreams/{id}', `/admin/api/upstreams/${up.id}`],
    ['PATCH', '/admin/api/upstreams/{id}', `/admin/api/upstreams/${up.id}`, { priority: 5 }],
    ['DELETE', '/admin/api/upstreams/{id}', `/admin/api/upstreams/${up.id}`],
    ['GET', '/admin/api/upstreams/{id}/credentials', `/admin/api/upstreams/${up.id}/credentials`],
    ['POST', '/admin/api/upstreams/{id}/credentials', `/admin/api/upstreams/${up.id}/credentials`, { key: 'sk-authz-attempt-123' }],
    ['GET', '/admin/api/credentials/{id}', `/admin/api/credentials/${cred.id}`],
    ['PATCH', '/admin/api/credentials/{id}', `/admin/api/credentials/${cred.id}`, { enabled: false }],
    ['DELETE', '/admin/api/credentials/{id}', `/admin/api/credentials/${cred.id}`],
    ['POST', '/admin/api/credentials/{id}/test', `/admin/api/credentials/${cred.id}/test`],
    ['POST', '/admin/api/keys', '/admin/api/keys', { name: 'authz-key' }],
    ['GET', '/admin/api/keys', '/admin/api/keys'],
    ['GET', '/admin/api/keys/{id}', `/admin/api/keys/${alice.id}`],
    ['PATCH', '/admin/api/keys/{id}', `/admin/api/keys/${alice.id}`, { enabled: false }],
    ['DELETE', '/admin/api/keys/{id}', `/admin/api/keys/${alice.id}`],
    ['GET', '/admin/api/settings', '/admin/api/settings'],
    ['PATCH', '/admin/api/settings', '/admin/api/settings', { log_level: 'off' }],
    ['GET', '/admin/api/prices', '/admin/api/prices'],
    ['PUT', '/admin/api/prices/{model}', '/admin/api/prices/claude-sec-%2A', { input: 1, output: 1 }],
    ['DELETE', '/admin/api/prices/{model}', '/admin/api/prices/claude-sec-%2A'],
    ['GET', '/admin/api/usage/requests', '/admin/api/usage/requests?limit=10'],
    ['GET', '/admin/api/usage/summary', '/admin/api/usage/summary?group_by=key'],
    ['GET', '/admin/api/usage/latency', '/admin/api/usage/latency'],
    ['GET', '/admin/api/admin-keys', '/admin/api/admin-keys'],
    ['POST', '/admin/api/admin-keys', '/admin/api/admin-keys', { name: 'authz-admin' }],
    ['DELETE', '/admin/api/admin-keys/{id}', `/admin/api/admin-keys/${second.json.id}`],
    ['GET', '/admin/api/audit', '/admin/api/audit?limit=10'],
    ['GET', '/admin/api/cache', '/admin/api/cache'],
    ['GET', '/metrics', '/metrics'],
  ];
  const covered = new Set(routes.map(([m, tpl]) => `${m} ${tpl}`));
  const missing = [...documentedRoutes()].filter((r) => !covered.has(r));
  assert.deepEqual(missing, [], `documented routes missing from the matrix: ${missing.join(', ')}`);

  const wrong = `adm-wrong-${hex()}`;
  const b64 = (s) => Buffer.from(s).toString('base64');
  const variants = [
    ['no credentials', {}, 401],
    ['wrong x-api-key', { 'x-api-key': wrong }, 401],
    ['wrong Bearer', { authorization: `Bearer ${wrong}` }, 401],
    ['empty x-api-key', { 'x-api-key': '' }, 401],
    ['admin key prefix', { 'x-api-key': ADMIN.slice(0, -1) }, 401],
    ['API client key via x-api-key', { 'x-api-key': client.key }, 403],
    ['API client key via Bearer', { authorization: `Bearer ${client.key}` }, 403],
    ['config client key via x-api-key', { 'x-api-key': 'ck-alice-123' }, 403],
    ['admin key in the query string', { query: `api_key=${ADMIN}&key=${ADMIN}&x-api-key=${ADMIN}&access_token=${ADMIN}&token=${ADMIN}&admin_key=${ADMIN}` }, 401],
    ['admin key in x-admin-key', { 'x-admin-key': ADMIN }, 401],
    ['admin key as bare Authorization', { authorization: ADMIN }, 401],
    ['admin key as Basic auth', { authorization: `Basic ${b64(`${ADMIN}:`)}` }, 401],
    ['admin key as Basic auth password', { authorization: `Basic ${b64(`admin:${ADMIN}`)}` }, 401],
    ['admin key in a cookie', { cookie: `admin_key=${ADMIN}; x-api-key=${ADMIN}` }, 401],
  ];
  const problems = [];
  let n = 0;
  let addr = nextAddr();
  for (const [method, tpl, p, body] of routes) {
    for (const [label, v, expect] of variants) {
      if (n++ % 4 === 0) addr = nextAddr(); // stay far below the failed-login limit per address
      const { query, ...headers } = v;
      const url = query ? `${p}${p.includes('?') ? '&' : '?'}${query}` : p;
      const r = await call(env.url, method, url, body, { headers, localAddress: addr });
      if (r.status >= 200 && r.status < 300) problems.push(`${method} ${tpl} with ${label}: ${r.status} (ACCESS GRANTED) ${r.text.slice(0, 200)}`);
      else if (r.status !== expect) problems.push(`${method} ${tpl} with ${label}: ${r.status}, expected ${expect}: ${r.text.slice(0, 200)}`);
      else if (r.json?.type !== 'error' || !r.json?.error?.type) problems.push(`${method} ${tpl} with ${label}: not an error object: ${r.text.slice(0, 200)}`);
    }
  }
  // admin route spellings that a normaliser might route without checking the key
  for (const p of [
    '/admin/api//status',
    '//admin/api/status',
    '/admin/api/status/',
    '/admin/api/./status',
    '/admin/api/x/../status',
    '/admin/api/%73tatus',
    '/admin%2Fapi%2Fstatus',
    '/Admin/api/status',
    '/ADMIN/API/UPSTREAMS',
    '/admin/api/upstreams;x=1',
    '/admin/api/upstreams?x-api-key=x',
    '/v1/../admin/api/keys',
    '/metrics/',
    '//metrics',
    '/v1/messages/../../admin/api/keys',
  ]) {
    addr = nextAddr();
    for (const [label, headers] of [
      ['no key', {}],
      ['client key', { 'x-api-key': client.key }],
    ]) {
      const r = await call(env.url, 'GET', p, undefined, { headers, localAddress: addr });
      if (r.status >= 200 && r.status < 300) problems.push(`GET ${p} with ${label}: ${r.status} (ACCESS GRANTED) ${r.text.slice(0, 200)}`);
    }
  }
  // admin keys are not client keys
  for (const [m, p, body] of [
    ['POST', '/v1/messages', { model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }],
    ['POST', '/v1/messages/count_tokens', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }],
    ['GET', '/v1/models', undefined],
  ]) {
    for (const bearer of [false, true]) {
      const r = await call(env.url, m, p, body, { key: ADMIN, bearer, headers: { 'anthropic-version': '2023-06-01' }, localAddress: nextAddr() });
      if (r.status !== 401) problems.push(`${m} ${p} with the admin key${bearer ? ' (Bearer)' : ''}: ${r.status}, expected 401`);
    }
  }
  assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'a request reached the upstream with an admin key');

  // nothing changed
  const after = await adminState(env, up);
  const strip = (o) => JSON.parse(JSON.stringify(o, (k, v) => (k === 'last_used_at' ? undefined : v)));
  if (env.fake.requestsTo('/v1/models').length) problems.push('an unauthorised credential test reached the upstream');
  if (JSON.stringify(strip(after)) !== JSON.stringify(strip(before))) problems.push(`state changed by unauthorised requests:\nbefore ${JSON.stringify(before)}\nafter  ${JSON.stringify(after)}`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// (c) injection

const PAYLOADS = [
  "' OR 1=1 --",
  "' OR '1'='1",
  '"; DROP TABLE usage; --',
  "'); DROP TABLE upstreams; --",
  '1; DELETE FROM client_keys; --',
  "' UNION SELECT name FROM sqlite_master --",
  "' || pg_sleep(3) || '",
  "1' AND (SELECT 1 FROM pg_sleep(3)) IS NULL --",
  '\u0000',
  'a\u0000b',
  '%27',
  '%00',
  '$1',
  '\\',
  '*/--',
  '名前🙂é\u202eevil',
  '\ud800',
  '\u2028\u2029',
  'x'.repeat(70000),
];
const PATH_PAYLOADS = PAYLOADS.map((s) => (s.length > 5000 ? s.slice(0, 5000) : s));
/** encodeURIComponent, but a lone surrogate becomes its (invalid UTF-8) WTF-8 bytes instead of throwing. */
function enc(s) {
  try {
    return encodeURIComponent(s);
  } catch {
    return s.replace(/[\ud800-\udfff]/g, '\u0001').split('\u0001').map(encodeURIComponent).join('%ED%A0%80');
  }
}
const OK_STATUSES = new Set([200, 201, 204, 400, 404, 409]);

async function tableList(env) {
  if (env.backend === 'sqlite') {
    return sqlite(path.join(env.dataDir, 'clove.db'), "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").trim().split('\n').filter(Boolean);
  }
  return (await psql(env.dbUrl, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")).trim().split('\n').filter(Boolean);
}

for (const backend of BACKENDS) {
  row.check(`(c) injection payloads in every field, parameter and path id: no 500, no delay, database intact [${backend}]`, async (t) => {
    const env = await startEnv(t, backend);
    const tablesBefore = await tableList(env);
    assert.ok(tablesBefore.length > 0, 'no tables found');
    assert.equal((await env.messages()).status, 200);
    const usageBefore = (await waitUsage(env, 1)).length;
    const target = await create(env, '/upstreams', { name: 'inj-target', base_url: 'http://127.0.0.1:9', models: ['inj-*'] });
    const tcred = (await env.api('POST', `/upstreams/${target.id}/credentials`, { key: 'sk-inj-target-0001' })).json.data[0].credential;
    const tkey = await create(env, '/keys', { name: 'inj-key' });
    const problems = [];
    let count = 0;
    const check = async (label, method, p, body) => {
      count++;
      let r;
      try {
        r = await env.api(method, p, body, { timeoutMs: 10000 });
      } catch (err) {
        problems.push(`${label}: ${method} ${p.slice(0, 100)}: request failed: ${err.message}`);
        return;
      }
      if (!OK_STATUSES.has(r.status)) problems.push(`${label}: ${method} ${p.slice(0, 100)} → ${r.status} ${r.text.slice(0, 200)}`);
      if (r.ms > 2500) problems.push(`${label}: ${method} ${p.slice(0, 100)} took ${r.ms} ms`);
      if (r.status >= 400 && (r.json?.type !== 'error' || !r.json?.error)) problems.push(`${label}: ${r.status} is not an error object: ${r.text.slice(0, 200)}`);
      return r;
    };
    for (const [i, s] of PAYLOADS.entries()) {
      const L = `payload #${i} ${JSON.stringify(s.slice(0, 40))}`;
      const base = { name: `inj-${i}`, base_url: 'http://127.0.0.1:9' };
      for (const [f, body] of [
        ['name', { ...base, name: s }],
        ['kind', { ...base, kind: s }],
        ['base_url', { ...base, base_url: s }],
        ['auth', { ...base, auth: s }],
        ['models[0]', { ...base, name: `inj-m-${i}`, models: [s] }],
        ['model_map key', { ...base, name: `inj-mk-${i}`, model_map: { [s]: 'claude-x' } }],
        ['model_map value', { ...base, name: `inj-mv-${i}`, model_map: { 'inj-alias': s } }],
        ['credentials[0]', { ...base, name: `inj-c-${i}`, credentials: [s] }],
        ['priority', { ...base, priority: s }],
        ['weight', { ...base, weight: s }],
        ['enabled', { ...base, enabled: s }],
        ['connect_timeout_ms', { ...base, connect_timeout_ms: s }],
        ['unknown field name', { ...base, [s]: 1 }],
      ]) {
        await check(`${L} POST upstreams ${f}`, 'POST', '/upstreams', body);
      }
      for (const [f, body] of [
        ['name', { name: s }],
        ['base_url', { base_url: s }],
        ['models', { models: [s] }],
        ['model_map', { model_map: { [s]: s } }],
        ['auth', { auth: s }],
        ['priority', { priority: s }],
        ['enabled', { enabled: s }],
      ]) {
        await check(`${L} PATCH upstream ${f}`, 'PATCH', `/upstreams/${target.id}`, body);
      }
      await check(`${L} POST credentials key`, 'POST', `/upstreams/${target.id}/credentials`, { key: s });
      await check(`${L} POST credentials keys`, 'POST', `/upstreams/${target.id}/credentials`, { keys: [s, `sk-inj-valid-${i}-0001`] });
      await check(`${L} POST credentials label`, 'POST', `/upstreams/${target.id}/credentials`, { key: `sk-inj-label-${i}-0001`, label: s });
      await check(`${L} PATCH credential label`, 'PATCH', `/credentials/${tcred.id}`, { label: s });
      await check(`${L} PATCH credential enabled`, 'PATCH', `/credentials/${tcred.id}`, { enabled: s });
      await check(`${L} POST admin-keys name`, 'POST', '/admin-keys', { name: s });
      for (const [f, body] of [
        ['name', { name: s }],
        ['expires_at', { name: `inj-k-e-${i}`, expires_at: s }],
        ['allowed_models', { name: `inj-k-a-${i}`, allowed_models: [s] }],
        ['limits.budget_period', { name: `inj-k-b-${i}`, limits: { budget_period: s } }],
        ['limits.rpm', { name: `inj-k-r-${i}`, limits: { rpm: s } }],
      ]) {
        await check(`${L} POST keys ${f}`, 'POST', '/keys', body);
        const { name, ...patch } = body;
        await check(`${L} PATCH key ${f}`, 'PATCH', `/keys/${tkey.id}`, f === 'name' ? { name: s } : patch);
      }
      for (const body of [{ log_level: s }, { outbound_proxy: s }, { usage_retention_days: s }, { default_limits: { budget_period: s } }]) {
        await check(`${L} PATCH settings ${Object.keys(body)[0]}`, 'PATCH', '/settings', body);
      }
      const ps = PATH_PAYLOADS[i];
      const e = enc(ps);
      await check(`${L} PUT price path`, 'PUT', `/prices/${e}`, { input: 1, output: 1 });
      await check(`${L} DELETE price path`, 'DELETE', `/prices/${e}`);
      await check(`${L} PUT price input`, 'PUT', '/prices/inj-model', { input: s, output: 1 });
      for (const [m, p] of [
        ['GET', `/upstreams/${e}`],
        ['PATCH', `/upstreams/${e}`],
        ['DELETE', `/upstreams/${e}`],
        ['GET', `/upstreams/${e}/credentials`],
        ['POST', `/upstreams/${e}/credentials`],
        ['GET', `/credentials/${e}`],
        ['PATCH', `/credentials/${e}`],
        ['DELETE', `/credentials/${e}`],
        ['POST', `/credentials/${e}/test`],
        ['GET', `/keys/${e}`],
        ['PATCH', `/keys/${e}`],
        ['DELETE', `/keys/${e}`],
      ]) {
        const body = m === 'PATCH' ? { enabled: true } : m === 'POST' && p.endsWith('/credentials') ? { key: 'sk-inj-path-0001' } : undefined;
        await check(`${L} ${m} path id`, m, p, body);
      }
      for (const q of ['key_id', 'upstream_id', 'credential_id', 'model', 'status', 'from', 'to', 'cursor', 'limit']) {
        await check(`${L} usage/requests ?${q}`, 'GET', `/usage/requests?${q}=${e}`);
      }
      for (const q of ['group_by', 'from', 'to']) {
        await check(`${L} usage/summary ?${q}`, 'GET', `/usage/summary?${q === 'group_by' ? '' : 'group_by=key&'}${q}=${e}`);
      }
      for (const q of ['from', 'to']) await check(`${L} usage/latency ?${q}`, 'GET', `/usage/latency?${q}=${e}`);
      await check(`${L} DELETE admin-keys path id`, 'DELETE', `/admin-keys/${e}`);
      await check(`${L} audit ?cursor`, 'GET', `/audit?cursor=${e}`);
      await check(`${L} audit ?limit`, 'GET', `/audit?limit=${e}`);
    }
    // a few raw (unencoded) path ids
    for (const p of ["/upstreams/'OR'1'='1", '/keys/1;DROP%20TABLE%20usage', "/credentials/'%00", '/upstreams/%27%20OR%201=1--']) {
      await check(`raw path ${p}`, 'GET', p);
    }
    await check('raw path /prices/%27;DROP', 'DELETE', '/prices/%27;DROP');
    assert.deepEqual(problems, [], `${problems.length} of ${count} injection requests misbehaved:\n${problems.slice(0, 60).join('\n')}`);

    // the database is intact and the gateway still works
    const ups = (await get(env, '/upstreams')).data;
    assert.ok(ups.some((u) => u.name === 'fake') && ups.some((u) => u.name === 'inj-target'), 'upstreams lost');
    const keys = (await get(env, '/keys')).data;
    assert.ok(keys.some((k) => k.name === 'alice'), 'client keys lost');
    for (const p of ['/settings', '/prices', '/audit?limit=5', '/usage/summary?group_by=key', '/status']) await get(env, p);
    const r = await env.messages();
    assert.equal(r.status, 200, describeRes(r));
    await waitUsage(env, usageBefore + 1);
    await env.stop();
    const tablesAfter = await tableList(env);
    assert.deepEqual(tablesAfter, tablesBefore, 'the set of tables changed');
    if (backend === 'sqlite') assert.equal(sqlite(path.join(env.dataDir, 'clove.db'), 'PRAGMA integrity_check').trim(), 'ok');
  });
}

// ---------------------------------------------------------------------------------------------
// (d) failed-login limiting

row.check('(d) 10 failed admin logins from one address → the 11th gets 429 with retry-after', async (t) => {
  const ADMIN = `adm-limit-${hex()}`;
  const env = await startEnv(t, 'sqlite', { adminKeys: ADMIN });
  const a = nextAddr();
  const statuses = [];
  for (let i = 0; i < 10; i++) {
    const r = await env.api('GET', '/status', undefined, { key: `adm-wrong-${i}-${hex(8)}`, localAddress: a, headers: { 'x-forwarded-for': `10.9.8.${i}`, 'x-real-ip': `10.9.7.${i}` } });
    statuses.push(r.status);
  }
  assert.deepEqual(statuses, Array(10).fill(401), 'the first 10 wrong keys get 401');
  const r11 = await env.api('GET', '/status', undefined, { key: `adm-wrong-11-${hex(8)}`, localAddress: a, headers: { 'x-forwarded-for': '10.9.8.99' } });
  assert.equal(r11.status, 429, describeRes(r11));
  assert.equal(r11.json?.error?.type, 'rate_limit_error', r11.text);
  const ra = r11.headers['retry-after'];
  assert.match(String(ra), /^\d+$/, `retry-after ${ra}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= 60, `retry-after ${ra}`);
  // a valid key from the same address is refused too, until the window ends
  const valid = await env.api('GET', '/status', undefined, { key: ADMIN, localAddress: a });
  assert.equal(valid.status, 429, `valid key during the lockout: ${describeRes(valid)}`);
  const bearer = await env.api('GET', '/upstreams', undefined, { key: ADMIN, bearer: true, localAddress: a });
  assert.equal(bearer.status, 429, describeRes(bearer));
  const metrics = await env.raw('GET', '/metrics', undefined, { key: ADMIN, localAddress: a });
  assert.equal(metrics.status, 429, `/metrics during the lockout: ${describeRes(metrics)}`);
  // another address is not affected
  const other = await env.api('GET', '/status', undefined, { key: ADMIN, localAddress: nextAddr() });
  assert.equal(other.status, 200, describeRes(other));
  // the lockout did not break proxying for clients
  assert.equal((await env.messages({ localAddress: nextAddr() })).status, 200);
  await sleep(10);
});

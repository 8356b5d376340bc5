// Admin API: docs/admin-api.openapi.yaml against the server, both backends.
//
// - Every operation the document lists under `paths:` is a real route: called with the admin key
//   (real ids created here for {id}, a valid sample body where it documents one) it answers a 2xx
//   that the document lists for it, never 404 "unknown admin route".
// - A method a documented path does not list answers 405 (the path exists), while an undocumented
//   path answers 404 "unknown admin route" (so the check above means something).
// - Every route of Router::Dispatch (src/clove/admin/admin_api.cpp) is documented.
//
// No YAML dependency: parseOperations() reads only the `paths:` block, which the document keeps
// in plain block style (paths at two spaces, methods at four, response codes at eight).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/clove.mjs';
import { forEachBackend, startEnv, create, describeRes, randomKey } from './_admin.mjs';

const SPEC = path.join(REPO_ROOT, 'docs', 'admin-api.openapi.yaml');
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/**
 * The operations of an OpenAPI document's `paths:` block:
 * [{path, method (upper case), statuses: Set<string>, hasBody}].
 */
export function parseOperations(text) {
  const ops = [];
  let inPaths = false;
  let cur = null; // current path
  let op = null; // current operation
  let inResponses = false;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*(#.*)?$/.test(raw)) continue; // blank or comment
    if (/^\S/.test(raw)) {
      inPaths = /^paths:\s*$/.test(raw);
      cur = op = null;
      continue;
    }
    if (!inPaths) continue;
    let m;
    if ((m = /^ {2}(\/\S*?):\s*$/.exec(raw))) {
      cur = m[1].replace(/^(['"])(.*)\1$/, '$2');
      op = null;
      continue;
    }
    if ((m = /^ {4}([A-Za-z]+):/.exec(raw))) {
      op = null;
      if (cur && HTTP_METHODS.includes(m[1])) {
        op = { path: cur, method: m[1].toUpperCase(), statuses: new Set(), hasBody: false };
        ops.push(op);
      }
      continue;
    }
    if (!op) continue;
    if ((m = /^ {6}([A-Za-z]+):/.exec(raw))) {
      inResponses = m[1] === 'responses';
      if (m[1] === 'requestBody') op.hasBody = true;
      continue;
    }
    if (inResponses && (m = /^ {8}['"]?([1-5][0-9X]{2}|default)['"]?:/.exec(raw))) op.statuses.add(m[1]);
  }
  return ops;
}

const opKey = (o) => `${o.method} ${o.path}`;

/** Every route of Router::Dispatch plus the two handled before it (credential test, /metrics). */
const ROUTES = [
  'GET /admin/api/status',
  'GET /admin/api/cache',
  'GET /admin/api/upstreams',
  'POST /admin/api/upstreams',
  'GET /admin/api/upstreams/{id}',
  'PATCH /admin/api/upstreams/{id}',
  'DELETE /admin/api/upstreams/{id}',
  'GET /admin/api/upstreams/{id}/credentials',
  'POST /admin/api/upstreams/{id}/credentials',
  'GET /admin/api/credentials/{id}',
  'PATCH /admin/api/credentials/{id}',
  'DELETE /admin/api/credentials/{id}',
  'POST /admin/api/credentials/{id}/test',
  'GET /admin/api/keys',
  'POST /admin/api/keys',
  'GET /admin/api/keys/{id}',
  'PATCH /admin/api/keys/{id}',
  'DELETE /admin/api/keys/{id}',
  'GET /admin/api/settings',
  'PATCH /admin/api/settings',
  'PUT /admin/api/settings',
  'GET /admin/api/prices',
  'PUT /admin/api/prices/{model}',
  'DELETE /admin/api/prices/{model}',
  'GET /admin/api/usage/requests',
  'GET /admin/api/usage/summary',
  'GET /admin/api/usage/latency',
  'GET /admin/api/admin-keys',
  'POST /admin/api/admin-keys',
  'DELETE /admin/api/admin-keys/{id}',
  'GET /admin/api/audit',
  'GET /metrics',
];

let seq = 0;
const uniq = () => `${process.pid}-${++seq}`;

/** A valid request body for each operation that documents one. */
const BODIES = {
  'POST /admin/api/upstreams': (env) => ({ name: `oa-new-${uniq()}`, base_url: env.fake.url }),
  'PATCH /admin/api/upstreams/{id}': () => ({ weight: 2 }),
  'POST /admin/api/upstreams/{id}/credentials': () => ({ keys: [randomKey('sk-oa-')], label: 'openapi' }),
  'PATCH /admin/api/credentials/{id}': () => ({ label: 'openapi' }),
  'POST /admin/api/keys': () => ({ name: `oa-new-key-${uniq()}` }),
  'PATCH /admin/api/keys/{id}': () => ({ limits: { rpm: 100 } }),
  'PATCH /admin/api/settings': () => ({ usage_retention_days: 90 }),
  'PUT /admin/api/settings': () => ({ log_level: 'info' }),
  'PUT /admin/api/prices/{model}': () => ({ input: 1, output: 2 }),
  'POST /admin/api/admin-keys': () => ({ name: `oa-admin-${uniq()}` }),
};

/**
 * Fresh resources for one call: an upstream with a credential, a client key, a custom price, an
 * admin key created through the API (a real `adm_…` id for DELETE /admin/api/admin-keys/{id}).
 */
async function fixtures(env) {
  const n = uniq();
  const up = await create(env, '/upstreams', { name: `oa-up-${n}`, base_url: env.fake.url });
  const added = await create(env, `/upstreams/${up.id}/credentials`, { key: randomKey('sk-oa-') });
  assert.ok(added.data?.[0]?.ok, `credential not added: ${JSON.stringify(added)}`);
  const key = await create(env, '/keys', { name: `oa-key-${n}` });
  const model = `oa-model-${n}-*`;
  const r = await env.api('PUT', `/prices/${encodeURIComponent(model)}`, { input: 1, output: 2 });
  assert.equal(r.status, 200, describeRes(r));
  const adminKey = await create(env, '/admin-keys', { name: `oa-admin-${n}` });
  assert.match(String(adminKey.id), /^adm_/, `admin key id: ${JSON.stringify(adminKey)}`);
  return { upstreams: up.id, credentials: added.data[0].credential.id, keys: key.id, 'admin-keys': adminKey.id, model };
}

function fill(p, fx) {
  return p
    .replace(/\/(upstreams|credentials|keys|admin-keys)\/\{id\}/g, (_, r) => `/${r}/${fx[r]}`)
    .replace('{model}', encodeURIComponent(fx.model));
}

const isUnknownRoute = (r) => r.status === 404 && r.json?.error?.message === 'unknown admin route';

const operations = parseOperations(fs.readFileSync(SPEC, 'utf8'));

test('the OpenAPI document lists every admin route (and the parser reads it)', () => {
  assert.ok(operations.length > 0, `no operations parsed from ${SPEC}`);
  for (const o of operations) assert.ok(o.statuses.size > 0, `${opKey(o)}: no response codes parsed`);
  const documented = new Set(operations.map(opKey));
  assert.equal(documented.size, operations.length, 'an operation is listed twice');
  const missing = ROUTES.filter((k) => !documented.has(k));
  assert.deepEqual(missing, [], `routes of the server missing from ${path.relative(REPO_ROOT, SPEC)}`);
  const noSample = operations.filter((o) => o.hasBody && !BODIES[opKey(o)]).map(opKey);
  assert.deepEqual(noSample, [], 'operations with a request body but no sample body in this test');
});

forEachBackend('OpenAPI document', (backend) => {
  test('every documented path and method is a route answering a documented 2xx', async (t) => {
    const env = await startEnv(t, backend);
    const problems = [];
    for (const o of operations) {
      const fx = await fixtures(env);
      const url = fill(o.path, fx);
      if (/[{}]/.test(url)) {
        problems.push(`${opKey(o)}: no real value for a path parameter of ${url} (extend fixtures()/fill())`);
        continue;
      }
      const sample = BODIES[opKey(o)];
      const r = await env.raw(o.method, url, sample ? sample(env) : undefined, { key: env.adminKey });
      const where = `${opKey(o)} (${o.method} ${url}) → ${r.status} ${String(r.text).slice(0, 200)}`;
      if (isUnknownRoute(r)) {
        problems.push(`${where}: not a route`);
        continue;
      }
      if (!o.statuses.has(String(r.status))) problems.push(`${where}: status not documented (${[...o.statuses].join(', ')})`);
      if (r.status < 200 || r.status >= 300) problems.push(`${where}: expected a 2xx for a valid call`);
      if (r.status === 200 && o.method !== 'HEAD') {
        const want = o.path === '/metrics' ? /^text\/plain/ : /^application\/json/;
        if (!want.test(String(r.headers['content-type']))) problems.push(`${where}: content-type ${r.headers['content-type']}`);
      }
    }
    assert.deepEqual(problems, [], `documented operations not answered as documented:\n${problems.join('\n')}`);
  });

  test('an unlisted method on a documented path is 405; an undocumented path is 404', async (t) => {
    const env = await startEnv(t, backend);
    const fx = await fixtures(env);
    const problems = [];
    const byPath = new Map();
    for (const o of operations) byPath.set(o.path, [...(byPath.get(o.path) ?? []), o.method]);
    for (const [p, methods] of byPath) {
      const method = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].find((m) => !methods.includes(m));
      if (!method) continue;
      const r = await env.raw(method, fill(p, fx), undefined, { key: env.adminKey });
      if (r.status !== 405 || r.json?.error?.type !== 'invalid_request_error') problems.push(`${method} ${p}: ${describeRes(r)}`);
    }
    assert.deepEqual(problems, [], `unlisted methods not answered 405:\n${problems.join('\n')}`);
    for (const p of ['/admin/api/not-a-route', '/admin/api/usage', `/admin/api/upstreams/${fx.upstreams}/nothing`]) {
      const r = await env.raw('GET', p, undefined, { key: env.adminKey });
      assert.ok(isUnknownRoute(r), `an undocumented path must be 404 "unknown admin route": ${describeRes(r)}`);
    }
  });
});

// Admin API: client keys (docs/admin-api.md "Client keys"), both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicErrorProblems, CLIENT_KEY, UPSTREAM_KEY } from '../lib/clove.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  seededKey,
  assertError,
  describeRes,
  expect400s,
  expectRejectedPatches,
  expect404s,
  assertNames,
  waitAudit,
  auditFor,
  assertAuditShape,
  isTime,
  sleep,
  MODEL,
} from './_admin.mjs';

const DEFAULT_LIMITS = { rpm: null, tpm: null, input_tpm: null, output_tpm: null, daily_budget_usd: null, monthly_budget_usd: null, concurrency: null, budget_usd: null, budget_period: 'total' };
const KEY_FIELDS = ['id', 'name', 'prefix', 'enabled', 'created_at', 'last_used_at', 'expires_at', 'allowed_models', 'limits', 'usage'];

function assertKeyShape(k) {
  for (const f of KEY_FIELDS) assert.ok(f in k, `key object lacks "${f}": ${JSON.stringify(k)}`);
  assert.match(k.id, /^key_[A-Za-z0-9_-]+$/);
  assert.ok(isTime(k.created_at), `created_at ${k.created_at}`);
  assert.ok(k.last_used_at === null || isTime(k.last_used_at));
  assert.ok(k.expires_at === null || isTime(k.expires_at));
  for (const f of ['requests', 'input_tokens', 'output_tokens', 'cost_usd']) assert.equal(typeof k.usage[f], 'number', `usage.${f}`);
}

/** Expects the proxied request to be refused with 401 authentication_error before the upstream. */
async function expect401(env, key, what) {
  const before = env.fake.requestsTo('/v1/messages').length;
  const r = await env.messages({ key });
  assert.deepEqual(anthropicErrorProblems(r, 401, 'authentication_error'), [], `${what}: ${describeRes(r)}`);
  assert.equal(env.fake.requestsTo('/v1/messages').length, before, `${what}: the request reached the upstream`);
}

async function expect200(env, key, what, o = {}) {
  const r = await env.messages({ key, ...o });
  assert.equal(r.status, 200, `${what}: ${describeRes(r)}`);
  const rec = env.fake.requestsTo('/v1/messages').at(-1);
  assert.equal(rec.headers['x-api-key'], UPSTREAM_KEY, 'the upstream gets the upstream key');
  assert.ok(!JSON.stringify(rec.rawHeaders).includes(key), 'the client key reached the upstream');
  return r;
}

forEachBackend('client keys', (backend) => {
  test('create: key shown once (clv_ + 43 base62), never again in get/list/audit', async (t) => {
    const env = await startEnv(t, backend);
    const r = await env.api('POST', '/keys', { name: 'bob' });
    assert.equal(r.status, 201, describeRes(r));
    const k = r.json;
    assertKeyShape(k);
    assert.match(k.key, /^clv_[0-9A-Za-z]{43}$/, `generated key format: ${k.key}`);
    assert.equal(k.prefix, k.key.slice(0, 12));
    assert.equal(k.name, 'bob');
    assert.equal(k.enabled, true);
    assert.equal(k.last_used_at, null);
    assert.equal(k.expires_at, null);
    assert.deepEqual(k.allowed_models, []);
    assert.deepEqual(k.limits, DEFAULT_LIMITS);
    assert.deepEqual(k.usage, { requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 });

    const one = await env.api('GET', `/keys/${k.id}`);
    assert.equal(one.status, 200, describeRes(one));
    assert.ok(!('key' in one.json), 'GET /keys/{id} returns the key');
    assert.ok(!one.text.includes(k.key), 'the key appears in GET /keys/{id}');
    const { key: _secret, ...rest } = k;
    assert.deepEqual(one.json, rest);
    const list = await env.api('GET', '/keys');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(k.key), 'the key appears in the list');
    for (const x of list.json.data) assert.ok(!('key' in x));
    assert.deepEqual(
      list.json.data.map((x) => x.name).sort(),
      ['alice', 'bob'],
    );
    const a = await waitAudit(env, auditFor('create', k.id), 'key create');
    assertAuditShape(a);
    const audit = await env.api('GET', '/audit?limit=1000');
    assert.ok(!audit.text.includes(k.key), 'the key appears in the audit log');

    // keys are random and distinct
    const more = [];
    for (let i = 0; i < 3; i++) more.push((await create(env, '/keys', { name: `k${i}` })).key);
    assert.equal(new Set([k.key, ...more]).size, 4);
    assert.equal(new Set([k.key, ...more].map((x) => x.slice(0, 12))).size, 4, 'prefixes collide');
  });

  test('a created key works at once; disable/enable/delete take effect on the next request (+ audit)', async (t) => {
    const env = await startEnv(t, backend);
    const k = await create(env, '/keys', { name: 'bob' });
    await expect200(env, k.key, 'new key via x-api-key');
    await expect200(env, k.key, 'new key via Bearer', { bearer: true });

    let p = await env.api('PATCH', `/keys/${k.id}`, { enabled: false });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(p.json.enabled, false);
    assert.ok(!p.text.includes(k.key));
    await expect401(env, k.key, 'disabled key');
    await waitAudit(env, auditFor('update', k.id), 'key update');
    await expect200(env, CLIENT_KEY, 'the other keys still work');

    p = await env.api('PATCH', `/keys/${k.id}`, { enabled: true });
    assert.equal(p.status, 200, describeRes(p));
    await expect200(env, k.key, 're-enabled key');

    const d = await env.api('DELETE', `/keys/${k.id}`);
    assert.equal(d.status, 204, describeRes(d));
    await expect401(env, k.key, 'deleted key');
    await expect404s(env, [
      ['GET', `/keys/${k.id}`],
      ['PATCH', `/keys/${k.id}`, { enabled: true }],
      ['DELETE', `/keys/${k.id}`],
    ]);
    await waitAudit(env, auditFor('delete', k.id), 'key delete');

    // the seeded key can be disabled too (another key stays enabled)
    const carol = await create(env, '/keys', { name: 'carol' });
    const alice = await seededKey(env);
    assert.equal((await env.api('PATCH', `/keys/${alice.id}`, { enabled: false })).status, 200);
    await expect401(env, CLIENT_KEY, 'disabled seeded key');
    await expect200(env, carol.key, 'the remaining key');
  });

  test('with every client key disabled or deleted, requests still get 401 authentication_error', async (t) => {
    const env = await startEnv(t, backend);
    const alice = await seededKey(env);
    const bob = await create(env, '/keys', { name: 'bob' });
    assert.equal((await env.api('PATCH', `/keys/${alice.id}`, { enabled: false })).status, 200);
    assert.equal((await env.api('DELETE', `/keys/${bob.id}`)).status, 204);
    await expect401(env, CLIENT_KEY, 'disabled key, no enabled key left');
    await expect401(env, bob.key, 'deleted key, no enabled key left');
    await expect401(env, 'ck-never-existed-123', 'unknown key, no enabled key left');
  });

  test('expires_at: an expired key gets 401; moving or clearing the expiry applies at once', async (t) => {
    const env = await startEnv(t, backend);
    const past = new Date(Date.now() - 3600_000).toISOString();
    const k = await create(env, '/keys', { name: 'exp', expires_at: past });
    assert.equal(Date.parse(k.expires_at), Date.parse(past));
    await expect401(env, k.key, 'expired key');
    const future = new Date(Date.now() + 3600_000).toISOString();
    let p = await env.api('PATCH', `/keys/${k.id}`, { expires_at: future });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(Date.parse(p.json.expires_at), Date.parse(future));
    await expect200(env, k.key, 'key valid for another hour');
    p = await env.api('PATCH', `/keys/${k.id}`, { expires_at: past });
    await expect401(env, k.key, 'expired again');
    p = await env.api('PATCH', `/keys/${k.id}`, { expires_at: null });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(p.json.expires_at, null);
    await expect200(env, k.key, 'no expiry');

    // a key that expires in 1.5 s stops working by itself
    const soon = await create(env, '/keys', { name: 'soon', expires_at: new Date(Date.now() + 1500).toISOString() });
    await expect200(env, soon.key, 'before expiry');
    await sleep(2000);
    await expect401(env, soon.key, 'after expiry');
  });

  test('allowed_models: other models get 403 permission_error; change applies at once', async (t) => {
    const env = await startEnv(t, backend);
    const k = await create(env, '/keys', { name: 'haiku-only', allowed_models: ['claude-haiku-*'] });
    assert.deepEqual(k.allowed_models, ['claude-haiku-*']);
    const before = env.fake.requestsTo('/v1/messages').length;
    const denied = await env.messages({ key: k.key, model: MODEL });
    assert.deepEqual(anthropicErrorProblems(denied, 403, 'permission_error'), [], describeRes(denied));
    assert.equal(env.fake.requestsTo('/v1/messages').length, before);
    await expect200(env, k.key, 'allowed model', { model: 'claude-haiku-4-5' });
    const p = await env.api('PATCH', `/keys/${k.id}`, { allowed_models: [] });
    assert.equal(p.status, 200, describeRes(p));
    assert.deepEqual(p.json.allowed_models, []);
    await expect200(env, k.key, 'every model allowed now', { model: MODEL });
    await env.api('PATCH', `/keys/${k.id}`, { allowed_models: ['claude-sonnet-?-5', 'x-*'] });
    await expect200(env, k.key, '? glob', { model: MODEL });
    const d2 = await env.messages({ key: k.key, model: 'claude-haiku-4-5' });
    assert.deepEqual(anthropicErrorProblems(d2, 403, 'permission_error'), [], describeRes(d2));
  });

  test('limits and names round-trip; PATCH changes only what it names', async (t) => {
    const env = await startEnv(t, backend);
    const limits = { rpm: 60, tpm: 100000, input_tpm: 50000, output_tpm: 20000, daily_budget_usd: 2.5, monthly_budget_usd: 40, concurrency: 4, budget_usd: 12.5, budget_period: 'monthly' };
    const k = await create(env, '/keys', { name: 'alice@example.com Team-1.x_y', limits, enabled: false });
    assert.equal(k.name, 'alice@example.com Team-1.x_y');
    assert.deepEqual(k.limits, limits);
    assert.equal(k.enabled, false);
    await expect401(env, k.key, 'created disabled');
    const long = await create(env, '/keys', { name: 'N'.repeat(64), limits: { budget_usd: 0, budget_period: 'daily' } });
    assert.equal(long.name, 'N'.repeat(64));
    assert.equal(long.limits.budget_usd, 0);
    assert.equal(long.limits.budget_period, 'daily');

    const newLimits = { rpm: null, tpm: 5, input_tpm: null, output_tpm: null, daily_budget_usd: null, monthly_budget_usd: null, concurrency: null, budget_usd: null, budget_period: 'total' };
    const p = await env.api('PATCH', `/keys/${k.id}`, { limits: newLimits, name: 'renamed key' });
    assert.equal(p.status, 200, describeRes(p));
    assert.deepEqual(p.json.limits, newLimits);
    assert.equal(p.json.name, 'renamed key');
    assert.equal(p.json.enabled, false, 'enabled must not change');
    assert.equal(p.json.prefix, k.prefix);
    assert.equal(p.json.created_at, k.created_at);
    assert.deepEqual(await get(env, `/keys/${k.id}`), p.json);
  });

  test('names are unique (409), also on rename', async (t) => {
    const env = await startEnv(t, backend);
    assertError(await env.api('POST', '/keys', { name: 'alice' }), 409, 'invalid_request_error');
    const bob = await create(env, '/keys', { name: 'bob' });
    assertError(await env.api('PATCH', `/keys/${bob.id}`, { name: 'alice' }), 409, 'invalid_request_error');
    assert.equal((await get(env, `/keys/${bob.id}`)).name, 'bob');
    assert.equal((await get(env, '/keys')).data.length, 2);
  });

  test('validation: 400 with error.field; nothing stored; unknown ids 404', async (t) => {
    const env = await startEnv(t, backend);
    const w = (extra) => ({ name: 'v-key', ...extra });
    await expect400s(env, 'POST', '/keys', [
      ['missing name', {}, 'name'],
      ['empty name', w({ name: '' }), 'name'],
      ['65-char name', w({ name: 'k'.repeat(65) }), 'name'],
      ['name with a slash', w({ name: 'a/b' }), 'name'],
      ['name with a tab', w({ name: 'a\tb' }), 'name'],
      ['name with a quote', w({ name: "o'brien" }), 'name'],
      ['non-ASCII name', w({ name: 'zoë' }), 'name'],
      ['numeric name', w({ name: 7 }), 'name'],
      ['enabled as string', w({ enabled: 'yes' }), 'enabled'],
      ['expires_at not a time', w({ expires_at: 'tomorrow' }), 'expires_at'],
      ['expires_at a number', w({ expires_at: 12345 }), 'expires_at'],
      ['allowed_models a string', w({ allowed_models: 'claude-*' }), 'allowed_models'],
      ['allowed_models non-string item', w({ allowed_models: ['claude-*', 5] }), 'allowed_models[1]'],
      ['limits not an object', w({ limits: 5 }), 'limits'],
      ['limits.rpm 0', w({ limits: { rpm: 0 } }), 'limits.rpm'],
      ['limits.rpm -1', w({ limits: { rpm: -1 } }), 'limits.rpm'],
      ['limits.rpm 1.5', w({ limits: { rpm: 1.5 } }), 'limits.rpm'],
      ['limits.tpm 0', w({ limits: { tpm: 0 } }), 'limits.tpm'],
      ['limits.concurrency 0', w({ limits: { concurrency: 0 } }), 'limits.concurrency'],
      ['limits.budget_usd -0.01', w({ limits: { budget_usd: -0.01 } }), 'limits.budget_usd'],
      ['limits.budget_usd string', w({ limits: { budget_usd: '5' } }), 'limits.budget_usd'],
      ['limits.budget_period weekly', w({ limits: { budget_period: 'weekly' } }), 'limits.budget_period'],
      ['limits unknown field', w({ limits: { bogus: 1 } }), 'limits.bogus'],
      ['unknown field', w({ bogus: 1 }), 'bogus'],
      ['malformed JSON', '{"name": ', undefined],
      ['JSON array body', '["bob"]', undefined],
    ]);
    await assertNames(env, '/keys', ['alice'], 'an invalid request stored a key');
    const alice = await seededKey(env);
    await expectRejectedPatches(env, `/keys/${alice.id}`, alice, [
      ['empty name', { name: '' }, 'name'],
      ['enabled as number', { enabled: 0 }, 'enabled'],
      ['limits.rpm 0', { limits: { rpm: 0 } }, 'limits.rpm'],
      ['the key itself', { key: 'clv_attacker_chosen_value_00000000000000000000' }, 'key'],
      ['prefix is read-only', { prefix: 'clv_x' }, 'prefix'],
      ['unknown field', { bogus: 1 }, 'bogus'],
    ], 'a rejected PATCH changed the key');
    await expect404s(env, [
      ['GET', '/keys/key_doesnotexist'],
      ['PATCH', '/keys/key_doesnotexist', { enabled: false }],
      ['DELETE', '/keys/key_doesnotexist'],
    ]);
  });

  test('client keys never open the admin API (403); admin keys are not client keys (401)', async (t) => {
    const env = await startEnv(t, backend);
    const k = await create(env, '/keys', { name: 'bob' });
    for (const key of [k.key, CLIENT_KEY]) {
      for (const bearer of [false, true]) {
        const r = await env.api('GET', '/status', undefined, { key, bearer });
        assertError(r, 403, 'permission_error');
      }
    }
    const m = await env.messages({ key: env.adminKey });
    assert.deepEqual(anthropicErrorProblems(m, 401, 'authentication_error'), [], describeRes(m));
    const mb = await env.messages({ key: env.adminKey, bearer: true });
    assert.deepEqual(anthropicErrorProblems(mb, 401, 'authentication_error'), [], describeRes(mb));
    assert.equal(env.fake.requestsTo('/v1/messages').length, 0);
  });

  test('usage counters and last_used_at on the key object', async (t) => {
    const env = await startEnv(t, backend);
    const k = await create(env, '/keys', { name: 'bob' });
    await expect200(env, k.key, 'first');
    await expect200(env, k.key, 'second', { stream: true });
    const deadline = Date.now() + 5000;
    let g;
    for (;;) {
      g = await get(env, `/keys/${k.id}`);
      if (g.usage.requests >= 2 || Date.now() > deadline) break;
      await sleep(50);
    }
    assert.equal(g.usage.requests, 2, JSON.stringify(g));
    assert.ok(g.usage.input_tokens > 0 && g.usage.output_tokens > 0, JSON.stringify(g.usage));
    assert.ok(g.usage.cost_usd >= 0);
    assert.ok(isTime(g.last_used_at), `last_used_at ${g.last_used_at}`);
    const alice = await seededKey(env);
    assert.equal(alice.usage.requests, 0, 'requests of bob were counted for alice');
  });
});

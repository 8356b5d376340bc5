// Admin API: credentials (upstream keys), docs/admin-api.md "Credentials", both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { UPSTREAM_KEY } from '../lib/clove.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  seededUpstream,
  describeRes,
  expect400s,
  expect404s,
  waitAudit,
  auditFor,
  assertAuditShape,
  isTime,
  randomKey,
} from './_admin.mjs';

const CRED_FIELDS = ['id', 'upstream_id', 'label', 'hint', 'enabled', 'state', 'last_error', 'last_used_at', 'created_at'];

function assertCredShape(c, key) {
  for (const f of CRED_FIELDS) assert.ok(f in c, `credential lacks "${f}": ${JSON.stringify(c)}`);
  assert.match(c.id, /^cred_[A-Za-z0-9_-]+$/);
  assert.match(c.upstream_id, /^up_/);
  assert.ok(isTime(c.created_at), `created_at ${c.created_at}`);
  assert.ok(c.last_used_at === null || isTime(c.last_used_at), `last_used_at ${c.last_used_at}`);
  assert.ok(['valid', 'disabled', 'invalid', 'cooling_down'].includes(c.state), `state ${c.state}`);
  assert.ok(!('key' in c), 'credential carries its key');
  if (key) {
    assert.equal(typeof c.hint, 'string');
    assert.ok(!c.hint.includes(key), `hint ${c.hint} reveals the key`);
    assert.ok(c.hint.length < key.length, `hint ${c.hint} is not masked`);
    // masked like "sk-a…9xQz": the first and last 4 characters
    assert.ok(c.hint.startsWith(key.slice(0, 4)) && c.hint.endsWith(key.slice(-4)), `hint ${c.hint} for ${key.slice(0, 4)}…${key.slice(-4)}`);
  }
}

/** An Anthropic-like upstream whose answers the test scripts (for the credential test endpoint). */
async function scriptedUpstream() {
  let status = 401;
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, key: req.headers['x-api-key'], authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => {
      let body;
      if (status === 200) {
        body = JSON.stringify({
          data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }],
          has_more: true,
          first_id: 'claude-sonnet-4-5',
          last_id: 'claude-sonnet-4-5',
        });
      } else {
        const type = { 401: 'authentication_error', 403: 'permission_error', 500: 'api_error' }[status] ?? 'api_error';
        body = JSON.stringify({ type: 'error', error: { type, message: `scripted ${status} for the credential test` }, request_id: 'req_scripted' });
      }
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    set(s) {
      status = s;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

async function seededCredential(env) {
  const up = await seededUpstream(env);
  const list = await get(env, `/upstreams/${up.id}/credentials`);
  assert.equal(list.data.length, 1, JSON.stringify(list));
  return { up, cred: list.data[0] };
}

forEachBackend('credentials', (backend) => {
  test('seeded credential: masked hint, valid, key never returned', async (t) => {
    const env = await startEnv(t, backend);
    const { up, cred } = await seededCredential(env);
    assertCredShape(cred, UPSTREAM_KEY);
    assert.equal(cred.upstream_id, up.id);
    assert.equal(cred.enabled, true);
    assert.equal(cred.state, 'valid');
    assert.equal(cred.last_error, null);
    assert.deepEqual(await get(env, `/credentials/${cred.id}`), cred);
  });

  test('add one (with label), get, patch, delete (+ audit, counters on the upstream)', async (t) => {
    const env = await startEnv(t, backend);
    const { up } = await seededCredential(env);
    const k1 = randomKey('sk-ant-api03-k1-');
    const r = await env.api('POST', `/upstreams/${up.id}/credentials`, { key: k1, label: 'team-a' });
    assert.equal(r.status, 201, describeRes(r));
    assert.ok(!r.text.includes(k1), 'key echoed');
    assert.equal(r.json.data.length, 1, r.text);
    const item = r.json.data[0];
    assert.equal(item.index, 0);
    assert.equal(item.ok, true, r.text);
    const c = item.credential;
    assertCredShape(c, k1);
    assert.equal(c.label, 'team-a');
    assert.equal(c.upstream_id, up.id);
    assert.equal(c.enabled, true);
    assert.equal(c.state, 'valid');
    assert.deepEqual(await get(env, `/credentials/${c.id}`), c);
    assert.deepEqual((await get(env, `/upstreams/${up.id}`)).credentials, { total: 2, enabled: 2 });
    const a1 = await waitAudit(env, auditFor('create', c.id), 'credential create');
    assertAuditShape(a1);
    assert.ok(!JSON.stringify(a1).includes(k1), `key in audit: ${JSON.stringify(a1)}`);
    assert.ok(JSON.stringify(a1.detail ?? {}).includes(c.hint), `the audit detail shows the secret as its hint: ${JSON.stringify(a1)}`);

    // disable → state disabled, counters follow
    let p = await env.api('PATCH', `/credentials/${c.id}`, { enabled: false });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(p.json.enabled, false);
    assert.equal(p.json.state, 'disabled');
    assert.deepEqual((await get(env, `/upstreams/${up.id}`)).credentials, { total: 2, enabled: 1 });
    await waitAudit(env, auditFor('update', c.id), 'credential update');
    p = await env.api('PATCH', `/credentials/${c.id}`, { label: 'team-b' });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(p.json.label, 'team-b');
    assert.equal(p.json.enabled, false, 'label change kept enabled');
    p = await env.api('PATCH', `/credentials/${c.id}`, { enabled: true, label: 'team-c' });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal(p.json.enabled, true);
    assert.equal(p.json.state, 'valid');
    assert.equal(p.json.label, 'team-c');
    assert.ok(!p.text.includes(k1));

    await expect400s(env, 'PATCH', `/credentials/${c.id}`, [
      ['enabled as string', { enabled: 'no' }, 'enabled'],
      ['key is not patchable', { key: randomKey('sk-new-') }, 'key'],
      ['unknown field', { bogus: 1 }, 'bogus'],
      ['malformed JSON', '{"enabled":', undefined],
    ]);

    const del = await env.api('DELETE', `/credentials/${c.id}`);
    assert.equal(del.status, 204, describeRes(del));
    await expect404s(env, [
      ['GET', `/credentials/${c.id}`],
      ['DELETE', `/credentials/${c.id}`],
      ['PATCH', `/credentials/${c.id}`, { enabled: true }],
    ]);
    assert.equal((await get(env, `/upstreams/${up.id}/credentials`)).data.length, 1);
    assert.deepEqual((await get(env, `/upstreams/${up.id}`)).credentials, { total: 1, enabled: 1 });
    await waitAudit(env, auditFor('delete', c.id), 'credential delete');
  });

  test('add many: per-item results, duplicates reported and not stored twice', async (t) => {
    const env = await startEnv(t, backend);
    const { up, cred: seeded } = await seededCredential(env);
    const k1 = randomKey('sk-many-1-');
    const k2 = randomKey('sk-many-2-');
    const k3 = randomKey('sk-many-3-');
    const first = await env.api('POST', `/upstreams/${up.id}/credentials`, { key: k1 });
    assert.equal(first.status, 201, describeRes(first));
    const k1id = first.json.data[0].credential.id;

    const r = await env.api('POST', `/upstreams/${up.id}/credentials`, { keys: [k2, k3, k2, k1, UPSTREAM_KEY], label: 'bulk' });
    assert.equal(r.status, 201, describeRes(r));
    for (const k of [k1, k2, k3, UPSTREAM_KEY]) assert.ok(!r.text.includes(k), 'a key is echoed in the add-many response');
    const d = r.json.data;
    assert.equal(d.length, 5, r.text);
    assert.deepEqual(
      d.map((x) => x.index),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(
      d.map((x) => x.ok),
      [true, true, false, false, false],
      r.text,
    );
    assertCredShape(d[0].credential, k2);
    assertCredShape(d[1].credential, k3);
    assert.equal(d[0].credential.label, 'bulk');
    assert.notEqual(d[0].credential.id, d[1].credential.id);
    const dupOf = (x) => /duplicate of (cred_[A-Za-z0-9_-]+)/.exec(String(x.error))?.[1];
    assert.equal(dupOf(d[2]), d[0].credential.id, `item 2: ${JSON.stringify(d[2])}`);
    assert.equal(dupOf(d[3]), k1id, `item 3: ${JSON.stringify(d[3])}`);
    assert.equal(dupOf(d[4]), seeded.id, `item 4: ${JSON.stringify(d[4])}`);

    const list = await get(env, `/upstreams/${up.id}/credentials`);
    assert.equal(list.data.length, 4, JSON.stringify(list));
    assert.deepEqual((await get(env, `/upstreams/${up.id}`)).credentials, { total: 4, enabled: 4 });

    // the same key on another upstream is not a duplicate
    const other = await create(env, '/upstreams', { name: 'other', base_url: 'http://127.0.0.1:9' });
    const o = await env.api('POST', `/upstreams/${other.id}/credentials`, { keys: [k1] });
    assert.equal(o.status, 201, describeRes(o));
    assert.equal(o.json.data[0].ok, true, o.text);
  });

  test('key rules: 8–512 printable ASCII without spaces; invalid keys are never stored', async (t) => {
    const env = await startEnv(t, backend);
    const { up } = await seededCredential(env);
    const bad = [
      ['7 characters', 'sk-1234'],
      ['513 characters', `sk-${'a'.repeat(510)}`],
      ['a space', 'sk-with space-123'],
      ['a tab', 'sk-with\ttab-1234'],
      ['a newline', 'sk-with\nnewline-1'],
      ['non-ASCII', 'sk-ключ-12345678'],
      ['empty', ''],
    ];
    // Either the whole request is refused (400, error.field key / keys[i]) or the item fails
    // (201, ok:false); an invalid key is never stored.
    const problems = [];
    let expected = 1; // the seeded credential
    for (const [label, key] of bad) {
      for (const body of [{ key }, { keys: ['sk-valid-key-in-batch-' + label.replace(/\W/g, ''), key] }]) {
        const r = await env.api('POST', `/upstreams/${up.id}/credentials`, body);
        const single = 'key' in body;
        if (r.status === 400) {
          const f = r.json?.error?.field;
          if (r.json?.error?.type !== 'invalid_request_error') problems.push(`${label}: error.type ${r.json?.error?.type}`);
          if (!(single ? /^key$/ : /^keys(\[1\])?$/).test(String(f))) problems.push(`${label} (${single ? 'key' : 'keys'}): error.field ${f}`);
        } else if (r.status === 201) {
          const item = r.json?.data?.[single ? 0 : 1];
          if (!item || item.ok !== false || typeof item.error !== 'string') problems.push(`${label}: accepted: ${r.text.slice(0, 300)}`);
          if (!single && r.json?.data?.[0]?.ok === true) expected++;
        } else problems.push(`${label}: ${describeRes(r)}`);
      }
    }
    const list = await get(env, `/upstreams/${up.id}/credentials`);
    if (list.data.length !== expected) problems.push(`${list.data.length} credentials stored, expected ${expected}: ${JSON.stringify(list.data.map((c) => c.hint))}`);
    assert.deepEqual(problems, []);

    // the boundaries are accepted
    for (const key of ['abcdefgh', `sk-${'b'.repeat(509)}`, 'sk-!#$%&()*+,./:;<=>?@[]^_`{|}~']) {
      const r = await env.api('POST', `/upstreams/${up.id}/credentials`, { key });
      assert.equal(r.status, 201, `${key.length} chars: ${describeRes(r)}`);
      assert.equal(r.json.data[0].ok, true, r.text);
    }

    await expect400s(env, 'POST', `/upstreams/${up.id}/credentials`, [
      ['neither key nor keys', {}, undefined],
      ['keys not an array', { keys: 'sk-not-an-array-1' }, 'keys'],
      ['key not a string', { key: 12345678 }, 'key'],
      ['label not a string', { key: 'sk-label-not-string', label: 5 }, 'label'],
      ['unknown field', { key: 'sk-unknown-field-1', bogus: 1 }, 'bogus'],
      ['malformed JSON', '{"key": "sk-', undefined],
    ]);
  });

  test('unknown credential ids → 404', async (t) => {
    const env = await startEnv(t, backend);
    await expect404s(env, [
      ['GET', '/credentials/cred_doesnotexist'],
      ['PATCH', '/credentials/cred_doesnotexist', { enabled: false }],
      ['DELETE', '/credentials/cred_doesnotexist'],
      ['POST', '/credentials/cred_doesnotexist/test'],
      ['POST', '/upstreams/up_doesnotexist/credentials', { keys: ['sk-valid-but-no-upstream'] }],
    ]);
  });

  test('credential test: real minimal call, 401/403 mark invalid, success marks valid, enabling revalidates', async (t) => {
    const env = await startEnv(t, backend);
    const { cred } = await seededCredential(env);

    // against the fake upstream: ok
    const ok = await env.api('POST', `/credentials/${cred.id}/test`);
    assert.equal(ok.status, 200, describeRes(ok));
    assert.equal(ok.json.ok, true, ok.text);
    assert.equal(ok.json.status, 200);
    assert.equal(typeof ok.json.latency_ms, 'number');
    assert.ok(ok.json.latency_ms >= 0 && ok.json.latency_ms < 10000, ok.text);
    assert.equal(typeof ok.json.message, 'string');
    assert.ok(!ok.text.includes(UPSTREAM_KEY));
    const calls = env.fake.requests.filter((r) => r.path === '/v1/models');
    assert.equal(calls.length, 1, `fake saw: ${JSON.stringify(env.fake.requests.map((r) => r.url))}`);
    assert.equal(calls[0].method, 'GET');
    assert.equal(new URLSearchParams(calls[0].query).get('limit'), '1');
    assert.equal(calls[0].headers['x-api-key'], UPSTREAM_KEY);
    assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'the test must not spend tokens');
    await waitAudit(env, (e) => e.resource_id === cred.id && /test/i.test(`${e.action} ${JSON.stringify(e.detail)}`), 'credential test', {
      timeoutMs: 1000,
    }).catch(() => {
      /* auditing a test is not required by the contract */
    });

    // a scripted upstream: 401 → invalid
    const sc = await scriptedUpstream();
    t.after(() => sc.close());
    const key = randomKey('sk-scripted-');
    const up = await create(env, '/upstreams', { name: 'scripted', base_url: sc.url, credentials: [key] });
    const c = (await get(env, `/upstreams/${up.id}/credentials`)).data[0];
    let r = await env.api('POST', `/credentials/${c.id}/test`);
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.status, 401, r.text);
    assert.match(String(r.json.message), /scripted 401/, 'the upstream error message is passed on');
    assert.equal(sc.seen.at(-1).key, key, 'the test uses the credential');
    assert.equal(sc.seen.at(-1).method, 'GET');
    assert.match(sc.seen.at(-1).url, /^\/v1\/models\?(.*&)?limit=1(&|$)/);
    let g = await get(env, `/credentials/${c.id}`);
    assert.equal(g.state, 'invalid', JSON.stringify(g));
    assert.equal(typeof g.last_error, 'string');
    assert.ok(g.last_error.length > 0);
    assert.deepEqual((await get(env, `/upstreams/${up.id}`)).credentials.total, 1);

    // success → valid again
    sc.set(200);
    r = await env.api('POST', `/credentials/${c.id}/test`);
    assert.equal(r.json.ok, true, r.text);
    assert.equal(r.json.status, 200);
    g = await get(env, `/credentials/${c.id}`);
    assert.equal(g.state, 'valid', JSON.stringify(g));

    // 403 → invalid; enabling an invalid credential makes it valid
    sc.set(403);
    r = await env.api('POST', `/credentials/${c.id}/test`);
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.status, 403);
    assert.equal((await get(env, `/credentials/${c.id}`)).state, 'invalid');
    const en = await env.api('PATCH', `/credentials/${c.id}`, { enabled: true });
    assert.equal(en.status, 200, describeRes(en));
    assert.equal(en.json.state, 'valid', en.text);

    // 500 → ok:false but not invalid
    sc.set(500);
    r = await env.api('POST', `/credentials/${c.id}/test`);
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.status, 500);
    assert.equal((await get(env, `/credentials/${c.id}`)).state, 'valid', 'a 500 must not mark the key invalid');

    // connection refused → ok:false with a message, answered promptly
    const port = await closedPort();
    await env.api('PATCH', `/upstreams/${up.id}`, { base_url: `http://127.0.0.1:${port}` });
    r = await env.api('POST', `/credentials/${c.id}/test`);
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.ok, false, r.text);
    assert.equal(typeof r.json.message, 'string');
    assert.ok(r.json.message.length > 0);
    assert.ok(r.ms < 10000, `took ${r.ms} ms`);
    assert.equal((await get(env, `/credentials/${c.id}`)).state, 'valid', 'a connection error must not mark the key invalid');
    assert.ok(!r.text.includes(key));
  });

  test('disabling a credential takes effect on the next proxied request', async (t) => {
    const env = await startEnv(t, backend);
    const { up, cred: seeded } = await seededCredential(env);
    const k1 = randomKey('sk-live-');
    const add = await env.api('POST', `/upstreams/${up.id}/credentials`, { key: k1 });
    const c1 = add.json.data[0].credential;

    const keysUsed = async (n) => {
      env.fake.reset();
      const statuses = [];
      for (let i = 0; i < n; i++) statuses.push((await env.messages()).status);
      return { statuses, keys: env.fake.requestsTo('/v1/messages').map((r) => r.headers['x-api-key']) };
    };

    let u = await keysUsed(8);
    assert.deepEqual(u.statuses, Array(8).fill(200));
    for (const k of u.keys) assert.ok([UPSTREAM_KEY, k1].includes(k), `unexpected upstream key ${k}`);

    assert.equal((await env.api('PATCH', `/credentials/${seeded.id}`, { enabled: false })).status, 200);
    u = await keysUsed(6);
    assert.deepEqual(u.statuses, Array(6).fill(200));
    assert.deepEqual(u.keys, Array(6).fill(k1), 'a disabled credential was used');

    assert.equal((await env.api('PATCH', `/credentials/${c1.id}`, { enabled: false })).status, 200);
    env.fake.reset();
    const none = await env.messages();
    assert.ok(none.status >= 400, `no enabled credential left, yet ${describeRes(none)}`);
    assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'a request went upstream without an enabled credential');

    assert.equal((await env.api('PATCH', `/credentials/${seeded.id}`, { enabled: true })).status, 200);
    u = await keysUsed(4);
    assert.deepEqual(u.statuses, Array(4).fill(200));
    assert.deepEqual(u.keys, Array(4).fill(UPSTREAM_KEY));

    // deleting works the same way
    assert.equal((await env.api('PATCH', `/credentials/${c1.id}`, { enabled: true })).status, 200);
    assert.equal((await env.api('DELETE', `/credentials/${seeded.id}`)).status, 204);
    u = await keysUsed(4);
    assert.deepEqual(u.statuses, Array(4).fill(200));
    assert.deepEqual(u.keys, Array(4).fill(k1), 'a deleted credential was used');
  });
});

// Client authentication, upstream credentials, passthrough upstreams.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import {
  useCloveWithFake,
  startClove,
  stopCloveChecked,
  runCloveExpectingExit,
  defaultConfig,
  anthropicErrorProblems,
  CLIENT_KEY,
  UPSTREAM_KEY,
} from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';

const MODEL = 'claude-sonnet-5-5';
const BODY = JSON.stringify({ model: MODEL, max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
const base = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };

function assertUpstreamCredentials(rec, { expectKey = UPSTREAM_KEY, forbidden = [CLIENT_KEY] } = {}) {
  assert.equal(rec.headers['x-api-key'], expectKey, 'upstream x-api-key');
  assert.equal(rec.headers.authorization, undefined, 'no Authorization header upstream');
  const all = JSON.stringify(rec.rawHeaders) + rec.url;
  for (const f of forbidden) assert.ok(!all.includes(f), `${f} must not reach the upstream: ${all}`);
}

describe('client keys', () => {
  const ctx = useCloveWithFake({ before, after, beforeEach });

  test('x-api-key is accepted; the upstream sees the upstream key only', async () => {
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: { ...base, 'x-api-key': CLIENT_KEY }, body: BODY });
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.fake.requests.length, 1);
    assertUpstreamCredentials(ctx.fake.requests[0]);
  });

  test('Authorization: Bearer is accepted; the upstream sees the upstream key only', async () => {
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: { ...base, authorization: `Bearer ${CLIENT_KEY}` }, body: BODY });
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.fake.requests.length, 1);
    assertUpstreamCredentials(ctx.fake.requests[0]);
  });

  test('both headers (apiKeyHelper style) are accepted; neither reaches the upstream', async () => {
    const r = await request(`${ctx.clove.url}/v1/messages`, {
      headers: { ...base, 'x-api-key': CLIENT_KEY, authorization: `Bearer ${CLIENT_KEY}` },
      body: BODY,
    });
    assert.equal(r.status, 200, r.text);
    assertUpstreamCredentials(ctx.fake.requests[0]);
  });

  const rejected = [
    ['missing credentials', {}],
    ['wrong x-api-key', { 'x-api-key': 'ck-alice-124' }],
    ['wrong Bearer', { authorization: 'Bearer ck-nobody' }],
    ['empty x-api-key', { 'x-api-key': '' }],
    ['Bearer without a token', { authorization: 'Bearer' }],
    ['key as Basic auth', { authorization: `Basic ${Buffer.from(`${CLIENT_KEY}:`).toString('base64')}` }],
    ['key prefix only', { 'x-api-key': CLIENT_KEY.slice(0, -1) }],
    ['key with a suffix', { 'x-api-key': `${CLIENT_KEY}x` }],
  ];
  for (const [name, headers] of rejected) {
    test(`${name} → 401 authentication_error (never reaches the upstream)`, async () => {
      const r = await request(`${ctx.clove.url}/v1/messages`, { headers: { ...base, ...headers }, body: BODY });
      assert.deepEqual(anthropicErrorProblems(r, 401, 'authentication_error'), [], r.text);
      assert.equal(ctx.fake.requests.length, 0);
    });
  }

  test('count_tokens and models need a key too', async () => {
    const c = await request(`${ctx.clove.url}/v1/messages/count_tokens`, { headers: base, body: BODY });
    assert.deepEqual(anthropicErrorProblems(c, 401, 'authentication_error'), [], c.text);
    const m = await request(`${ctx.clove.url}/v1/models`, { headers: base });
    assert.deepEqual(anthropicErrorProblems(m, 401, 'authentication_error'), [], m.text);
    const one = await request(`${ctx.clove.url}/v1/models/${MODEL}`, { headers: base });
    assert.deepEqual(anthropicErrorProblems(one, 401, 'authentication_error'), [], one.text);
    assert.equal(ctx.fake.requests.length, 0);
  });

  test('/health, HEAD / and GET / need no key', async () => {
    const h = await request(`${ctx.clove.url}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(JSON.parse(h.text), { status: 'ok' });
    const head = await request(`${ctx.clove.url}/`, { method: 'HEAD' });
    assert.ok(head.status >= 200 && head.status < 300, `HEAD / → ${head.status}`);
    assert.equal(head.body.length, 0);
    const root = await request(`${ctx.clove.url}/`);
    assert.ok(root.status >= 200 && root.status < 300, `GET / → ${root.status}`);
  });

  test('keys never appear in the logs', async () => {
    await request(`${ctx.clove.url}/v1/messages`, { headers: { ...base, 'x-api-key': CLIENT_KEY }, body: BODY });
    await request(`${ctx.clove.url}/v1/messages`, { headers: { ...base, 'x-api-key': 'ck-wrong-secret-999' }, body: BODY });
    await ctx.clove.waitForAccessLog((l) => l.status === 401);
    const logs = ctx.clove.stderrText() + ctx.clove.stdoutLines.join('\n');
    for (const secret of [CLIENT_KEY, UPSTREAM_KEY, 'ck-wrong-secret-999']) {
      assert.ok(!logs.includes(secret), `secret ${secret} appears in Clove's output`);
    }
  });
});

describe('passthrough upstream', () => {
  let fake;
  let clove;
  before(async () => {
    fake = await startFakeUpstream();
    clove = await startClove({
      config: defaultConfig(fake.url, { upstream: { auth: 'passthrough', api_key: undefined }, clientKeys: null }),
    });
  });
  after(async () => {
    try {
      if (clove) await stopCloveChecked(clove);
    } finally {
      await fake.close();
    }
  });
  beforeEach(() => fake.reset());

  test("forwards the client's own x-api-key", async () => {
    const own = 'sk-ant-api03-client-own-key-1';
    const r = await request(`${clove.url}/v1/messages`, { headers: { ...base, 'x-api-key': own }, body: BODY });
    assert.equal(r.status, 200, r.text);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].headers['x-api-key'], own);
    assert.equal(fake.requests[0].headers.authorization, undefined);
  });

  test("forwards the client's own Authorization: Bearer", async () => {
    const own = 'sk-ant-oat01-client-own-token-2';
    const r = await request(`${clove.url}/v1/messages`, { headers: { ...base, authorization: `Bearer ${own}` }, body: BODY });
    assert.equal(r.status, 200, r.text);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${own}`);
    assert.ok(!JSON.stringify(fake.requests[0].rawHeaders).includes(UPSTREAM_KEY));
  });

  test('no credentials at all → 401 authentication_error', async () => {
    const r = await request(`${clove.url}/v1/messages`, { headers: base, body: BODY });
    assert.equal(r.status, 401, r.text);
    assert.equal(JSON.parse(r.text).error.type, 'authentication_error');
  });
});

test('refuses to start with no client key and a non-passthrough upstream (no open relay)', async () => {
  const r = await runCloveExpectingExit(defaultConfig('http://127.0.0.1:9', { clientKeys: null }));
  assert.equal(r.listening, false, `Clove started listening as an open relay:\n${r.stderr}`);
  assert.notEqual(r.code, 0, `exit code ${r.code}\n${r.stderr}`);
});

// The access-log line: one per request, with tokens from message_start / message_delta.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { useCloveWithFake, clientHeaders, CLIENT_KEY, UPSTREAM_KEY, CLIENT_KEY_NAME } from '../lib/clove.mjs';
import { request, sleep } from '../lib/http.mjs';
import { fakeUsage } from '../fake_upstream/server.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach });
const KEYS = [
  'request_id', 'method', 'path', 'key', 'model', 'upstream', 'status', 'stream', 'outcome', 'ttfb_ms',
  'duration_ms', 'input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens',
];

const bodyFor = (stream, marker) =>
  JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 64, ...(stream ? { stream: true } : {}), messages: [{ role: 'user', content: marker }] });

/** The access-log line of the request whose response carried these headers. */
async function logFor(res) {
  const ids = [res.headers['x-clove-request-id'], res.headers['request-id']].filter(Boolean);
  return ctx.clove.waitForAccessLog((l) => ids.includes(l.request_id));
}

function checkShape(l) {
  for (const k of KEYS) assert.ok(k in l, `access log lacks ${k}: ${JSON.stringify(l)}`);
  const s = JSON.stringify(l);
  assert.ok(!s.includes(CLIENT_KEY) && !s.includes(UPSTREAM_KEY), `secret in the access log: ${s}`);
  assert.equal(typeof l.ttfb_ms, 'number');
  assert.equal(typeof l.duration_ms, 'number');
  assert.ok(l.duration_ms >= 0);
}

for (const stream of [true, false]) {
  test(`tokens in the access log (${stream ? 'stream' : 'JSON'})`, async (t) => {
    const b = bodyFor(stream, `tokens-${stream}`);
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'deltas:9' }), body: b });
    assert.equal(r.status, 200);
    const up = ctx.fake.requests[0];
    const usage = fakeUsage({ deltas: '9' }, up.body);
    const l = await logFor(r);
    t.diagnostic(JSON.stringify(l));
    checkShape(l);
    assert.equal(l.method, 'POST');
    assert.equal(l.path.split('?')[0], '/v1/messages');
    assert.equal(l.model, 'claude-sonnet-5-5');
    assert.equal(l.upstream, 'fake');
    assert.equal(l.status, 200);
    assert.equal(l.stream, stream);
    assert.equal(l.outcome, 'ok');
    assert.equal(l.input_tokens, usage.input_tokens);
    assert.equal(l.output_tokens, usage.output_tokens, 'final (cumulative) output tokens, not the message_start value');
    assert.equal(l.cache_creation_input_tokens, usage.cache_creation_input_tokens);
    assert.equal(l.cache_read_input_tokens, usage.cache_read_input_tokens);
    assert.ok(l.key === CLIENT_KEY_NAME || (typeof l.key === 'string' && l.key.length > 0), `key: ${l.key}`);
  });
}

test('one access line per request', async () => {
  const before = ctx.clove.accessLogs().length;
  for (let i = 0; i < 5; i++) {
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders(), body: bodyFor(i % 2 === 0, `n${i}`) });
    assert.equal(r.status, 200);
  }
  await request(`${ctx.clove.url}/health`);
  await sleep(300);
  const n = ctx.clove.accessLogs().length - before;
  assert.equal(n, 6, `expected 6 new access lines, got ${n}`);
});

test('upstream error → outcome upstream_error_status', async () => {
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'error:529' }), body: bodyFor(true, 'e') });
  assert.equal(r.status, 529);
  const l = await logFor(r);
  checkShape(l);
  assert.equal(l.status, 529);
  assert.equal(l.outcome, 'upstream_error_status');
});

test('client disconnect → outcome client_closed', async () => {
  const ac = new AbortController();
  let xid = null;
  await request(`${ctx.clove.url}/v1/messages`, {
    headers: clientHeaders({ 'x-fake-scenario': 'interval:150,deltas:30' }),
    body: bodyFor(true, 'abort-me'),
    signal: ac.signal,
    onEvent: (ev, req, res) => {
      xid = xid ?? res.headers['x-clove-request-id'] ?? res.headers['request-id'];
      if (ev.event === 'content_block_delta') ac.abort();
    },
  }).catch(() => {});
  const l = await ctx.clove.waitForAccessLog((x) => x.request_id === xid || x.outcome === 'client_closed', { timeoutMs: 3000 });
  assert.equal(l.outcome, 'client_closed', JSON.stringify(l));
});

test('upstream drop mid-stream → outcome upstream_failed', async () => {
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'drop_after:4' }), body: bodyFor(true, 'drop') });
  assert.equal(r.status, 200);
  const l = await logFor(r);
  assert.equal(l.outcome, 'upstream_failed', JSON.stringify(l));
  assert.equal(l.input_tokens, fakeUsage({}, ctx.fake.requests[0].body).input_tokens, 'tokens from message_start are still logged');
});

test('gateway-made errors are logged too (401, 404)', async () => {
  const a = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-api-key': 'ck-bad' }), body: bodyFor(false, 'x') });
  assert.equal(a.status, 401);
  const la = await logFor(a);
  assert.equal(la.status, 401);
  const n = await request(`${ctx.clove.url}/v1/messages`, {
    headers: clientHeaders(),
    body: JSON.stringify({ model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(n.status, 404);
  const ln = await logFor(n);
  assert.equal(ln.status, 404);
});

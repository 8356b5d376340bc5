// Upstream error statuses and bodies are relayed unchanged (JSON and streaming requests).
//
// One upstream with one credential: every error is relayed after exactly one attempt. Routing
// remembers what an error says about the credential (401/403: invalid; 429: cooling down for
// its retry-after; 5xx/529: failures), so the credential is reset through the admin API
// (resetCredentialStates) after each scripted error; otherwise a 401 would turn every later
// request into Clove's own 503, and a 429 into Clove's own 429 for 7 s.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { useCloveWithFake, clientHeaders, resetCredentialStates } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach });
beforeEach(() => resetCredentialStates(ctx.clove));
/** Statuses after which the one credential is no longer valid (must be reset). */
const STATE_CHANGING = new Set([401, 403, 429]);
const body = (stream) =>
  JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, ...(stream ? { stream: true } : {}), messages: [{ role: 'user', content: 'hi' }] });

const STATUSES = [400, 401, 403, 404, 413, 429, 500, 529];

for (const stream of [false, true]) {
  test(`upstream error statuses and bodies relayed unchanged (${stream ? 'stream' : 'JSON'} request)`, async () => {
    for (const status of STATUSES) {
      ctx.fake.reset();
      const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': `error:${status}` }), body: body(stream) });
      const up = ctx.fake.requests.filter((x) => x.path === '/v1/messages');
      assert.ok(up.length >= 1, `${status}: reached the upstream`);
      const last = up.at(-1);
      assert.equal(r.status, status, `${status}: status relayed (got ${r.status}: ${r.text})`);
      assert.equal(r.text, last.responseBody, `${status}: body relayed byte for byte`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, `${status}: content-type`);
      assert.equal(r.headers['request-id'], last.requestId, `${status}: request-id relayed`);
      assert.equal(
        r.headers['anthropic-ratelimit-requests-remaining'],
        last.responseHeaders['anthropic-ratelimit-requests-remaining'],
        `${status}: rate-limit headers relayed`,
      );
      if (status === 429 || status === 529) assert.equal(r.headers['retry-after'], '7', `${status}: retry-after relayed`);
      else assert.equal(r.headers['retry-after'], undefined);
      assert.equal(up.length, 1, `${status}: one credential, one upstream attempt`);
      const reset = await resetCredentialStates(ctx.clove);
      if (STATE_CHANGING.has(status)) assert.equal(reset.length, 1, `${status}: the credential kept state valid`);
      else if (status < 500) assert.equal(reset.length, 0, `${status}: a client error changed the credential state`);
    }
  });
}

test('an upstream 4xx is not retried', async () => {
  for (const status of [400, 401, 404, 413]) {
    ctx.fake.reset();
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': `error:${status}` }), body: body(false) });
    assert.equal(r.status, status);
    assert.equal(ctx.fake.requests.length, 1, `${status} was sent upstream ${ctx.fake.requests.length} times`);
    await resetCredentialStates(ctx.clove);
  }
});

test('upstream error on count_tokens and models is relayed', async () => {
  const c = await request(`${ctx.clove.url}/v1/messages/count_tokens`, {
    headers: clientHeaders({ 'x-fake-scenario': 'error:429' }),
    body: JSON.stringify({ model: 'claude-sonnet-5-5', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(c.status, 429, c.text);
  assert.equal(JSON.parse(c.text).error.type, 'rate_limit_error');
  assert.equal(c.headers['retry-after'], '7');
  await resetCredentialStates(ctx.clove);
});

test('a mid-stream upstream error event is relayed, then the stream ends', async () => {
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'error_event_after:5' }), body: body(true) });
  assert.equal(r.status, 200);
  const up = ctx.fake.requests[0];
  const names = r.events.map((e) => e.event);
  assert.deepEqual(names.slice(0, 5), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta']);
  assert.equal(names[5], 'error');
  assert.equal(r.events[5].json.error.type, 'overloaded_error');
  assert.equal(r.events.length, 6, `events after the error: ${names.slice(6)}`);
  assert.ok(!names.includes('message_stop'));
  assert.equal(r.text, up.sentFrames.join(''), 'relayed byte for byte');
  assert.ok(r.complete, 'the response ends cleanly');
});

test('chunked upstream JSON (no Content-Length) is relayed unchanged, success and error', async () => {
  for (const sc of ['json_chunked', 'json_chunked,error:529', 'json_chunked,error:400']) {
    ctx.fake.reset();
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': sc }), body: body(false) });
    const up = ctx.fake.requests.at(-1);
    assert.equal(r.status, up.responseStatus, `${sc}: status`);
    assert.equal(r.text, up.responseBody, `${sc}: body`);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    await resetCredentialStates(ctx.clove);
  }
});

// Header forwarding: anthropic-version / anthropic-beta verbatim, hop-by-hop headers dropped in
// both directions, upstream response headers relayed, Host rewritten.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { useCloveWithFake, CLIENT_KEY } from '../lib/clove.mjs';
import { request, headerLines } from '../lib/http.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach });
const BODY = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
const SBODY = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] });

function betaValues(rawHeaders) {
  return headerLines(rawHeaders, 'anthropic-beta')
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

for (const version of ['2023-06-01', '2026-10-21']) {
  test(`anthropic-version ${version} is forwarded verbatim`, async () => {
    const r = await request(`${ctx.clove.url}/v1/messages`, {
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': version },
      body: BODY,
    });
    assert.equal(r.status, 200, r.text);
    const up = ctx.fake.requests[0];
    assert.deepEqual(headerLines(up.rawHeaders, 'anthropic-version'), [version]);
  });
}

test('anthropic-beta: a single comma-separated line is forwarded verbatim', async () => {
  const beta = 'claude-code-20250219,interleaved-thinking-2025-05-14, context-1m-2025-08-07,some-future-beta-2031-01-01';
  const r = await request(`${ctx.clove.url}/v1/messages`, {
    headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': beta },
    body: BODY,
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(headerLines(ctx.fake.requests[0].rawHeaders, 'anthropic-beta'), [beta]);
});

test('anthropic-beta: repeated header lines all reach the upstream, in order', async () => {
  const raw = [
    'content-type', 'application/json',
    'x-api-key', CLIENT_KEY,
    'anthropic-version', '2023-06-01',
    'anthropic-beta', 'prompt-caching-2024-07-31,output-128k-2025-02-19',
    'anthropic-beta', 'oauth-2025-04-20',
    'anthropic-beta', 'made-up-beta-2099-12-31',
  ];
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: raw, body: BODY });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(betaValues(ctx.fake.requests[0].rawHeaders), [
    'prompt-caching-2024-07-31',
    'output-128k-2025-02-19',
    'oauth-2025-04-20',
    'made-up-beta-2099-12-31',
  ]);
});

test('other end-to-end headers reach the upstream unchanged', async () => {
  const extra = {
    'anthropic-workspace-id': 'wrkspc_01ABC',
    'x-claude-code-session-id': '5f0c1d2e-0000-4000-8000-000000000001',
    'user-agent': 'claude-cli/2.1.332 (external, sdk-cli)',
    'x-stainless-retry-count': '0',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  };
  const r = await request(`${ctx.clove.url}/v1/messages`, {
    headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', ...extra },
    body: BODY,
  });
  assert.equal(r.status, 200, r.text);
  const up = ctx.fake.requests[0];
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(headerLines(up.rawHeaders, k), [v], k);
  assert.equal(up.headers['content-type'], 'application/json');
});

test('hop-by-hop request headers are not forwarded; Host is the upstream', async () => {
  const raw = [
    'content-type', 'application/json',
    'x-api-key', CLIENT_KEY,
    'anthropic-version', '2023-06-01',
    'Connection', 'keep-alive, X-Hop-Secret',
    'X-Hop-Secret', 'must-not-pass',
    'Keep-Alive', 'timeout=5, max=100',
    'TE', 'trailers',
    'Proxy-Authorization', 'Basic dXNlcjpwYXNz',
    'Proxy-Connection', 'keep-alive',
    'x-end-to-end', 'kept',
  ];
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: raw, body: BODY });
  assert.equal(r.status, 200, r.text);
  const up = ctx.fake.requests[0];
  for (const h of ['x-hop-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection']) {
    assert.deepEqual(headerLines(up.rawHeaders, h), [], `${h} must not be forwarded`);
  }
  for (const c of headerLines(up.rawHeaders, 'connection')) {
    assert.ok(!/x-hop-secret/i.test(c), `Connection header forwarded as is: ${c}`);
  }
  assert.deepEqual(headerLines(up.rawHeaders, 'x-end-to-end'), ['kept']);
  assert.deepEqual(headerLines(up.rawHeaders, 'host'), [`127.0.0.1:${ctx.fake.port}`], 'Host must name the upstream');
});

for (const stream of [false, true]) {
  test(`upstream response headers are relayed, hop-by-hop ones dropped (${stream ? 'SSE' : 'JSON'})`, async () => {
    const r = await request(`${ctx.clove.url}/v1/messages`, {
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'x-fake-scenario': 'hop_headers' },
      body: stream ? SBODY : BODY,
    });
    assert.equal(r.status, 200, r.text);
    const up = ctx.fake.requests[0];
    const sent = up.responseHeaders;
    assert.equal(r.headers['request-id'], sent['request-id'], 'request-id relayed');
    for (const h of Object.keys(sent).filter((k) => k.startsWith('anthropic-'))) {
      assert.equal(r.headers[h], sent[h], `${h} relayed`);
    }
    assert.ok(r.headers['x-clove-request-id'], 'Clove adds x-clove-request-id');
    assert.equal(r.headers['x-fake-hop'], undefined, 'header named in the upstream Connection must not be relayed');
    assert.notEqual(r.headers['keep-alive'], 'timeout=59, max=977', "the upstream's Keep-Alive must not be relayed");
    for (const c of headerLines(r.rawHeaders, 'connection')) assert.ok(!/x-fake-hop/i.test(c), `Connection relayed: ${c}`);
    if (stream) {
      assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
      assert.equal(r.events.at(-1).event, 'message_stop');
    } else {
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(r.text, up.responseBody, 'JSON body relayed byte for byte');
    }
  });
}

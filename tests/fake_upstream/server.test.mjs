// Self-test of the fake upstream (no Clove involved): the scenarios behave as documented.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFakeUpstream, countTokensFor, expectedText, TOOL_INPUT, FAKE_MODELS } from './server.mjs';
import { request, waitFor } from '../lib/http.mjs';
import { grammarProblems } from '../lib/sse.mjs';

let fake;
before(async () => {
  fake = await startFakeUpstream();
});
after(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const H = (scenario, extra = {}) => ({
  'content-type': 'application/json',
  'x-api-key': 'k',
  'anthropic-version': '2023-06-01',
  ...(scenario ? { 'x-fake-scenario': scenario } : {}),
  ...extra,
});
const body = (extra = {}) =>
  JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra });

test('JSON message has the Message shape and rate-limit headers', async () => {
  const b = body();
  const r = await request(`${fake.url}/v1/messages`, { headers: H(), body: b });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.match(r.headers['request-id'], /^req_fake_/);
  assert.ok(r.headers['anthropic-ratelimit-requests-remaining']);
  const m = r.json();
  assert.equal(m.type, 'message');
  assert.equal(m.model, 'claude-sonnet-4-5');
  assert.equal(m.content[0].text, expectedText({}));
  assert.equal(m.usage.input_tokens, countTokensFor(Buffer.from(b)));
  assert.equal(m.usage.cache_creation.ephemeral_5m_input_tokens + m.usage.cache_creation.ephemeral_1h_input_tokens, m.usage.cache_creation_input_tokens);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0].body.toString(), b);
});

test('stream is chunked, follows the grammar, cumulative usage', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('deltas:5'), body: body({ stream: true }) });
  assert.equal(r.status, 200);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.deepEqual(grammarProblems(r.events), []);
  assert.equal(r.events.filter((e) => e.event === 'content_block_delta').length, 5);
  assert.ok(r.complete);
  const start = r.events[0].json.message.usage;
  const delta = r.events.find((e) => e.event === 'message_delta').json.usage;
  assert.ok(delta.output_tokens > start.output_tokens);
  assert.equal(delta.input_tokens, start.input_tokens);
});

test('tool_use and thinking streams', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('thinking,tool_use'), body: body({ stream: true }) });
  assert.deepEqual(grammarProblems(r.events), []);
  const starts = r.events.filter((e) => e.event === 'content_block_start').map((e) => e.json.content_block.type);
  assert.deepEqual(starts, ['thinking', 'text', 'tool_use']);
  const json = r.events
    .filter((e) => e.json?.delta?.type === 'input_json_delta')
    .map((e) => e.json.delta.partial_json)
    .join('');
  assert.deepEqual(JSON.parse(json), TOOL_INPUT);
  const thinkingDeltas = r.events.filter((e) => e.json?.index === 0 && e.event === 'content_block_delta').map((e) => e.json.delta.type);
  assert.equal(thinkingDeltas.at(-1), 'signature_delta');
  assert.equal(r.events.find((e) => e.event === 'message_delta').json.delta.stop_reason, 'tool_use');
});

test('drop_after destroys the connection after N events', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('drop_after:4'), body: body({ stream: true }) });
  assert.equal(r.events.length, 4);
  assert.equal(r.complete, false);
  assert.ok(r.error);
  await waitFor(() => fake.requests[0].dropped, { what: 'dropped flag' });
  assert.equal(fake.stats.aborted, 0);
});

test('error_event_after ends cleanly with an overloaded_error event', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('error_event_after:3'), body: body({ stream: true }) });
  assert.equal(r.events.length, 4);
  assert.equal(r.events[3].event, 'error');
  assert.equal(r.events[3].json.error.type, 'overloaded_error');
  assert.ok(r.complete);
});

test('content_length frames SSE with Content-Length', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('content_length,interval:5'), body: body({ stream: true }) });
  assert.equal(r.headers['transfer-encoding'], undefined);
  assert.equal(Number(r.headers['content-length']), r.body.length);
  assert.deepEqual(grammarProblems(r.events), []);
});

test('interval and slow delay events and the head', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('slow:300,interval:100,deltas:2'), body: body({ stream: true }) });
  assert.ok(r.headersAt >= 280, `head after ${r.headersAt} ms`);
  assert.ok(r.events.at(-1).at - r.events[0].at >= 500);
});

test('hang + client abort counts as aborted', async () => {
  const ac = new AbortController();
  const p = request(`${fake.url}/v1/messages`, { headers: H('hang'), body: body(), signal: ac.signal }).catch((e) => e);
  await waitFor(() => fake.requests.length === 1 && fake.requests[0].body, { what: 'request' });
  ac.abort();
  await p;
  await waitFor(() => fake.stats.aborted === 1, { timeoutMs: 1000, what: 'aborted' });
  assert.ok(fake.requests[0].aborted);
});

test('echo returns the sha256 of the received bytes', async () => {
  const b = body({ extra: 'é ✓ \u0000' });
  const r = await request(`${fake.url}/v1/messages`, { headers: H('echo'), body: b });
  const hex = crypto.createHash('sha256').update(Buffer.from(b)).digest('hex');
  assert.equal(r.json().content[0].text, `sha256=${hex} bytes=${Buffer.byteLength(b)}`);
});

test('errors have the right types and retry-after', async () => {
  const types = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };
  for (const [status, type] of Object.entries(types)) {
    const r = await request(`${fake.url}/v1/messages`, { headers: H(`error:${status}`), body: body() });
    assert.equal(r.status, Number(status));
    const j = r.json();
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, type);
    assert.equal(j.request_id, r.headers['request-id']);
    assert.equal(r.headers['retry-after'], status === '429' || status === '529' ? '7' : undefined);
  }
});

test('json_chunked sends JSON without Content-Length', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: H('json_chunked,error:429'), body: body() });
  assert.equal(r.status, 429);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.text, fake.requests[0].responseBody);
});

test('missing key is a 401', async () => {
  const r = await request(`${fake.url}/v1/messages`, { headers: { 'content-type': 'application/json' }, body: body() });
  assert.equal(r.status, 401);
});

test('count_tokens, models, control endpoints', async () => {
  const b = JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'count me' }] });
  const c = await request(`${fake.url}/v1/messages/count_tokens`, { headers: H(), body: b });
  assert.deepEqual(c.json(), { input_tokens: countTokensFor(Buffer.from(b)) });
  const m = (await request(`${fake.url}/v1/models?limit=2`, { headers: H() })).json();
  assert.equal(m.data.length, 2);
  assert.equal(m.has_more, true);
  assert.equal(m.first_id, FAKE_MODELS[0].id);
  const m2 = (await request(`${fake.url}/v1/models?after_id=${m.last_id}`, { headers: H() })).json();
  assert.equal(m2.has_more, false);
  assert.equal(m2.data.length, FAKE_MODELS.length - 2);
  const one = await request(`${fake.url}/v1/models/claude-haiku-4-5`, { headers: H() });
  assert.equal(one.json().id, 'claude-haiku-4-5');
  const s = (await request(`${fake.url}/__fake/stats`)).json();
  assert.equal(s.requests, 4);
  const reqs = (await request(`${fake.url}/__fake/requests`)).json();
  assert.equal(Buffer.from(reqs[0].body_base64, 'base64').toString(), b);
  await request(`${fake.url}/__fake/reset`, { method: 'POST' });
  assert.equal(fake.requests.length, 0);
});

test('handles 300 concurrent streams quickly', async () => {
  const t0 = Date.now();
  const rs = await Promise.all(
    Array.from({ length: 300 }, () => request(`${fake.url}/v1/messages`, { headers: H('interval:20,deltas:10'), body: body({ stream: true }) })),
  );
  for (const r of rs) assert.deepEqual(grammarProblems(r.events), []);
  assert.ok(fake.stats.max_inflight >= 100, `max_inflight ${fake.stats.max_inflight}`);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

test('standalone mode prints FAKE_UPSTREAM_PORT and serves', async () => {
  const script = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /FAKE_UPSTREAM_PORT=(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error('exited')));
    });
    const r = await request(`http://127.0.0.1:${port}/__fake/stats`);
    assert.equal(r.status, 200);
  } finally {
    child.kill('SIGTERM');
  }
});

test('apiKey: the x-api-key (else the Bearer token) of every request is recorded', async () => {
  await request(`${fake.url}/v1/messages`, { headers: H(null, { 'x-api-key': 'sk-one' }), body: body() });
  await request(`${fake.url}/v1/messages`, {
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-two' },
    body: body(),
  });
  await request(`${fake.url}/v1/messages`, { headers: { 'content-type': 'application/json' }, body: body() });
  await request(`${fake.url}/v1/models`, { headers: H(null, { 'x-api-key': 'sk-three' }) });
  assert.deepEqual(
    fake.requests.map((r) => r.apiKey),
    ['sk-one', 'sk-two', null, 'sk-three'],
  );
  assert.deepEqual(fake.keysSeen(), ['sk-one', 'sk-two', null]);
  assert.deepEqual(fake.keysSeen('/v1/models'), ['sk-three']);
  const reqs = (await request(`${fake.url}/__fake/requests`)).json();
  assert.deepEqual(
    reqs.map((r) => r.api_key),
    ['sk-one', 'sk-two', null, 'sk-three'],
  );
});

test('rules: per key, instance-wide, times, path, merged over the header scenario', async () => {
  fake.setRules([
    { key: 'sk-bad', scenario: 'error:401' },
    { key: 'sk-limited', scenario: 'error:429,retry_after:2', times: 2 },
    { path: '/v1/models', scenario: 'error:500' },
  ]);
  const send = (key, scenario, extra = {}) => request(`${fake.url}/v1/messages`, { headers: H(scenario, { 'x-api-key': key }), body: body(extra) });
  assert.equal((await send('sk-bad')).status, 401);
  assert.equal((await send('sk-bad')).status, 401, 'a rule without times applies every time');
  assert.equal((await send('sk-good')).status, 200, 'other keys are unaffected');
  let r = await send('sk-limited');
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '2');
  assert.equal((await send('sk-limited')).status, 429);
  assert.equal((await send('sk-limited')).status, 200, 'times: 2 is spent after two requests');
  assert.equal((await request(`${fake.url}/v1/models`, { headers: H() })).status, 500, 'path rule');
  assert.deepEqual(
    fake.requests.map((x) => x.rule),
    [0, 0, null, 1, 1, null, 2],
  );
  assert.deepEqual(
    fake.rules().map((x) => x.used),
    [2, 2, 1],
  );
  // the rule's directives are merged over the request's own (the rule wins on a conflict)
  fake.setRules([{ scenario: 'deltas:2' }]);
  r = await send('sk-any', 'deltas:5,interval:1', { stream: true });
  assert.equal(r.events.filter((e) => e.event === 'content_block_delta').length, 2);
  assert.equal(fake.lastRequest().scenario.interval, '1');
  // an instance-wide hang for one request, then normal again
  fake.setRules([{ scenario: 'error:529', times: 1 }]);
  r = await send('sk-any');
  assert.equal(r.status, 529);
  assert.equal(r.headers['retry-after'], '7', 'default retry-after of a 529');
  assert.equal((await send('sk-any')).status, 200);
  fake.clearRules();
  assert.deepEqual(fake.rules(), []);
});

test('rules over HTTP: POST (replace, append), GET, DELETE; reset clears them', async () => {
  let r = await request(`${fake.url}/__fake/rules`, { method: 'POST', body: JSON.stringify([{ key: 'sk-x', scenario: 'error:403', times: 1 }]) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().rules.length, 1);
  r = await request(`${fake.url}/__fake/rules`, { method: 'POST', body: JSON.stringify({ append: true, rules: [{ scenario: 'error:400' }] }) });
  assert.deepEqual(
    r.json().rules.map((x) => x.scenario),
    ['error:403', 'error:400'],
  );
  const send = (key) => request(`${fake.url}/v1/messages`, { headers: H(null, { 'x-api-key': key }), body: body() });
  assert.equal((await send('sk-x')).status, 403);
  assert.equal((await send('sk-x')).status, 400, 'the spent rule falls through to the next one');
  const listed = (await request(`${fake.url}/__fake/rules`)).json().rules;
  assert.deepEqual(
    listed.map((x) => [x.key, x.times, x.used]),
    [
      ['sk-x', 1, 1],
      [null, null, 1],
    ],
  );
  r = await request(`${fake.url}/__fake/rules`, { method: 'POST', body: '{"rules": "nope"}' });
  assert.equal(r.status, 400);
  r = await request(`${fake.url}/__fake/rules`, { method: 'POST', body: JSON.stringify([{ times: -1 }]) });
  assert.equal(r.status, 400);
  assert.equal((await request(`${fake.url}/__fake/rules`)).json().rules.length, 2, 'a refused POST changes nothing');
  r = await request(`${fake.url}/__fake/rules`, { method: 'DELETE' });
  assert.deepEqual(r.json().rules, []);
  assert.equal((await send('sk-x')).status, 200);
  fake.setRules([{ scenario: 'error:500' }]);
  await request(`${fake.url}/__fake/reset`, { method: 'POST' });
  assert.deepEqual(fake.rules(), []);
  assert.equal((await send('sk-x')).status, 200);
});

test('retry_after:S and retry_after:none on error responses', async () => {
  const cases = [
    ['error:429,retry_after:2', 429, '2'],
    ['error:529,retry_after:0.5', 529, '0.5'],
    ['error:503,retry_after:9', 503, '9'],
    ['error:429,retry_after:none', 429, undefined],
    ['error:529,retry_after:none', 529, undefined],
    ['error:500', 500, undefined],
  ];
  for (const [sc, status, ra] of cases) {
    const r = await request(`${fake.url}/v1/messages`, { headers: H(sc), body: body() });
    assert.equal(r.status, status, sc);
    assert.equal(r.headers['retry-after'], ra, sc);
  }
});

test('ratelimit:R/L/S sets the request rate-limit headers; ratelimit:none omits them', async () => {
  const t0 = Date.now();
  for (const [sc, stream] of [
    ['ratelimit:3/50/10', false],
    ['ratelimit:0/50/10,error:429,retry_after:none', false],
    ['ratelimit:3/50/10', true],
  ]) {
    const r = await request(`${fake.url}/v1/messages`, { headers: H(sc), body: body(stream ? { stream: true } : {}) });
    assert.equal(r.headers['anthropic-ratelimit-requests-limit'], '50', sc);
    assert.equal(r.headers['anthropic-ratelimit-requests-remaining'], sc.includes('0/50') ? '0' : '3', sc);
    const reset = Date.parse(r.headers['anthropic-ratelimit-requests-reset']);
    assert.match(r.headers['anthropic-ratelimit-requests-reset'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(reset >= t0 + 10000 && reset <= Date.now() + 11000, `reset ${r.headers['anthropic-ratelimit-requests-reset']}`);
    assert.equal(r.headers['retry-after'], undefined);
  }
  const r = await request(`${fake.url}/v1/messages`, { headers: H('ratelimit:none,error:429,retry_after:none'), body: body() });
  assert.equal(r.status, 429);
  assert.deepEqual(
    Object.keys(r.headers).filter((k) => k.startsWith('anthropic-ratelimit-') || k === 'retry-after'),
    [],
  );
  const d = await request(`${fake.url}/v1/messages`, { headers: H(), body: body() });
  assert.equal(d.headers['anthropic-ratelimit-requests-limit'], '4000', 'default headers without the directive');
});

test('several instances run side by side, each with its own rules and records', async () => {
  const other = await startFakeUpstream();
  try {
    assert.notEqual(other.port, fake.port);
    other.setRules([{ scenario: 'error:529' }]);
    const a = await request(`${fake.url}/v1/messages`, { headers: H(), body: body() });
    const b = await request(`${other.url}/v1/messages`, { headers: H(), body: body() });
    assert.equal(a.status, 200);
    assert.equal(b.status, 529);
    assert.equal(fake.requests.length, 1);
    assert.equal(other.requests.length, 1);
  } finally {
    await other.close();
  }
});

// Routing: models, model_map (byte-for-byte bodies), path variants, models endpoints, misc routes.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useCloveWithFake, anthropicErrorProblems, clientHeaders } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';
import { countTokensFor } from '../fake_upstream/server.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach });
const H = clientHeaders;

// A deliberately awkward body: odd whitespace and key order, escapes, non-ASCII, number formats,
// and the alias string appearing elsewhere (in text and as a nested "model" key) where it must
// not be rewritten.
function awkwardBody(model) {
  return (
    '{\n  "max_tokens" :  128 ,\n' +
    '  "messages": [ {"role":"user","content":"caf\\u00e9 — naïve ✓ \\ud83d\\ude00 \\"claude-latest\\" \\/ tab\\t"},\n' +
    '    {"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"pick","input":{"model":"claude-latest","n":1.50,"e":1E+2}}]},\n' +
    '    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"ok"}]}],\n' +
    `  "model"\t:\t"${model}" ,\n` +
    '  "metadata": {"user_id": "{\\"device\\":\\"x\\"}"},\n' +
    '  "temperature": 1.0, "top_k": 5, "unknown_future_field": {"deep": [null, true, false, -0, 0.1e-3]},\n' +
    '  "tools": [{"name":"pick","input_schema":{"type":"object","properties":{"model":{"type":"string","default":"claude-latest"}}}}]\n' +
    '}\n'
  );
}

test('unmapped model: the upstream body equals the client bytes exactly', async () => {
  const raw = awkwardBody('claude-sonnet-5-5');
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H({ 'x-fake-scenario': 'echo' }), body: raw });
  assert.equal(r.status, 200, r.text);
  const up = ctx.fake.requests[0];
  assert.equal(up.body.toString('utf8'), raw);
  assert.ok(up.body.equals(Buffer.from(raw)));
  const hex = crypto.createHash('sha256').update(raw).digest('hex');
  assert.equal(JSON.parse(r.text).content[0].text, `sha256=${hex} bytes=${Buffer.byteLength(raw)}`);
  assert.equal(JSON.parse(r.text).model, 'claude-sonnet-5-5');
});

test('unmapped model, chunked request body: upstream bytes equal', async () => {
  const raw = awkwardBody('claude-opus-4-8');
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H(), body: raw, chunked: true, timeoutMs: 5000 }).catch((e) => {
    throw new Error(`no answer to a request with Transfer-Encoding: chunked (${e.message}); upstream saw ${ctx.fake.requests.length} request(s)`);
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(ctx.fake.requests[0].body.toString('utf8'), raw);
});

test('model_map: only the model value changes, every other byte is kept', async () => {
  const raw = awkwardBody('claude-latest');
  const expected = awkwardBody('claude-sonnet-4-5');
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H(), body: raw });
  assert.equal(r.status, 200, r.text);
  const up = ctx.fake.requests[0];
  assert.equal(up.body.toString('utf8'), expected);
  const cl = up.headers['content-length'];
  if (cl !== undefined) assert.equal(Number(cl), up.body.length, 'content-length matches the rewritten body');
});

test('model_map with a streaming request and a 2 MB body', async () => {
  const filler = 'x'.repeat(2 * 1024 * 1024);
  const raw = `{"model":"claude-latest","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"${filler}"}]}`;
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H(), body: raw });
  assert.equal(r.status, 200, r.text.slice(0, 500));
  const up = ctx.fake.requests[0];
  assert.ok(up.body.equals(Buffer.from(raw.replace('"claude-latest"', '"claude-sonnet-4-5"'))), 'rewritten body differs');
  assert.equal(r.events.at(-1).event, 'message_stop');
  assert.equal(r.events[0].json.message.model, 'claude-sonnet-4-5');
});

test('count_tokens is routed and relayed', async () => {
  const raw = '{"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "count me"}]}';
  const r = await request(`${ctx.clove.url}/v1/messages/count_tokens`, { headers: H(), body: raw });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { input_tokens: countTokensFor(Buffer.from(raw)) });
  const up = ctx.fake.requestsTo('/v1/messages/count_tokens');
  assert.equal(up.length, 1);
  assert.equal(up[0].body.toString(), raw);
});

test('count_tokens with ?beta=true and a mapped model', async () => {
  const raw = '{"model":"claude-latest","messages":[{"role":"user","content":"count me"}]}';
  const r = await request(`${ctx.clove.url}/v1/messages/count_tokens?beta=true`, { headers: H(), body: raw });
  assert.equal(r.status, 200, r.text);
  const up = ctx.fake.requestsTo('/v1/messages/count_tokens');
  assert.equal(up.length, 1);
  assert.equal(up[0].body.toString(), raw.replace('claude-latest', 'claude-sonnet-4-5'));
});

for (const model of ['gpt-4o-mini', 'mistral-large-latest', 'sonnet']) {
  test(`unknown model ${model} → 404 not_found_error naming the model`, async () => {
    const raw = JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H(), body: raw });
    assert.deepEqual(anthropicErrorProblems(r, 404, 'not_found_error'), [], r.text);
    assert.ok(JSON.parse(r.text).error.message.includes(model), `message should name ${model}: ${r.text}`);
    assert.equal(ctx.fake.requests.length, 0);
  });
}

for (const p of ['/v1/v1/messages', '//v1/messages', '/v1/messages?beta=true', '/v1/messages?beta=true&x=1']) {
  test(`POST ${p} is served as /v1/messages`, async () => {
    const raw = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const r = await request(`${ctx.clove.url}${p}`, { headers: H(), body: raw });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).type, 'message');
    assert.equal(ctx.fake.requests.length, 1);
    assert.equal(ctx.fake.requests[0].path, '/v1/messages', `upstream path ${ctx.fake.requests[0].url}`);
  });
}

function checkModelPage(j) {
  assert.ok(Array.isArray(j.data), 'data is an array');
  assert.equal(typeof j.has_more, 'boolean', 'has_more is a boolean');
  for (const m of j.data) {
    assert.equal(typeof m.id, 'string');
    assert.equal(m.type, 'model');
  }
  assert.equal(j.first_id, j.data.length ? j.data[0].id : null, 'first_id');
  assert.equal(j.last_id, j.data.length ? j.data.at(-1).id : null, 'last_id');
}

test('GET /v1/models has the Anthropic page shape', async () => {
  const r = await request(`${ctx.clove.url}/v1/models`, { headers: H() });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  const j = JSON.parse(r.text);
  checkModelPage(j);
  assert.ok(j.data.length >= 1, 'at least one model');
  assert.ok(j.data.every((m) => /^(claude|anthropic)/.test(m.id)), `ids: ${j.data.map((m) => m.id)}`);
});

test('GET /v1/models?limit=1000 (Claude Code discovery) and ?limit=1 pagination', async () => {
  const all = await request(`${ctx.clove.url}/v1/models?limit=1000`, { headers: H() });
  assert.equal(all.status, 200, all.text);
  const a = JSON.parse(all.text);
  checkModelPage(a);
  assert.equal(a.has_more, false);
  const one = await request(`${ctx.clove.url}/v1/models?limit=1`, { headers: H() });
  assert.equal(one.status, 200, one.text);
  const o = JSON.parse(one.text);
  checkModelPage(o);
  assert.equal(o.data.length, 1);
  assert.equal(o.has_more, a.data.length > 1);
});

test('GET /v1/models/{id}', async () => {
  const list = JSON.parse((await request(`${ctx.clove.url}/v1/models`, { headers: H() })).text);
  const id = list.data[0].id;
  const r = await request(`${ctx.clove.url}/v1/models/${encodeURIComponent(id)}`, { headers: H() });
  assert.equal(r.status, 200, r.text);
  const m = JSON.parse(r.text);
  assert.equal(m.id, id);
  assert.equal(m.type, 'model');
  const missing = await request(`${ctx.clove.url}/v1/models/gpt-4o-mini`, { headers: H() });
  assert.deepEqual(anthropicErrorProblems(missing, 404, 'not_found_error'), [], missing.text);
});

test('GET /health', async () => {
  const r = await request(`${ctx.clove.url}/health`);
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(r.text), { status: 'ok' });
});

test('HEAD / answers fast with no body', async () => {
  const r = await request(`${ctx.clove.url}/`, { method: 'HEAD', headers: { 'x-api-key': 'whatever' } });
  assert.ok(r.status >= 200 && r.status < 300, `HEAD / → ${r.status}`);
  assert.equal(r.body.length, 0);
  assert.equal(ctx.fake.requests.length, 0);
});

for (const [method, p] of [
  ['GET', '/v1/nope'],
  ['POST', '/v2/messages'],
  ['GET', '/v1/messages/batches/unknown/whatever/deep'],
  ['POST', '/messages/v1'],
]) {
  test(`${method} ${p} → 404 not_found_error`, async () => {
    const r = await request(`${ctx.clove.url}${p}`, { method, headers: H(), body: method === 'POST' ? '{}' : undefined });
    assert.deepEqual(anthropicErrorProblems(r, 404, 'not_found_error'), [], r.text);
  });
}

test('invalid JSON body → 400 invalid_request_error from Clove or the upstream', async () => {
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: H(), body: '{"model": "claude-sonnet-5-5", "messages": [' });
  assert.equal(r.status, 400, r.text);
  const j = JSON.parse(r.text);
  assert.equal(j.type, 'error');
  assert.equal(j.error.type, 'invalid_request_error');
});

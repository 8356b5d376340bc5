// End-to-end: the official @anthropic-ai/sdk against Clove, which proxies to the fake upstream.
//
// CLOVE_E2E_DIRECT=1 points the SDK at the fake upstream itself (no Clove): a self-check of the
// test logic; assertions about what Clove changes (keys) are skipped then.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  startFakeUpstream,
  expectedText,
  countTokensFor,
  fakeSignature,
  fakeUsage,
  buildStreamEvents,
  TOOL_INPUT,
  THINKING_TEXT,
  FAKE_CACHE_CREATION_5M,
  FAKE_CACHE_CREATION_1H,
  FAKE_CACHE_READ,
} from '../fake_upstream/server.mjs';
import { startClove, stopCloveChecked, resetCredentialStates, CLIENT_KEY, UPSTREAM_KEY } from '../lib/clove.mjs';
import { waitFor } from '../lib/http.mjs';

const DIRECT = process.env.CLOVE_E2E_DIRECT === '1';
const MODEL = 'claude-sonnet-5-5';

let fake;
let clove;
let baseURL;
let sent; // what the SDK put on the wire: [{url, method, headers: Headers, body: Buffer|null}]

before(async () => {
  fake = await startFakeUpstream();
  if (DIRECT) baseURL = fake.url;
  else {
    clove = await startClove({ fakeUrl: fake.url });
    baseURL = clove.url;
  }
});
after(async () => {
  try {
    if (clove) await stopCloveChecked(clove);
  } finally {
    await fake.close();
  }
});
beforeEach(() => {
  fake.reset();
  sent = [];
});

/** fetch wrapper recording the bytes the SDK sends. */
async function recordingFetch(url, init = {}) {
  let body = null;
  if (typeof init.body === 'string') body = Buffer.from(init.body);
  else if (init.body instanceof Uint8Array) body = Buffer.from(init.body);
  else if (init.body instanceof ArrayBuffer) body = Buffer.from(new Uint8Array(init.body));
  sent.push({ url: String(url), method: init.method, headers: new Headers(init.headers), body });
  return fetch(url, init);
}

function client(opts = {}) {
  return new Anthropic({
    baseURL,
    apiKey: CLIENT_KEY,
    maxRetries: 0,
    timeout: 20000,
    fetch: recordingFetch,
    ...opts,
  });
}

const scenario = (s) => ({ headers: { 'x-fake-scenario': s } });
const userMsg = (text = 'Say hello.') => [{ role: 'user', content: text }];

/** Checks that the one upstream request got the upstream key and none of the client's credentials. */
function assertUpstreamAuth(rec) {
  if (DIRECT) return;
  assert.equal(rec.headers['x-api-key'], UPSTREAM_KEY, 'upstream must receive the configured upstream key');
  assert.equal(rec.headers.authorization, undefined, 'client Authorization must not reach the upstream');
  const all = JSON.stringify(rec.rawHeaders);
  assert.ok(!all.includes(CLIENT_KEY), `client key leaked upstream: ${all}`);
}

function onlyMessagesRequest() {
  const reqs = fake.requestsTo('/v1/messages');
  assert.equal(reqs.length, 1, `expected one upstream /v1/messages request, got ${reqs.length}`);
  return reqs[0];
}

test('messages.create returns the upstream message (Bearer apiKey, request id relayed)', async () => {
  const c = client();
  const msg = await c.messages.create({ model: MODEL, max_tokens: 100, messages: userMsg() });
  assert.equal(sent[0].headers.get('authorization'), `Bearer ${CLIENT_KEY}`, 'SDK 1.x sends the key as Bearer');
  assert.equal(sent[0].headers.get('x-api-key'), null);
  const up = onlyMessagesRequest();
  assert.equal(msg.type, 'message');
  assert.equal(msg.model, MODEL);
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, expectedText({}));
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg._request_id, up.requestId, 'request-id header relayed unchanged');
  assert.equal(up.path, '/v1/messages');
  assert.ok(up.body.equals(sent[0].body), 'upstream body must equal the SDK body byte for byte');
  assertUpstreamAuth(up);
});

test('messages.stream yields text and a final message with usage', async () => {
  const c = client();
  const texts = [];
  const stream = c.messages.stream({ model: MODEL, max_tokens: 100, messages: userMsg() }, scenario('deltas:6'));
  stream.on('text', (t) => texts.push(t));
  const final = await stream.finalMessage();
  const up = onlyMessagesRequest();
  const sc = { deltas: '6' };
  assert.equal(texts.length, 6);
  assert.equal(texts.join(''), expectedText(sc));
  assert.equal(final.content[0].text, expectedText(sc));
  assert.equal(final.stop_reason, 'end_turn');
  const usage = fakeUsage(sc, up.body);
  assert.equal(final.usage.output_tokens, usage.output_tokens, 'cumulative output_tokens from message_delta');
  assert.equal(final.usage.input_tokens, usage.input_tokens);
  assert.equal(JSON.parse(up.body.toString()).stream, true);
  assertUpstreamAuth(up);
});

test('create({stream:true}) yields every event in order', async () => {
  const c = client();
  const s = await c.messages.create({ model: MODEL, max_tokens: 100, messages: userMsg(), stream: true }, scenario('deltas:4'));
  const types = [];
  for await (const ev of s) types.push(ev.type);
  const up = onlyMessagesRequest();
  const expected = buildStreamEvents({ deltas: '4' }, up.body, up.json)
    .map((e) => e.event)
    .filter((t) => types.includes('ping') || t !== 'ping');
  assert.deepEqual(types, expected);
});

test('streamed tool use: input_json_delta fragments assemble to the tool input', async () => {
  const c = client();
  const tools = [
    {
      name: 'get_weather',
      description: 'Weather for a place',
      input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    },
  ];
  const partials = [];
  const stream = c.messages.stream({ model: MODEL, max_tokens: 200, messages: userMsg('Weather in SF?'), tools }, scenario('tool_use'));
  stream.on('inputJson', (partial) => partials.push(partial));
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const tu = final.content.find((b) => b.type === 'tool_use');
  assert.ok(tu, 'tool_use block present');
  assert.equal(tu.name, 'get_weather');
  assert.match(tu.id, /^toolu_/);
  assert.deepEqual(tu.input, TOOL_INPUT);
  assert.ok(partials.length >= 2, 'several input_json_delta fragments');
  // and the non-streaming variant
  fake.reset();
  const msg = await c.messages.create({ model: MODEL, max_tokens: 200, messages: userMsg('Weather in SF?'), tools }, scenario('tool_use'));
  assert.equal(msg.stop_reason, 'tool_use');
  assert.deepEqual(msg.content.find((b) => b.type === 'tool_use').input, TOOL_INPUT);
});

test('thinking round-trip: the signed thinking block reaches the upstream unchanged next turn', async () => {
  const c = client();
  const thinking = { type: 'enabled', budget_tokens: 1024 };
  const first = await c.messages
    .stream({ model: MODEL, max_tokens: 2048, thinking, messages: userMsg('Think, then answer.') }, scenario('thinking'))
    .finalMessage();
  const up1 = onlyMessagesRequest();
  assert.equal(first.content[0].type, 'thinking');
  assert.equal(first.content[0].thinking, THINKING_TEXT);
  assert.equal(first.content[0].signature, fakeSignature(up1.body));
  assert.equal(first.content[1].type, 'text');

  fake.reset();
  sent = [];
  const history = [...userMsg('Think, then answer.'), { role: 'assistant', content: first.content }, { role: 'user', content: 'And again?' }];
  const second = await c.messages.create({ model: MODEL, max_tokens: 2048, thinking, messages: history }, scenario('thinking'));
  const up2 = onlyMessagesRequest();
  assert.ok(up2.body.equals(sent[0].body), 'second-turn body must reach the upstream byte for byte');
  const block = up2.json.messages[1].content[0];
  assert.equal(block.type, 'thinking');
  assert.equal(block.thinking, THINKING_TEXT);
  assert.equal(block.signature, fakeSignature(up1.body));
  assert.equal(second.content[0].type, 'thinking');
});

test('prompt-cache usage fields are relayed (JSON and stream)', async () => {
  const c = client();
  const system = [{ type: 'text', text: 'You are a cache test.', cache_control: { type: 'ephemeral', ttl: '1h' } }];
  const msg = await c.messages.create({ model: MODEL, max_tokens: 50, system, messages: userMsg() });
  for (const u of [msg.usage]) {
    assert.equal(u.cache_creation_input_tokens, FAKE_CACHE_CREATION_5M + FAKE_CACHE_CREATION_1H);
    assert.equal(u.cache_read_input_tokens, FAKE_CACHE_READ);
    assert.deepEqual(u.cache_creation, {
      ephemeral_5m_input_tokens: FAKE_CACHE_CREATION_5M,
      ephemeral_1h_input_tokens: FAKE_CACHE_CREATION_1H,
    });
  }
  const final = await c.messages.stream({ model: MODEL, max_tokens: 50, system, messages: userMsg() }).finalMessage();
  assert.equal(final.usage.cache_creation_input_tokens, FAKE_CACHE_CREATION_5M + FAKE_CACHE_CREATION_1H);
  assert.equal(final.usage.cache_read_input_tokens, FAKE_CACHE_READ);
  assert.equal(final.usage.cache_creation?.ephemeral_1h_input_tokens, FAKE_CACHE_CREATION_1H);
});

test('messages.countTokens', async () => {
  const c = client();
  const r = await c.messages.countTokens({ model: MODEL, messages: userMsg('count these tokens please') });
  const up = fake.requestsTo('/v1/messages/count_tokens');
  assert.equal(up.length, 1, 'count_tokens forwarded to the upstream');
  assert.equal(r.input_tokens, countTokensFor(up[0].body));
  assertUpstreamAuth(up[0]);
});

test('models.list and models.retrieve', async () => {
  const c = client();
  const ids = [];
  for await (const m of c.models.list({ limit: 2 })) {
    ids.push(m.id);
    if (ids.length > 50) break;
  }
  assert.ok(ids.length >= 1, 'at least one model');
  for (const id of ids) assert.equal(typeof id, 'string');
  assert.equal(new Set(ids).size, ids.length, 'pagination must not repeat models');
  const one = await c.models.retrieve(ids[0]);
  assert.equal(one.id, ids[0]);
  assert.equal(one.type, 'model');
});

test('x-api-key variant (older clients) is accepted', async () => {
  const c = client({ apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': CLIENT_KEY } });
  const msg = await c.messages.create({ model: MODEL, max_tokens: 20, messages: userMsg() });
  assert.equal(sent[0].headers.get('x-api-key'), CLIENT_KEY);
  assert.equal(sent[0].headers.get('authorization'), null);
  assert.equal(msg.content[0].text, expectedText({}));
  assertUpstreamAuth(onlyMessagesRequest());
});

test('wrong client key is an AuthenticationError from Clove', { skip: DIRECT && 'direct mode' }, async () => {
  const c = client({ apiKey: 'ck-wrong-key' });
  await assert.rejects(c.messages.create({ model: MODEL, max_tokens: 20, messages: userMsg() }), (err) => {
    assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err && err.constructor.name}: ${err && err.message}`);
    assert.equal(err.status, 401);
    assert.equal(err.type, 'authentication_error');
    assert.match(err.requestID ?? '', /^req_/);
    return true;
  });
  assert.equal(fake.requests.length, 0, 'rejected requests never reach the upstream');
});

for (const version of [undefined, '2023-06-01', '2026-10-21']) {
  test(`anthropic-version ${version ?? '(SDK default)'} reaches the upstream verbatim`, async () => {
    const c = client(version ? { defaultHeaders: { 'anthropic-version': version } } : {});
    await c.messages.create({ model: MODEL, max_tokens: 20, messages: userMsg() });
    const up = onlyMessagesRequest();
    assert.equal(up.headers['anthropic-version'], version ?? '2026-10-21');
  });
}

const ERRORS = [
  [400, 'BadRequestError', 'invalid_request_error'],
  [401, 'AuthenticationError', 'authentication_error'],
  [403, 'PermissionDeniedError', 'permission_error'],
  [404, 'NotFoundError', 'not_found_error'],
  [429, 'RateLimitError', 'rate_limit_error'],
  [500, 'InternalServerError', 'api_error'],
  [529, 'OverloadedError', 'overloaded_error'],
];

for (const stream of [false, true]) {
  test(`upstream errors surface as typed SDK errors (${stream ? 'stream' : 'JSON'})`, async () => {
    const c = client();
    for (const [status, cls, type] of ERRORS) {
      fake.reset();
      const p = stream
        ? c.messages.stream({ model: MODEL, max_tokens: 20, messages: userMsg() }, scenario(`error:${status}`)).finalMessage()
        : c.messages.create({ model: MODEL, max_tokens: 20, messages: userMsg() }, scenario(`error:${status}`));
      await assert.rejects(p, (err) => {
        assert.ok(err instanceof Anthropic[cls], `${status}: expected ${cls}, got ${err && err.constructor.name}: ${err && err.message}`);
        if (status >= 500) assert.ok(err instanceof Anthropic.InternalServerError);
        assert.equal(err.status, status);
        assert.equal(err.type, type, `${status}: error.type`);
        const up = fake.requestsTo('/v1/messages').at(-1);
        assert.equal(err.requestID, up.requestId, `${status}: upstream request-id relayed`);
        if (status === 429 || status === 529) assert.equal(err.headers.get('retry-after'), '7');
        return true;
      });
      // a 401/403 marks the only credential invalid, a 429 cools it down: back to valid
      if (!DIRECT) await resetCredentialStates(clove);
    }
  });
}

test('an upstream error event mid-stream surfaces as a typed APIError', async () => {
  const c = client();
  const stream = c.messages.stream({ model: MODEL, max_tokens: 20, messages: userMsg() }, scenario('error_event_after:4'));
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `got ${err && err.constructor.name}: ${err && err.message}`);
    assert.equal(err.type, 'overloaded_error');
    return true;
  });
});

test('a dropped upstream stream surfaces as an error, not a clean end', async () => {
  const c = client();
  const stream = c.messages.stream({ model: MODEL, max_tokens: 20, messages: userMsg() }, scenario('drop_after:5,deltas:6'));
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  await assert.rejects(stream.finalMessage(), (err) => {
    if (!DIRECT) {
      assert.ok(err instanceof Anthropic.APIError, `got ${err && err.constructor.name}: ${err && err.message}`);
      assert.equal(err.type, 'api_error', 'Clove ends a broken stream with an api_error event');
    }
    return true;
  });
  assert.deepEqual(texts, ['Hello', ' part1'], 'events sent before the drop still arrive');
});

test('abort mid-stream: the upstream request is aborted within 1 s', async () => {
  const c = client();
  const ac = new AbortController();
  const stream = c.messages.stream(
    { model: MODEL, max_tokens: 500, messages: userMsg() },
    { ...scenario('interval:200,deltas:30'), signal: ac.signal },
  );
  let abortedAt = null;
  stream.on('text', () => {
    if (abortedAt === null) {
      abortedAt = Date.now();
      ac.abort();
    }
  });
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIUserAbortError, `got ${err && err.constructor.name}: ${err && err.message}`);
    return true;
  });
  assert.ok(abortedAt, 'a text event arrived before the abort');
  const up = fake.requestsTo('/v1/messages')[0];
  await waitFor(() => up.aborted, { timeoutMs: 1000, what: 'upstream request aborted' });
  assert.ok(up.abortedAt - abortedAt <= 1000, `upstream aborted ${up.abortedAt - abortedAt} ms after the client`);
  assert.ok(up.eventsSent < 20, 'upstream stream did not run to completion');
});

// End-to-end: the official `openai` SDK against Clove's OpenAI front (`POST /v1/chat/completions`,
// `GET /v1/models`), routed by model to
//   (a) the fake ANTHROPIC upstream (tests/fake_upstream): Clove translates the request to a
//       Messages request and the answer back to ChatCompletion / chunks;
//   (b) the fake OPENAI upstream (tests/fake_openai): the body is passed through (model mapped,
//       operator key as Bearer) and the answer relayed as it is.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startFakeUpstream,
  expectedText as anthropicText,
  fakeUsage as anthropicFakeUsage,
  errorBody as anthropicErrorBody,
  parseScenario as parseAnthropicScenario,
  TOOL_INPUT,
  THINKING_TEXT,
} from '../fake_upstream/server.mjs';
import { startFakeOpenAI, fakeUsage as openaiFakeUsage, parseScenario as parseOpenAIScenario, errorMessageFor, MIDSTREAM_ERROR } from '../fake_openai/server.mjs';
import { startClove, stopCloveChecked, resetCredentialStates, fakeUpstreamEntry, CLIENT_KEY, UPSTREAM_KEY } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';
import { OAI_KEY, openaiUpstreamEntry, configWithUpstreams, assertOpenAIUpstreamHeaders, PNG_1X1_BASE64 } from '../lib/openai.mjs';

const A_MODEL = 'claude-sonnet-4-5'; // served by the fake Anthropic upstream
const O_MODEL = 'gpt-clove'; // served by the fake OpenAI upstream, model_map -> qwen3

let fakeA;
let fakeO;
let clove;
let sent; // what the SDK put on the wire: [{url, method, headers, body (string|null)}]

before(async () => {
  fakeA = await startFakeUpstream();
  fakeO = await startFakeOpenAI();
  clove = await startClove({
    config: configWithUpstreams([
      fakeUpstreamEntry(fakeA.url),
      openaiUpstreamEntry(fakeO.url, { models: ['gpt-*'], model_map: { [O_MODEL]: 'qwen3' } }),
    ]),
  });
});
after(async () => {
  try {
    if (clove) await stopCloveChecked(clove);
  } finally {
    await fakeA.close();
    await fakeO.close();
  }
});
beforeEach(async () => {
  await resetCredentialStates(clove);
  fakeA.reset();
  fakeO.reset();
  sent = [];
});

async function recordingFetch(url, init = {}) {
  sent.push({ url: String(url), method: init.method, headers: new Headers(init.headers), body: typeof init.body === 'string' ? init.body : null });
  return fetch(url, init);
}

function client(opts = {}) {
  return new OpenAI({ baseURL: `${clove.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30000, fetch: recordingFetch, ...opts });
}

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a place',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

function onlyAnthropic() {
  const reqs = fakeA.requestsTo('/v1/messages');
  assert.equal(reqs.length, 1, `expected one upstream /v1/messages request, got ${reqs.length}`);
  assert.equal(fakeO.requests.length, 0, 'nothing went to the OpenAI upstream');
  return reqs[0];
}
function onlyOpenAI() {
  const reqs = fakeO.chatRequests();
  assert.equal(reqs.length, 1, `expected one upstream chat request, got ${reqs.length}`);
  assert.equal(fakeA.requests.length, 0, 'nothing went to the Anthropic upstream');
  return reqs[0];
}

/** Text of an Anthropic content (string or blocks). */
function aText(content) {
  if (typeof content === 'string') return content;
  return (content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
}

/** OpenAI usage expected from the Anthropic fake's usage (reference B.6). */
function usageFromAnthropic(sc, body) {
  const u = anthropicFakeUsage(sc, body);
  const prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  return { prompt_tokens: prompt, completion_tokens: u.output_tokens, total_tokens: prompt + u.output_tokens, cached_tokens: u.cache_read_input_tokens };
}

async function drain(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

/** The chunks of a streamed chat completion of one user message (stream: true, then extra). */
async function streamChunks(model, content, extra = {}) {
  return drain(await client().chat.completions.create({ model, messages: [{ role: 'user', content }], stream: true, ...extra }));
}

/** A chat completion (not streamed) of a system message and the user's 'Say hello.', then extra. */
function createWithSystem(model, system, extra) {
  return client().chat.completions.create({
    model,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'Say hello.' },
    ],
    ...extra,
  });
}

/** The joined delta.<field> of streamed chunks. */
function deltaText(chunks, field = 'content') {
  return chunks.map((c) => c.choices[0]?.delta?.[field] ?? '').join('');
}

function assertOpenAIErrorShape(err, status) {
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status);
  assert.equal(typeof err.error?.message, 'string', `error body: ${JSON.stringify(err.error)}`);
  assert.ok(err.error.message.length > 0);
  assert.equal(typeof err.error.type, 'string');
}

// ---------------------------------------------------------------- (a) Anthropic upstream

test('(a) chat.completions.create: ChatCompletion from an Anthropic Message; Messages request upstream', async () => {
  const res = await createWithSystem(A_MODEL, 'You are terse.', { max_completion_tokens: 123, temperature: 0.3, stop: ['END'] });
  const up = onlyAnthropic();
  assert.match(res.id, /^chatcmpl-/);
  assert.equal(res.object, 'chat.completion');
  assert.equal(typeof res.created, 'number');
  assert.equal(res.choices.length, 1);
  assert.equal(res.choices[0].index, 0);
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, anthropicText({}));
  assert.equal(res.choices[0].finish_reason, 'stop');
  const want = usageFromAnthropic({}, up.body);
  assert.equal(res.usage.prompt_tokens, want.prompt_tokens);
  assert.equal(res.usage.completion_tokens, want.completion_tokens);
  assert.equal(res.usage.total_tokens, want.total_tokens);
  assert.equal(res.usage.prompt_tokens_details?.cached_tokens, want.cached_tokens);

  assert.equal(up.headers['x-api-key'], UPSTREAM_KEY);
  assert.equal(up.headers.authorization, undefined);
  assert.ok(!JSON.stringify(up.rawHeaders).includes(CLIENT_KEY));
  const j = JSON.parse(up.body.toString());
  assert.equal(j.model, A_MODEL);
  assert.equal(j.max_tokens, 123);
  assert.equal(j.temperature, 0.3);
  assert.deepEqual(j.stop_sequences, ['END']);
  assert.equal(aText(j.system), 'You are terse.', 'system messages hoisted into `system`');
  assert.deepEqual(
    j.messages.map((m) => [m.role, aText(m.content)]),
    [['user', 'Say hello.']],
  );
});

test('(a) model_map, max_tokens 8192 when absent, temperature clamped to 1, user -> metadata.user_id, developer message', async () => {
  await client().chat.completions.create({
    model: 'claude-latest',
    messages: [
      { role: 'developer', content: 'Dev rules.' },
      { role: 'user', content: 'hi' },
    ],
    temperature: 1.5,
    user: 'user-77',
  });
  const j = JSON.parse(onlyAnthropic().body.toString());
  assert.equal(j.model, 'claude-sonnet-4-5');
  assert.equal(j.max_tokens, 8192);
  assert.equal(j.temperature, 1);
  assert.equal(j.metadata?.user_id, 'user-77');
  assert.equal(aText(j.system), 'Dev rules.');
  assert.deepEqual(
    j.messages.map((m) => m.role),
    ['user'],
  );
});

test('(a) n > 1 answers 400 (BadRequestError) without an upstream call', async () => {
  await assert.rejects(client().chat.completions.create({ model: A_MODEL, n: 2, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
    assertOpenAIErrorShape(err, 400);
    return true;
  });
  assert.equal(fakeA.requests.length, 0);
});

test('(a) thinking comes back as reasoning_content (JSON and stream)', async () => {
  fakeA.setRules([{ scenario: 'thinking' }]);
  const res = await client().chat.completions.create({ model: A_MODEL, messages: [{ role: 'user', content: 'Think.' }], reasoning_effort: 'low' });
  assert.equal(res.choices[0].message.reasoning_content, THINKING_TEXT);
  assert.equal(res.choices[0].message.content, anthropicText({}));
  const j = JSON.parse(onlyAnthropic().body.toString());
  assert.ok(j.thinking && j.thinking.type !== 'disabled', `reasoning_effort -> thinking: ${JSON.stringify(j.thinking)}`);

  fakeA.reset();
  fakeA.setRules([{ scenario: 'thinking' }]);
  const chunks = await streamChunks(A_MODEL, 'Think.');
  assert.equal(deltaText(chunks, 'reasoning_content'), THINKING_TEXT);
  assert.equal(deltaText(chunks), anthropicText({}));
});

test('(a) stream with include_usage: role first, content joined, one finish_reason, usage chunk last', async () => {
  fakeA.setRules([{ scenario: 'deltas:5' }]);
  const chunks = await streamChunks(A_MODEL, 'Say hello.', { stream_options: { include_usage: true } });
  const up = onlyAnthropic();
  assert.equal(JSON.parse(up.body.toString()).stream, true);
  assert.ok(chunks.length >= 4);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0].id, 'one id for all chunks');
  }
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(deltaText(chunks), anthropicText(parseAnthropicScenario('deltas:5')));
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finishes.length, 1);
  assert.equal(finishes[0].choices[0].finish_reason, 'stop');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  const want = usageFromAnthropic(parseAnthropicScenario('deltas:5'), up.body);
  assert.equal(last.usage.prompt_tokens, want.prompt_tokens);
  assert.equal(last.usage.completion_tokens, want.completion_tokens);
  assert.equal(last.usage.total_tokens, want.total_tokens);
  for (const c of chunks.slice(0, -1)) assert.ok(!c.usage, 'usage only on the last chunk');
});

test('(a) stream without include_usage: no usage chunk', async () => {
  const chunks = await streamChunks(A_MODEL, 'hi');
  assert.equal(deltaText(chunks), anthropicText({}));
  assert.ok(!chunks.some((c) => c.usage), 'no usage');
  assert.ok(!chunks.some((c) => c.choices.length === 0), 'no choices:[] chunk');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('(a) tool calls: tools/tool_choice mapped, tool_calls with JSON arguments (JSON and stream)', async () => {
  fakeA.setRules([{ scenario: 'tool_use' }]);
  const res = await client().chat.completions.create({
    model: A_MODEL,
    messages: [{ role: 'user', content: 'Weather in SF?' }],
    tools: [WEATHER],
    tool_choice: 'required',
    parallel_tool_calls: false,
  });
  const j = JSON.parse(onlyAnthropic().body.toString());
  assert.deepEqual(j.tools, [{ name: 'get_weather', description: 'Weather for a place', input_schema: WEATHER.function.parameters }]);
  assert.equal(j.tool_choice.type, 'any');
  assert.equal(j.tool_choice.disable_parallel_tool_use, true);
  const msg = res.choices[0].message;
  assert.equal(res.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.content, anthropicText({ tool_use: true }));
  assert.equal(msg.tool_calls.length, 1);
  const tc = msg.tool_calls[0];
  assert.match(tc.id, /^toolu_fake_/);
  assert.equal(tc.type, 'function');
  assert.equal(tc.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(tc.function.arguments), TOOL_INPUT);

  fakeA.reset();
  fakeA.setRules([{ scenario: 'tool_use' }]);
  const chunks = await streamChunks(A_MODEL, 'Weather in SF?', { tools: [WEATHER] });
  const frags = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
  assert.ok(frags.length >= 2, 'several tool-call fragments');
  assert.ok(frags.every((f) => f.index === 0));
  assert.match(frags[0].id, /^toolu_fake_/);
  assert.equal(frags[0].type, 'function');
  assert.equal(frags[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(frags.map((f) => f.function?.arguments ?? '').join('')), TOOL_INPUT);
  assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'tool_calls');
});

test('(a) second turn: assistant tool_calls + role tool become tool_use + tool_result', async () => {
  const id = 'toolu_01ABCdef';
  await client().chat.completions.create({
    model: A_MODEL,
    tools: [WEATHER],
    messages: [
      { role: 'user', content: 'Weather in SF?' },
      { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(TOOL_INPUT) } }] },
      { role: 'tool', tool_call_id: id, content: '18 C, foggy' },
      { role: 'user', content: 'And tomorrow?' },
    ],
  });
  const j = JSON.parse(onlyAnthropic().body.toString());
  assert.deepEqual(
    j.messages.map((m) => m.role),
    ['user', 'assistant', 'user'],
  );
  const tu = j.messages[1].content.find((b) => b.type === 'tool_use');
  assert.deepEqual({ id: tu.id, name: tu.name, input: tu.input }, { id, name: 'get_weather', input: TOOL_INPUT });
  const userTurn = j.messages[2].content;
  assert.ok(Array.isArray(userTurn));
  assert.equal(userTurn[0].type, 'tool_result', 'tool_result blocks come first');
  assert.equal(userTurn[0].tool_use_id, id);
  assert.equal(aText(userTurn[0].content), '18 C, foggy');
  assert.equal(aText(userTurn.slice(1)), 'And tomorrow?');
});

test('(a) images: data: URL -> base64 image block, https URL -> url image block', async () => {
  await client().chat.completions.create({
    model: A_MODEL,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare.' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1_BASE64}` } },
          { type: 'image_url', image_url: { url: 'https://example.com/b.jpg' } },
        ],
      },
    ],
  });
  const content = JSON.parse(onlyAnthropic().body.toString()).messages[0].content;
  assert.deepEqual(content, [
    { type: 'text', text: 'Compare.' },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1X1_BASE64 } },
    { type: 'image', source: { type: 'url', url: 'https://example.com/b.jpg' } },
  ]);
});

for (const [status, cls] of [
  [400, 'BadRequestError'],
  [429, 'RateLimitError'],
  [500, 'InternalServerError'],
  [529, 'InternalServerError'],
]) {
  test(`(a) Anthropic upstream ${status} -> ${cls} with an OpenAI-shaped body`, async () => {
    fakeA.setRules([{ scenario: `error:${status}` }]);
    const anthropicMessage = JSON.parse(anthropicErrorBody(status, 'req_x')).error.message;
    await assert.rejects(client().chat.completions.create({ model: A_MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
      assert.ok(err instanceof OpenAI[cls], `got ${err?.constructor?.name}: ${err?.message}`);
      assertOpenAIErrorShape(err, status);
      assert.ok(err.error.message.includes(anthropicMessage), `message ${err.error.message}`);
      assert.equal(err.error.param, null);
      assert.equal(err.error.code, null);
      return true;
    });
  });
}

test('(a) errors made by Clove are OpenAI-shaped: wrong key 401, unknown model', async () => {
  const r = await request(`${clove.url}/v1/chat/completions`, {
    headers: { 'content-type': 'application/json', authorization: 'Bearer ck-wrong' },
    body: JSON.stringify({ model: A_MODEL, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 401);
  const j = r.json();
  assert.deepEqual(Object.keys(j), ['error']);
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(j.error.param, null);
  assert.equal(j.error.code, null);
  await assert.rejects(client({ apiKey: 'ck-wrong' }).chat.completions.create({ model: A_MODEL, messages: [{ role: 'user', content: 'hi' }] }), OpenAI.AuthenticationError);
  await assert.rejects(client().chat.completions.create({ model: 'no-such-model-x', messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
    assertOpenAIErrorShape(err, 404);
    assert.match(err.error.message, /no-such-model-x/);
    return true;
  });
  assert.equal(fakeA.requests.length + fakeO.requests.length, 0);
});

test('(a) mid-stream upstream error event and connection drop make the SDK stream throw', async () => {
  for (const sc of ['deltas:6,error_event_after:5', 'deltas:6,drop_after:5,interval:20']) {
    fakeA.reset();
    fakeA.setRules([{ scenario: sc }]);
    const stream = await client().chat.completions.create({ model: A_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let got = '';
    await assert.rejects(
      (async () => {
        for await (const c of stream) got += c.choices[0]?.delta?.content ?? '';
      })(),
      (err) => {
        assert.ok(err instanceof OpenAI.APIError, `${sc}: got ${err?.constructor?.name}: ${err?.message}`);
        return true;
      },
      sc,
    );
    assert.ok(got.startsWith('Hello'), `${sc}: the text before the error was relayed (${JSON.stringify(got)})`);
  }
});

test('models.list(): the OpenAI list shape', async () => {
  const ids = [];
  for await (const m of client().models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'clove');
    assert.equal(typeof m.created, 'number');
    assert.equal(typeof m.id, 'string');
    ids.push(m.id);
    if (ids.length > 500) break;
  }
  assert.ok(ids.length >= 1, 'at least one model');
  const r = await request(`${clove.url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
  assert.equal(r.status, 200);
  assert.equal(r.json().object, 'list');
  assert.ok(Array.isArray(r.json().data));
});

// ---------------------------------------------------------------- (b) OpenAI upstream

function assertPassedThrough(up, model = 'qwen3') {
  assertOpenAIUpstreamHeaders(up, OAI_KEY);
  const mine = JSON.parse(sent.at(-1).body);
  assert.deepEqual(up.json, { ...mine, model }, 'the body reaches the upstream as sent, only the model mapped');
}

test('(b) chat.completions.create: passed through, answer relayed', async () => {
  fakeO.setRules([{ scenario: 'deltas:4' }]);
  const res = await createWithSystem(O_MODEL, 'Be brief.', { max_completion_tokens: 50, temperature: 0.7, seed: 7 });
  const up = onlyOpenAI();
  assertPassedThrough(up);
  assert.equal(up.path, '/v1/chat/completions');
  const original = JSON.parse(up.responseBody);
  assert.equal(res.id, original.id);
  assert.equal(res.object, 'chat.completion');
  assert.deepEqual(res.choices, original.choices);
  assert.deepEqual(res.usage, openaiFakeUsage(parseOpenAIScenario('deltas:4'), up.body, up.json));
  assert.equal(res.choices[0].message.content, 'Hello oai1 oai2 oai3');
});

test('(b) stream with include_usage: chunks relayed, usage chunk last', async () => {
  fakeO.setRules([{ scenario: 'deltas:5' }]);
  const chunks = await streamChunks(O_MODEL, 'Say hello.', { stream_options: { include_usage: true } });
  const up = onlyOpenAI();
  assertPassedThrough(up);
  assert.equal(deltaText(chunks), 'Hello oai1 oai2 oai3 oai4');
  const upstreamChunks = up.sentFrames.map((f) => f.slice(6).trim()).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
  assert.equal(chunks.length, upstreamChunks.length);
  for (let i = 0; i < chunks.length; i++) {
    assert.equal(chunks[i].id, upstreamChunks[i].id);
    assert.deepEqual(chunks[i].choices, upstreamChunks[i].choices, `chunk ${i}`);
  }
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.deepEqual(chunks.at(-1).usage, openaiFakeUsage(parseOpenAIScenario('deltas:5'), up.body, up.json));
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
});

test('(b) tool calls relayed as is (ids untouched), second turn with role tool passed through', async () => {
  fakeO.setRules([{ scenario: 'tool_calls:2,bad_tool_id' }]);
  const c = client();
  const runner = c.chat.completions.stream({ model: O_MODEL, messages: [{ role: 'user', content: 'Weather?' }], tools: [WEATHER] });
  const final = await runner.finalChatCompletion();
  const tcs = final.choices[0].message.tool_calls;
  assert.deepEqual(
    tcs.map((t) => t.id),
    ['functions.get_weather:0', 'functions.get_time:1'],
  );
  assert.equal(final.choices[0].finish_reason, 'tool_calls');

  fakeO.reset();
  await c.chat.completions.create({
    model: O_MODEL,
    tools: [WEATHER],
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: tcs.map((t) => ({ id: t.id, type: 'function', function: t.function })) },
      { role: 'tool', tool_call_id: tcs[0].id, content: 'sunny' },
      { role: 'tool', tool_call_id: tcs[1].id, content: '09:00' },
    ],
  });
  const up = onlyOpenAI();
  assertPassedThrough(up);
  assert.equal(up.json.messages[2].role, 'tool');
  assert.equal(up.json.messages[2].tool_call_id, 'functions.get_weather:0');
});

test('(b) images pass through unchanged', async () => {
  await client().chat.completions.create({
    model: O_MODEL,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1X1_BASE64}`, detail: 'low' } }] }],
  });
  assertPassedThrough(onlyOpenAI());
});

for (const [status, cls] of [
  [400, 'BadRequestError'],
  [429, 'RateLimitError'],
  [500, 'InternalServerError'],
  [503, 'InternalServerError'],
]) {
  test(`(b) OpenAI upstream ${status} -> ${cls}, the upstream error relayed`, async () => {
    fakeO.setRules([{ scenario: `error:${status}` }]);
    await assert.rejects(client().chat.completions.create({ model: O_MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
      assert.ok(err instanceof OpenAI[cls], `got ${err?.constructor?.name}: ${err?.message}`);
      assertOpenAIErrorShape(err, status);
      assert.equal(err.error.message, errorMessageFor(status));
      return true;
    });
  });
}

test('(b) mid-stream data: {"error"} and a dropped connection make the SDK stream throw', async () => {
  fakeO.setRules([{ scenario: 'deltas:6,error_chunk_after:3' }]);
  let stream = await client().chat.completions.create({ model: O_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
  await assert.rejects(drain(stream), (err) => {
    assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err.message.includes(MIDSTREAM_ERROR.message), err.message);
    return true;
  });
  fakeO.reset();
  fakeO.setRules([{ scenario: 'deltas:6,drop_after:3,interval:20' }]);
  stream = await client().chat.completions.create({ model: O_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
  await assert.rejects(drain(stream));
});

// Self-test of the fake OpenAI-compatible upstream (no Clove involved): the scenarios behave as
// documented in server.mjs, and the official `openai` SDK accepts what the fake sends.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import {
  startFakeOpenAI,
  expectedText,
  expectedToolCalls,
  fakeUsage,
  tokenizeCount,
  errorMessageFor,
  REASONING_TEXT,
  TOOL_ARGS,
  TOOL_IDS,
  FAKE_CACHED_TOKENS,
  FAKE_OPENAI_MODELS,
  MIDSTREAM_ERROR,
} from './server.mjs';
import { request, waitFor } from '../lib/http.mjs';

let fake;
before(async () => {
  fake = await startFakeOpenAI();
});
after(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const H = (scenario, extra = {}) => ({
  'content-type': 'application/json',
  authorization: 'Bearer sk-test',
  ...(scenario ? { 'x-fake-scenario': scenario } : {}),
  ...extra,
});
const chatBody = (extra = {}) =>
  JSON.stringify({ model: 'qwen3', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true }, ...extra });
const chat = (scenario, extra, headers) =>
  request(`${fake.url}/v1/chat/completions`, { headers: H(scenario, headers), body: chatBody(extra), timeoutMs: 10000 });

/** The data payloads of an OpenAI SSE body: parsed chunks and the literal '[DONE]'. */
function dataOf(r) {
  return r.events.map((e) => (e.data === '[DONE]' ? '[DONE]' : e.json));
}

function sdk(opts = {}) {
  return new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'sk-test', maxRetries: 0, timeout: 10000, ...opts });
}

test('plain stream: role chunk, N content deltas, finish chunk, usage chunk, [DONE]', async () => {
  const r = await chat('deltas:5');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.ok(r.complete);
  for (const e of r.events) assert.equal(e.event, undefined, 'OpenAI streams have no event: lines');
  const d = dataOf(r);
  assert.equal(d.at(-1), '[DONE]');
  const chunks = d.slice(0, -1);
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const contents = chunks.filter((c) => c.choices[0]?.delta?.content).map((c) => c.choices[0].delta.content);
  assert.equal(contents.length, 5);
  assert.equal(contents.join(''), expectedText({ deltas: '5' }));
  assert.equal(contents.join(''), 'Hello oai1 oai2 oai3 oai4');
  const fin = chunks.at(-2);
  assert.equal(fin.choices[0].finish_reason, 'stop');
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.prompt_tokens_details.cached_tokens, FAKE_CACHED_TOKENS);
  assert.deepEqual(usage.usage, fakeUsage({ deltas: '5' }, fake.requests[0].body, fake.requests[0].json));
  assert.ok(usage.usage.prompt_tokens > FAKE_CACHED_TOKENS);
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, 'chunks before the usage chunk carry usage:null');
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for all chunks');
  assert.equal(chunks[0].model, 'qwen3');
  const rec = fake.requests[0];
  assert.equal(rec.apiKey, 'sk-test');
  assert.equal(rec.path, '/v1/chat/completions');
  assert.equal(rec.json.model, 'qwen3');
  assert.equal(rec.headers['content-type'], 'application/json');
});

test('no usage chunk unless include_usage was asked (or force_usage)', async () => {
  let r = await chat('', { stream_options: undefined });
  let d = dataOf(r);
  assert.ok(!d.some((c) => c !== '[DONE]' && c.usage), 'no usage without include_usage');
  assert.equal(d.at(-2).choices[0].finish_reason, 'stop');
  r = await chat('force_usage', { stream_options: undefined });
  d = dataOf(r);
  assert.ok(d.at(-2).usage, 'force_usage sends it');
  r = await chat('usage_on_finish');
  d = dataOf(r);
  assert.equal(d.at(-2).choices[0].finish_reason, 'stop');
  assert.ok(d.at(-2).usage.completion_tokens > 0, 'usage on the finish chunk');
});

test('non-stream JSON answer when stream is false', async () => {
  const r = await chat('deltas:4', { stream: false, stream_options: undefined });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^application\/json/);
  const j = r.json();
  assert.equal(j.object, 'chat.completion');
  assert.equal(j.choices[0].message.role, 'assistant');
  assert.equal(j.choices[0].message.content, 'Hello oai1 oai2 oai3');
  assert.equal(j.choices[0].finish_reason, 'stop');
  assert.equal(j.usage.prompt_tokens_details.cached_tokens, FAKE_CACHED_TOKENS);
});

test('json_answer: one JSON completion even for a stream request', async () => {
  const r = await chat('json_answer,tool_calls,tool_text');
  assert.match(r.headers['content-type'], /^application\/json/);
  const j = r.json();
  assert.equal(j.choices[0].message.content, expectedText({}));
  assert.equal(j.choices[0].message.tool_calls[0].id, TOOL_IDS[0]);
});

test('reasoning_content and reasoning deltas come before the content', async () => {
  for (const [directive, field] of [
    ['reasoning', 'reasoning_content'],
    ['reasoning:reasoning', 'reasoning'],
  ]) {
    const r = await chat(directive);
    const chunks = dataOf(r).filter((c) => c !== '[DONE]' && c.choices.length);
    const kinds = chunks.map((c) => Object.keys(c.choices[0].delta).find((k) => k !== 'role') ?? 'none');
    const firstContent = chunks.findIndex((c) => c.choices[0].delta.content);
    const reasoning = chunks.filter((c) => c.choices[0].delta[field]).map((c) => c.choices[0].delta[field]);
    assert.equal(reasoning.join(''), REASONING_TEXT, `${field}: ${kinds}`);
    assert.ok(chunks.findLastIndex((c) => c.choices[0].delta[field]) < firstContent, 'reasoning first');
    const other = field === 'reasoning' ? 'reasoning_content' : 'reasoning';
    assert.ok(!chunks.some((c) => c.choices[0].delta[other]), `no ${other} field`);
  }
  const j = (await chat('reasoning', { stream: false })).json();
  assert.equal(j.choices[0].message.reasoning_content, REASONING_TEXT);
});

test('tool calls: one and two parallel, arguments split across many chunks', async () => {
  const tools = [
    { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } },
    { type: 'function', function: { name: 'clock', parameters: { type: 'object' } } },
  ];
  for (const [sc, n] of [
    ['tool_calls', 1],
    ['tool_calls:2', 2],
    ['tool_calls:2,interleave', 2],
  ]) {
    const r = await chat(`${sc},arg_chunks:7`, { tools });
    const chunks = dataOf(r).filter((c) => c !== '[DONE]' && c.choices.length);
    const frags = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    const calls = [];
    for (const f of frags) {
      calls[f.index] ??= { id: null, name: null, args: '', n: 0 };
      if (f.id) calls[f.index].id = f.id;
      if (f.function?.name) calls[f.index].name = f.function.name;
      calls[f.index].args += f.function?.arguments ?? '';
      calls[f.index].n++;
    }
    assert.equal(calls.length, n, sc);
    for (let i = 0; i < n; i++) {
      assert.equal(calls[i].id, TOOL_IDS[i]);
      assert.equal(calls[i].name, tools[i].function.name);
      assert.deepEqual(JSON.parse(calls[i].args), TOOL_ARGS[i]);
      assert.ok(calls[i].n >= 7, `arguments split into many fragments (${calls[i].n})`);
    }
    if (sc.includes('interleave')) assert.equal(frags[1].index, 1, 'interleaved: the second fragment is for call 1');
    else if (n === 2) assert.equal(frags[1].index, 0, 'in order: call 0 first');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    assert.ok(!chunks.some((c) => c.choices[0].delta.content), 'no text without tool_text');
  }
  const bad = expectedToolCalls({ tool_calls: '2', bad_tool_id: true }, { tools });
  assert.deepEqual(
    bad.map((c) => c.id),
    ['functions.lookup:0', 'functions.clock:1'],
  );
  const j = (await chat('tool_calls,bad_tool_id', { stream: false })).json();
  assert.equal(j.choices[0].message.content, null);
  assert.equal(j.choices[0].message.tool_calls[0].id, 'functions.get_weather:0');
  assert.deepEqual(JSON.parse(j.choices[0].message.tool_calls[0].function.arguments), TOOL_ARGS[0]);
  assert.equal(j.choices[0].finish_reason, 'tool_calls');
});

test('stop_ignored: "ST" and "OP" fall in different chunks; finish:length; finish:none', async () => {
  let d = dataOf(await chat('stop_ignored'));
  const contents = d.filter((c) => c !== '[DONE]' && c.choices[0]?.delta?.content).map((c) => c.choices[0].delta.content);
  assert.equal(contents.join(''), 'Hello STOP world');
  assert.ok(contents.some((p) => p.endsWith('ST')) && contents.some((p) => p.startsWith('OP')));
  assert.ok(!contents.some((p) => p.includes('STOP')));
  d = dataOf(await chat('length'));
  assert.equal(d.at(-3).choices[0].finish_reason, 'length');
  d = dataOf(await chat('finish:none'));
  assert.ok(!d.some((c) => c !== '[DONE]' && c.choices[0]?.finish_reason), 'no finish_reason at all');
  d = dataOf(await chat('text:a%2Cb|c d'));
  assert.equal(
    d
      .filter((c) => c !== '[DONE]' && c.choices[0]?.delta?.content)
      .map((c) => c.choices[0].delta.content)
      .join('|'),
    'a,b|c d',
  );
});

test('HTTP errors carry an OpenAI error body (429/503 with retry-after)', async () => {
  for (const status of [400, 401, 422, 429, 500, 503]) {
    const r = await chat(`error:${status}`);
    assert.equal(r.status, status);
    const j = r.json();
    assert.equal(j.error.message, errorMessageFor(status));
    assert.equal(typeof j.error.type, 'string');
    assert.ok('param' in j.error && 'code' in j.error);
    if (status === 429) assert.equal(r.headers['retry-after'], '7');
    else if (status === 503) assert.equal(r.headers['retry-after'], '3');
    else assert.equal(r.headers['retry-after'], undefined);
  }
  const r = await request(`${fake.url}/v1/chat/completions`, { headers: { 'content-type': 'application/json' }, body: chatBody() });
  assert.equal(r.status, 401, 'no Bearer key');
});

test('drop_after breaks the connection; error_chunk_after sends data: {"error"}', async () => {
  let r = await chat('drop_after:3');
  assert.equal(r.events.length, 3);
  assert.equal(r.complete, false);
  await waitFor(() => fake.requests[0].dropped, { what: 'dropped flag' });
  r = await chat('error_chunk_after:2');
  assert.ok(r.complete);
  assert.equal(r.events.length, 3);
  assert.deepEqual(r.events[2].json, { error: MIDSTREAM_ERROR });
  assert.ok(!r.events.some((e) => e.data === '[DONE]'));
});

test('interval spaces the frames (slow deltas)', async () => {
  const r = await chat('interval:80,deltas:3');
  const ats = r.events.map((e) => e.at);
  assert.ok(ats.at(-1) - ats[0] >= 80 * (ats.length - 1) - 30, `frames at ${ats}`);
});

test('rules choose the scenario (key, path, times) and win over the header', async () => {
  fake.setRules([
    { key: 'sk-other', scenario: 'error:500' },
    { path: '/v1/chat/completions', scenario: 'deltas:2', times: 1 },
  ]);
  let d = dataOf(await chat('deltas:6'));
  assert.equal(
    d
      .filter((c) => c !== '[DONE]' && c.choices[0]?.delta?.content)
      .map((c) => c.choices[0].delta.content)
      .join(''),
    'Hello oai1',
  );
  d = dataOf(await chat('deltas:6'));
  assert.equal(d.filter((c) => c !== '[DONE]' && c.choices[0]?.delta?.content).length, 6, 'rule spent');
  const r = await chat('', {}, { authorization: 'Bearer sk-other' });
  assert.equal(r.status, 500);
  assert.deepEqual(
    fake.rules().map((x) => x.used),
    [1, 1],
  );
  assert.deepEqual(
    fake.requests.map((x) => x.rule),
    [1, null, 0],
  );
});

test('/tokenize (vLLM and llama.cpp styles), /v1/models, 404', async () => {
  const body = { model: 'qwen3', messages: [{ role: 'user', content: 'count me please' }] };
  let r = await request(`${fake.url}/tokenize`, { headers: H(), body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  assert.equal(r.json().count, tokenizeCount(body));
  assert.equal(r.json().tokens.length, r.json().count);
  r = await request(`${fake.url}/tokenize`, { headers: H(), body: JSON.stringify({ content: 'hello world' }) });
  assert.equal(r.json().tokens.length, tokenizeCount({ content: 'hello world' }));
  r = await request(`${fake.url}/v1/models`, { headers: H() });
  assert.deepEqual(
    r.json().data.map((m) => m.id),
    FAKE_OPENAI_MODELS,
  );
  r = await request(`${fake.url}/v1/nothing`, { headers: H(), body: '{}' });
  assert.equal(r.status, 404);
  assert.match(r.json().error.message, /fake openai/);
});

test('any path ending in /chat/completions is served', async () => {
  const r = await request(`${fake.url}/custom/prefix/chat/completions`, { headers: H(), body: chatBody({ stream: false }) });
  assert.equal(r.status, 200);
  assert.equal(fake.chatRequests()[0].path, '/custom/prefix/chat/completions');
});

test('the official openai SDK reads the fake: stream, tool calls, JSON, typed errors, midstream error', async () => {
  const c = sdk({ defaultHeaders: { 'x-fake-scenario': 'deltas:4' } });
  const msg = await c.chat.completions.create({ model: 'qwen3', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.choices[0].message.content, expectedText({ deltas: '4' }));
  const s = await c.chat.completions.create({
    model: 'qwen3',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let last;
  for await (const ch of s) {
    text += ch.choices[0]?.delta?.content ?? '';
    last = ch;
  }
  assert.equal(text, expectedText({ deltas: '4' }));
  assert.ok(last.usage.total_tokens > 0);

  const runner = sdk().chat.completions.stream(
    { model: 'qwen3', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] },
    { headers: { 'x-fake-scenario': 'tool_calls:2' } },
  );
  const final = await runner.finalChatCompletion();
  assert.deepEqual(
    final.choices[0].message.tool_calls.map((t) => [t.id, JSON.parse(t.function.arguments)]),
    [
      [TOOL_IDS[0], TOOL_ARGS[0]],
      [TOOL_IDS[1], TOOL_ARGS[1]],
    ],
  );

  await assert.rejects(
    sdk().chat.completions.create({ model: 'qwen3', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-fake-scenario': 'error:429' } }),
    (err) => err instanceof OpenAI.RateLimitError && err.status === 429 && err.message.includes(errorMessageFor(429)),
  );
  const broken = await sdk().chat.completions.create(
    { model: 'qwen3', messages: [{ role: 'user', content: 'hi' }], stream: true },
    { headers: { 'x-fake-scenario': 'error_chunk_after:2' } },
  );
  await assert.rejects(
    (async () => {
      for await (const _ of broken) {
        /* drain */
      }
    })(),
    (err) => err instanceof OpenAI.APIError && err.message.includes('fake openai midstream'),
  );
});

test('standalone mode prints its port and serves', async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./server.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const port = await waitFor(() => /FAKE_OPENAI_PORT=(\d+)/.exec(out)?.[1], { what: 'port line' });
    const r = await request(`http://127.0.0.1:${port}/v1/models`, { headers: H() });
    assert.equal(r.status, 200);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
});

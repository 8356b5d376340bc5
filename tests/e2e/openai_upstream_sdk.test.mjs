// End-to-end: the official @anthropic-ai/sdk against Clove whose only upstream is of
// `kind = "openai"` (the fake OpenAI-compatible server). Clove translates Messages requests to
// Chat Completions and the chunks back to an exact Anthropic stream / Message.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { parseScenario, expectedText, anthropicUsageFor, errorMessageFor, REASONING_TEXT, TOOL_ARGS, TOOL_IDS } from '../fake_openai/server.mjs';
import { resetCredentialStates, CLIENT_KEY } from '../lib/clove.mjs';
import { useCloveWithFakeOpenAI, OAI_KEY, onlyChatRequest, openaiUpstreamEntry, assertOpenAIUpstreamHeaders, oaiText, rewrittenToolId, PNG_1X1_BASE64 } from '../lib/openai.mjs';

const MODEL = 'claude-oai'; // model_map -> qwen3

// [upstream.openai] written out with its documented defaults
const ctx = useCloveWithFakeOpenAI({ before, after, beforeEach }, (url) => [
  openaiUpstreamEntry(url, {
    openai: {
      tools: true,
      tool_emulation: false,
      images: true,
      reasoning_field: 'auto',
      reasoning_control: 'none',
      replay_reasoning: false,
      max_stop: 4,
      max_tokens_field: 'max_tokens',
      send_top_k: false,
      tokenize: '',
      system_anywhere: false,
      stream_usage: true,
      token_factor: 1.0,
    },
  }),
]);

function client(opts = {}) {
  return new Anthropic({ baseURL: ctx.clove.url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30000, ...opts });
}
const scenario = (s) => ctx.fake.setRules([{ scenario: s }]);
const userMsg = (text = 'Say hello.') => [{ role: 'user', content: text }];
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a place',
  input_schema: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string' } }, required: ['location'] },
};
const TIME_TOOL = { name: 'get_time', description: 'Time in a zone', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } };

const onlyChat = () => onlyChatRequest(ctx.fake);

function assertUsage(usage, up, sc) {
  const want = anthropicUsageFor(parseScenario(sc), up.body, up.json);
  for (const k of Object.keys(want)) assert.equal(usage[k], want[k], `usage.${k}: got ${JSON.stringify(usage)}, expected ${JSON.stringify(want)}`);
}

test('messages.create (non-stream): text, end_turn, usage mapped from the upstream', async () => {
  scenario('deltas:4');
  const msg = await client().messages.create({ model: MODEL, max_tokens: 100, messages: userMsg() });
  const up = onlyChat();
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.model, MODEL);
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, 'Hello oai1 oai2 oai3');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.stop_sequence, null);
  assertUsage(msg.usage, up, 'deltas:4');
  assert.equal(up.json.stream, true, 'the upstream is always asked to stream');
});

test('messages.stream: text events and finalMessage', async () => {
  scenario('deltas:6');
  const texts = [];
  const stream = client().messages.stream({ model: MODEL, max_tokens: 100, messages: userMsg() });
  stream.on('text', (t) => texts.push(t));
  const final = await stream.finalMessage();
  const up = onlyChat();
  assert.equal(texts.join(''), expectedText(parseScenario('deltas:6')));
  assert.ok(texts.length >= 2, 'several text events');
  assert.equal(final.content.length, 1);
  assert.equal(final.content[0].text, 'Hello oai1 oai2 oai3 oai4 oai5');
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(final.model, MODEL);
  assertUsage(final.usage, up, 'deltas:6');
});

test('create({stream: true}): the event sequence', async () => {
  scenario('reasoning,tool_calls,tool_text');
  const s = await client().messages.create({
    model: MODEL,
    max_tokens: 4096,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: userMsg(),
    tools: [WEATHER_TOOL],
    stream: true,
  });
  const events = [];
  for await (const ev of s) events.push(ev);
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  const starts = events.filter((e) => e.type === 'content_block_start');
  assert.deepEqual(
    starts.map((e) => [e.index, e.content_block.type]),
    [
      [0, 'thinking'],
      [1, 'text'],
      [2, 'tool_use'],
    ],
  );
  // every block: start, deltas, stop, in order, no overlap
  let open = null;
  let next = 0;
  for (const e of events) {
    if (e.type === 'content_block_start') {
      assert.equal(open, null, 'a block starts while another is open');
      assert.equal(e.index, next);
      open = e.index;
    } else if (e.type === 'content_block_delta') assert.equal(e.index, open);
    else if (e.type === 'content_block_stop') {
      assert.equal(e.index, open);
      open = null;
      next++;
    }
  }
  assert.equal(next, 3);
  const md = events.find((e) => e.type === 'message_delta');
  assert.equal(md.delta.stop_reason, 'tool_use');
  assert.equal(typeof md.usage.output_tokens, 'number');
  assert.ok(md.usage.output_tokens > 0);
  const ms = events[0].message;
  assert.equal(ms.model, MODEL);
  assert.ok(ms.usage.input_tokens > 0);
});

test('streamed tool calls: parsed input; the second turn sends role "tool" with the same tool_call_id', async () => {
  scenario('tool_calls:2,arg_chunks:10');
  const c = client();
  const partials = [];
  const stream = c.messages.stream({ model: MODEL, max_tokens: 300, messages: userMsg('Weather in Paris and time in Tokyo?'), tools: [WEATHER_TOOL, TIME_TOOL] });
  stream.on('inputJson', (p) => partials.push(p));
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const tus = final.content.filter((b) => b.type === 'tool_use');
  assert.deepEqual(
    tus.map((b) => [b.id, b.name, b.input]),
    [
      [TOOL_IDS[0], 'get_weather', TOOL_ARGS[0]],
      [TOOL_IDS[1], 'get_time', TOOL_ARGS[1]],
    ],
  );
  assert.ok(partials.length >= 10, `input_json_delta fragments: ${partials.length}`);

  ctx.fake.reset();
  scenario('deltas:2');
  const history = [
    ...userMsg('Weather in Paris and time in Tokyo?'),
    { role: 'assistant', content: final.content },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: tus[0].id, content: '21 C, sunny' },
        { type: 'tool_result', tool_use_id: tus[1].id, content: [{ type: 'text', text: '09:00 JST' }] },
      ],
    },
  ];
  const second = await c.messages.create({ model: MODEL, max_tokens: 300, messages: history, tools: [WEATHER_TOOL, TIME_TOOL] });
  assert.equal(second.content[0].text, 'Hello oai1');
  const msgs = onlyChat().json.messages;
  assert.deepEqual(
    msgs.map((m) => m.role),
    ['user', 'assistant', 'tool', 'tool'],
  );
  const asst = msgs[1];
  assert.equal(oaiText(asst.content), '', 'no text in the assistant turn');
  assert.deepEqual(
    asst.tool_calls.map((t) => [t.id, t.type, t.function.name, JSON.parse(t.function.arguments)]),
    [
      [TOOL_IDS[0], 'function', 'get_weather', TOOL_ARGS[0]],
      [TOOL_IDS[1], 'function', 'get_time', TOOL_ARGS[1]],
    ],
  );
  assert.equal(msgs[2].tool_call_id, TOOL_IDS[0]);
  assert.equal(oaiText(msgs[2].content), '21 C, sunny');
  assert.equal(msgs[3].tool_call_id, TOOL_IDS[1]);
  assert.equal(oaiText(msgs[3].content), '09:00 JST');
});

test('an invalid upstream tool id reaches the client as toolu_... and goes back upstream unchanged', async () => {
  scenario('tool_calls,bad_tool_id');
  const c = client();
  const first = await c.messages.stream({ model: MODEL, max_tokens: 300, messages: userMsg('Weather?'), tools: [WEATHER_TOOL] }).finalMessage();
  const tu = first.content.find((b) => b.type === 'tool_use');
  const original = 'functions.get_weather:0';
  assert.match(tu.id, /^toolu_[A-Za-z0-9_-]+$/);
  assert.equal(tu.id.toLowerCase(), rewrittenToolId(original).toLowerCase());
  assert.deepEqual(tu.input, TOOL_ARGS[0]);

  // non-stream gives the same id for the same upstream id
  ctx.fake.reset();
  scenario('tool_calls,bad_tool_id');
  const firstJson = await c.messages.create({ model: MODEL, max_tokens: 300, messages: userMsg('Weather?'), tools: [WEATHER_TOOL] });
  assert.equal(firstJson.content.find((b) => b.type === 'tool_use').id, tu.id);

  ctx.fake.reset();
  scenario('deltas:3');
  await c.messages.create({
    model: MODEL,
    max_tokens: 300,
    tools: [WEATHER_TOOL],
    messages: [
      ...userMsg('Weather?'),
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'rainy' }] },
    ],
  });
  const msgs = onlyChat().json.messages;
  const asst = msgs.find((m) => m.role === 'assistant');
  assert.equal(asst.tool_calls[0].id, original);
  const tool = msgs.find((m) => m.role === 'tool');
  assert.equal(tool.tool_call_id, original);
  assert.ok(!onlyChat().body.toString().includes(tu.id), 'the rewritten id never goes upstream');
});

test('thinking from reasoning_content: thinking block with a string signature; not replayed upstream', async () => {
  scenario('reasoning,deltas:3');
  const c = client();
  const thinking = { type: 'enabled', budget_tokens: 2048 };
  const thinkingEvents = [];
  const stream = c.messages.stream({ model: MODEL, max_tokens: 4096, thinking, messages: userMsg('Think first.') });
  stream.on('thinking', (d) => thinkingEvents.push(d));
  const final = await stream.finalMessage();
  assert.deepEqual(
    final.content.map((b) => b.type),
    ['thinking', 'text'],
  );
  assert.equal(final.content[0].thinking, REASONING_TEXT);
  assert.equal(typeof final.content[0].signature, 'string');
  assert.equal(thinkingEvents.join(''), REASONING_TEXT);
  assert.equal(final.content[1].text, 'Hello oai1 oai2');

  ctx.fake.reset();
  scenario('deltas:2');
  await c.messages.create({
    model: MODEL,
    max_tokens: 4096,
    thinking,
    messages: [...userMsg('Think first.'), { role: 'assistant', content: final.content }, ...userMsg('Again.')],
  });
  const up = onlyChat();
  const asst = up.json.messages.find((m) => m.role === 'assistant');
  assert.equal(oaiText(asst.content), 'Hello oai1 oai2');
  assert.equal(asst.reasoning_content, undefined, 'replay_reasoning = false');
  assert.ok(!up.body.toString().includes(REASONING_TEXT), 'the thinking text is not sent back');
});

test('thinking from the `reasoning` field (vLLM >= 0.11 / Ollama / OpenRouter)', async () => {
  scenario('reasoning:reasoning');
  const msg = await client().messages.create({ model: MODEL, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: userMsg() });
  assert.deepEqual(
    msg.content.map((b) => b.type),
    ['thinking', 'text'],
  );
  assert.equal(msg.content[0].thinking, REASONING_TEXT);
  assert.equal(typeof msg.content[0].signature, 'string');
});

test('a stop sequence the backend ignores: stop_reason stop_sequence, nothing of it leaked (stream and JSON)', async () => {
  const c = client();
  scenario('stop_ignored');
  const texts = [];
  const stream = c.messages.stream({ model: MODEL, max_tokens: 100, messages: userMsg(), stop_sequences: ['STOP'] });
  stream.on('text', (t) => texts.push(t));
  const final = await stream.finalMessage();
  assert.equal(texts.join(''), 'Hello ');
  assert.ok(!texts.some((t) => t.includes('ST')), `leaked: ${JSON.stringify(texts)}`);
  assert.equal(final.content[0].text, 'Hello ');
  assert.equal(final.stop_reason, 'stop_sequence');
  assert.equal(final.stop_sequence, 'STOP');

  ctx.fake.reset();
  scenario('stop_ignored');
  const msg = await c.messages.create({ model: MODEL, max_tokens: 100, messages: userMsg(), stop_sequences: ['STOP'] });
  assert.equal(msg.content[0].text, 'Hello ');
  assert.equal(msg.stop_reason, 'stop_sequence');
  assert.equal(msg.stop_sequence, 'STOP');
});

test('images: base64 -> data: URL, url -> url', async () => {
  await client().messages.create({
    model: MODEL,
    max_tokens: 100,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1X1_BASE64 } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          { type: 'text', text: 'What is this?' },
        ],
      },
    ],
  });
  const parts = onlyChat().json.messages.at(-1).content;
  assert.deepEqual(
    parts.map((p) => [p.type, p.image_url?.url ?? p.text]),
    [
      ['image_url', `data:image/png;base64,${PNG_1X1_BASE64}`],
      ['image_url', 'https://example.com/a.png'],
      ['text', 'What is this?'],
    ],
  );
});

test('messages.countTokens: local estimate with x-clove-token-count: estimate', async () => {
  const { data, response } = await client()
    .messages.countTokens({ model: MODEL, messages: userMsg('count these tokens, please') })
    .withResponse();
  assert.ok(Number.isInteger(data.input_tokens) && data.input_tokens > 0, `input_tokens ${data.input_tokens}`);
  assert.equal(response.headers.get('x-clove-token-count'), 'estimate');
  assert.equal(ctx.fake.requests.length, 0, 'nothing sent to the OpenAI upstream');
});

for (const [status, cls, type] of [
  [400, 'BadRequestError', 'invalid_request_error'],
  [401, 'AuthenticationError', 'authentication_error'],
  [429, 'RateLimitError', 'rate_limit_error'],
  [500, 'InternalServerError', 'api_error'],
  [503, 'InternalServerError', 'overloaded_error'],
]) {
  test(`upstream ${status} -> the SDK's ${cls} (${type})`, async () => {
    scenario(`error:${status}`);
    await assert.rejects(client().messages.create({ model: MODEL, max_tokens: 50, messages: userMsg() }), (err) => {
      assert.ok(err instanceof Anthropic[cls], `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, status === 503 ? 529 : status);
      assert.equal(err.error?.type, 'error');
      assert.equal(err.error?.error?.type, type);
      assert.ok(String(err.error?.error?.message).includes(errorMessageFor(status)), `message: ${err.error?.error?.message}`);
      return true;
    });
    // and from messages.stream (the error comes before the stream starts)
    await resetCredentialStates(ctx.clove);
    ctx.fake.reset();
    scenario(`error:${status}`);
    await assert.rejects(client().messages.stream({ model: MODEL, max_tokens: 50, messages: userMsg() }).finalMessage(), (err) => {
      assert.ok(err instanceof Anthropic[cls], `stream: got ${err?.constructor?.name}: ${err?.message}`);
      return true;
    });
  });
}

test('mid-stream drop: the stream iterator throws and MessageStream emits error', async () => {
  scenario('deltas:8,drop_after:4,interval:20');
  const s = await client().messages.create({ model: MODEL, max_tokens: 50, messages: userMsg(), stream: true });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const ev of s) seen.push(ev.type);
    })(),
    (err) => {
      assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.error?.error?.type, 'api_error');
      return true;
    },
  );
  assert.equal(seen[0], 'message_start');
  assert.ok(!seen.includes('message_stop'));

  ctx.fake.reset();
  scenario('deltas:8,error_chunk_after:4');
  const stream = client().messages.stream({ model: MODEL, max_tokens: 50, messages: userMsg() });
  let errorEvent = null;
  stream.on('error', (e) => (errorEvent = e));
  await assert.rejects(stream.finalMessage(), Anthropic.APIError);
  assert.ok(errorEvent instanceof Anthropic.APIError, 'MessageStream emitted an error event');
});

test('upstream request shape: Bearer key, no Anthropic headers, stream + include_usage, max_tokens, stop, tools, system first, user', async () => {
  await client({ defaultHeaders: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } }).messages.create({
    model: MODEL,
    max_tokens: 777,
    system: 'You are a test.',
    messages: userMsg('Hi'),
    stop_sequences: ['END'],
    temperature: 0.2,
    metadata: { user_id: 'user-9000' },
    tools: [WEATHER_TOOL],
    tool_choice: { type: 'any' },
  });
  const up = onlyChat();
  assertOpenAIUpstreamHeaders(up, OAI_KEY);
  const j = up.json;
  assert.equal(j.model, 'qwen3');
  assert.equal(j.stream, true);
  assert.deepEqual(j.stream_options, { include_usage: true });
  assert.equal(j.max_tokens, 777);
  assert.deepEqual(j.stop, ['END']);
  assert.equal(j.temperature, 0.2);
  assert.equal(j.user, 'user-9000');
  assert.equal(j.messages[0].role, 'system');
  assert.equal(oaiText(j.messages[0].content), 'You are a test.');
  assert.equal(j.messages.filter((m) => m.role === 'system').length, 1);
  assert.deepEqual(j.tools, [{ type: 'function', function: { name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema } }]);
  assert.equal(j.tool_choice, 'required');
  assert.equal(j.metadata, undefined, 'metadata is not an OpenAI field here');
});

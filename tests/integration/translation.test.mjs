// Integration (raw HTTP): Clove's Anthropic front in front of `kind = "openai"` upstreams (the
// fake OpenAI-compatible server, tests/fake_openai/server.mjs). Checks the exact Anthropic event
// stream Clove builds from chat.completion chunks, the Chat Completions request it sends, stop
// sequences enforced by the gateway, tool-id rewriting, error mapping, count_tokens, and the
// per-upstream [upstream.openai] options (see /tmp/spec/translation-contract.md, docs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { parseScenario, expectedText, anthropicUsageFor, errorMessageFor, REASONING_TEXT, TOOL_ARGS, TOOL_IDS, MIDSTREAM_ERROR, tokenizeCount, renderTemplate } from '../fake_openai/server.mjs';
import { clientHeaders, anthropicErrorProblems, resetCredentialStates, CLIENT_KEY } from '../lib/clove.mjs';
import { request, waitFor } from '../lib/http.mjs';
import { grammarProblems } from '../lib/sse.mjs';
import { useCloveWithFakeOpenAI, OAI_KEY, onlyChatRequest, openaiUpstreamEntry, assembleStream, streamText, assertOpenAIUpstreamHeaders, oaiText, rewrittenToolId, PNG_1X1_BASE64 } from '../lib/openai.mjs';

const MODEL = 'claude-oai'; // model_map -> qwen3
const LITE = 'lite-model'; // upstream "oai-lite": base_url .../v1, reduced capabilities
const CUSTOM = 'custom-model'; // upstream "oai-custom": base_url .../custom/chat/completions
const X2 = 'x2-model'; // upstream "oai-x2": token_factor = 2.0

const ctx = useCloveWithFakeOpenAI({ before, after, beforeEach }, (url) => [
  openaiUpstreamEntry(url, { openai: { max_stop: 4, stream_usage: true } }),
  openaiUpstreamEntry(`${url}/v1`, {
    name: 'oai-lite',
    api_key: 'sk-oai-lite',
    models: ['lite-*'],
    model_map: undefined,
    openai: {
      tools: false,
      images: false,
      max_tokens_field: 'max_completion_tokens',
      stream_usage: false,
      send_top_k: true,
      reasoning_control: 'reasoning_effort',
      max_stop: 2,
    },
  }),
  openaiUpstreamEntry(`${url}/custom/chat/completions`, {
    name: 'oai-custom',
    api_key: 'sk-oai-custom',
    models: ['custom-*'],
    model_map: undefined,
  }),
  openaiUpstreamEntry(url, {
    name: 'oai-vllm',
    api_key: 'sk-oai-vllm',
    models: ['vllm-*'],
    model_map: { 'vllm-claude': 'Qwen/Qwen3-8B' },
    openai: { tokenize: 'vllm' },
  }),
  openaiUpstreamEntry(`${url}/v1`, {
    name: 'oai-llama',
    api_key: 'sk-oai-llama',
    models: ['llama-*'],
    model_map: undefined,
    openai: { tokenize: 'llamacpp' },
  }),
  openaiUpstreamEntry(url, {
    name: 'oai-x2',
    api_key: 'sk-oai-x2',
    models: ['x2-*'],
    model_map: undefined,
    openai: { token_factor: 2.0 },
  }),
]);

const THINKING = { max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 } };
const body = (extra = {}) => ({ model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }], ...extra });
function post(b, { path = '/v1/messages', headers = {} } = {}) {
  return request(`${ctx.clove.url}${path}`, { headers: clientHeaders(headers), body: JSON.stringify(b), timeoutMs: 30000 });
}
const scenario = (s) => ctx.fake.setRules([{ path: null, scenario: s }]);

const onlyChat = () => onlyChatRequest(ctx.fake);

function okStream(r) {
  assert.equal(r.status, 200, `status ${r.status}: ${r.text?.slice(0, 500)}`);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  assert.deepEqual(grammarProblems(r.events), [], `stream:\n${r.text.slice(0, 3000)}`);
  return assembleStream(r.events);
}

function okJson(r) {
  assert.equal(r.status, 200, `status ${r.status}: ${r.text?.slice(0, 500)}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return r.json();
}

/** Event names with runs of content_block_delta collapsed to one. */
function collapsed(names) {
  return names.filter((n, i) => !(n === 'content_block_delta' && names[i - 1] === 'content_block_delta'));
}

test('stream: message_start, one text block, message_delta with the upstream usage, message_stop', async () => {
  scenario('deltas:4');
  const r = await post(body({ stream: true }));
  const s = okStream(r);
  const up = onlyChat();
  assert.deepEqual(collapsed(s.names), [
    'message_start',
    'content_block_start',
    'content_block_delta',
    'content_block_stop',
    'message_delta',
    'message_stop',
  ]);
  assert.match(s.start.id, /^msg_/);
  assert.equal(s.start.type, 'message');
  assert.equal(s.start.role, 'assistant');
  assert.equal(s.start.model, MODEL, 'message_start carries the model the client asked for');
  assert.deepEqual(s.start.content, []);
  assert.equal(s.start.stop_reason, null);
  assert.ok(Number.isInteger(s.start.usage.input_tokens) && s.start.usage.input_tokens > 0, `local estimate: ${JSON.stringify(s.start.usage)}`);
  assert.deepEqual(s.blocks[0].start, { type: 'text', text: '' });
  assert.ok(s.blocks[0].deltaTypes.every((t) => t === 'text_delta'));
  assert.equal(streamText(s), expectedText(parseScenario('deltas:4')));
  assert.equal(s.delta.delta.stop_reason, 'end_turn');
  assert.equal(s.delta.delta.stop_sequence, null);
  const want = anthropicUsageFor(parseScenario('deltas:4'), up.body, up.json);
  for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']) {
    assert.equal(s.delta.usage[k], want[k], `message_delta usage.${k}: ${JSON.stringify(s.delta.usage)} vs ${JSON.stringify(want)}`);
  }
});

test('upstream request: Bearer key, mapped model, always stream with include_usage, no Anthropic headers', async () => {
  const r = await post(body({ stream: true }), { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
  okStream(r);
  const up = onlyChat();
  assertOpenAIUpstreamHeaders(up);
  assert.equal(up.path, '/v1/chat/completions', 'base_url without a path gets /v1/chat/completions');
  assert.equal(up.json.model, 'qwen3', 'model_map applied');
  assert.equal(up.json.stream, true);
  assert.deepEqual(up.json.stream_options, { include_usage: true });
  assert.equal(up.json.max_tokens, 256);
  assert.equal(up.json.max_completion_tokens, undefined);
  assert.deepEqual(
    up.json.messages.map((m) => [m.role, oaiText(m.content)]),
    [['user', 'Say hello.']],
  );
  assert.equal(up.headers['anthropic-beta'], undefined);
});

test('non-stream request: the upstream still streams; the client gets one Message', async () => {
  scenario('deltas:5');
  const r = await post(body());
  const m = okJson(r);
  const up = onlyChat();
  assert.equal(up.json.stream, true, 'the gateway always streams from the upstream');
  assert.equal(up.json.stream_options?.include_usage, true);
  assert.match(m.id, /^msg_/);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, MODEL);
  assert.deepEqual(
    m.content.map((b) => [b.type, b.text]),
    [['text', 'Hello oai1 oai2 oai3 oai4']],
  );
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.stop_sequence, null);
  const want = anthropicUsageFor(parseScenario('deltas:5'), up.body, up.json);
  for (const k of Object.keys(want)) assert.equal(m.usage[k], want[k], `usage.${k}: ${JSON.stringify(m.usage)}`);
});

test('request mapping: system first, sampling, stop, metadata.user_id, tools and every tool_choice', async () => {
  const tools = [
    { name: 'get_weather', description: 'Weather for a place', input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
    { name: 'get_time', description: 'Current time', input_schema: { type: 'object', properties: { tz: { type: 'string' } } } },
  ];
  const choices = [
    [{ type: 'auto' }, 'auto', undefined],
    [{ type: 'any' }, 'required', undefined],
    [{ type: 'tool', name: 'get_time' }, { type: 'function', function: { name: 'get_time' } }, undefined],
    [{ type: 'none' }, 'none', undefined],
    [{ type: 'auto', disable_parallel_tool_use: true }, 'auto', false],
  ];
  for (const [anthropicChoice, openaiChoice, parallel] of choices) {
    ctx.fake.reset();
    const r = await post(
      body({
        system: [
          { type: 'text', text: 'You are terse.' },
          { type: 'text', text: 'Answer in English.', cache_control: { type: 'ephemeral' } },
        ],
        messages: [
          { role: 'user', content: 'First question' },
          { role: 'assistant', content: [{ type: 'text', text: 'First answer' }] },
          { role: 'user', content: [{ type: 'text', text: 'Second question' }] },
        ],
        max_tokens: 321,
        temperature: 0.5,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ['END', '###'],
        metadata: { user_id: 'user-42' },
        tools,
        tool_choice: anthropicChoice,
      }),
    );
    okJson(r);
    const j = onlyChat().json;
    const roles = j.messages.map((m) => m.role);
    assert.deepEqual(roles, ['system', 'user', 'assistant', 'user'], `roles ${roles}`);
    const sys = oaiText(j.messages[0].content);
    assert.ok(sys.includes('You are terse.') && sys.includes('Answer in English.'), `system: ${sys}`);
    assert.ok(sys.indexOf('You are terse.') < sys.indexOf('Answer in English.'));
    assert.equal(oaiText(j.messages[1].content), 'First question');
    assert.equal(oaiText(j.messages[2].content), 'First answer');
    assert.equal(oaiText(j.messages[3].content), 'Second question');
    assert.equal(j.max_tokens, 321);
    assert.equal(j.temperature, 0.5);
    assert.equal(j.top_p, 0.9);
    assert.equal(j.top_k, undefined, 'top_k only with send_top_k');
    assert.deepEqual(j.stop, ['END', '###']);
    assert.equal(j.user, 'user-42');
    assert.equal(j.metadata, undefined);
    assert.deepEqual(j.tools, [
      { type: 'function', function: { name: 'get_weather', description: 'Weather for a place', parameters: tools[0].input_schema } },
      { type: 'function', function: { name: 'get_time', description: 'Current time', parameters: tools[1].input_schema } },
    ]);
    assert.deepEqual(j.tool_choice, openaiChoice, `tool_choice for ${JSON.stringify(anthropicChoice)}`);
    if (parallel === false) assert.equal(j.parallel_tool_calls, false, 'disable_parallel_tool_use -> parallel_tool_calls: false');
    else assert.notEqual(j.parallel_tool_calls, false, `parallel_tool_calls for ${JSON.stringify(anthropicChoice)}`);
    assert.ok(!JSON.stringify(j).includes('cache_control'), 'cache_control is dropped');
  }
});

test('thinking from reasoning_content and from reasoning: a thinking block closed by a signature', async () => {
  for (const sc of ['reasoning', 'reasoning:reasoning']) {
    ctx.fake.reset();
    scenario(sc);
    const s = okStream(await post(body({ stream: true, ...THINKING })));
    assert.deepEqual(
      s.blocks.map((b) => b.type),
      ['thinking', 'text'],
      sc,
    );
    const th = s.blocks[0];
    assert.deepEqual(th.start, { type: 'thinking', thinking: '', signature: '' });
    assert.equal(th.thinking, REASONING_TEXT);
    assert.equal(th.deltaTypes.at(-1), 'signature_delta', 'signature_delta closes the thinking block');
    assert.ok(th.deltaTypes.slice(0, -1).every((t) => t === 'thinking_delta'));
    assert.equal(typeof th.signature, 'string');
    assert.ok(th.signature.length > 0, 'the signature_delta carries a (gateway) signature');
    assert.equal(streamText(s), expectedText({}));
    assert.equal(s.delta.delta.stop_reason, 'end_turn');
    // and the same answer aggregated
    ctx.fake.reset();
    scenario(sc);
    const m = okJson(await post(body(THINKING)));
    assert.deepEqual(
      m.content.map((b) => b.type),
      ['thinking', 'text'],
    );
    assert.equal(m.content[0].thinking, REASONING_TEXT);
    assert.equal(typeof m.content[0].signature, 'string');
    assert.equal(m.content[1].text, expectedText({}));
  }
});

test('parallel tool calls (in order, interleaved, text first): tool_use blocks with input_json_delta', async () => {
  const tools = [
    { name: 'lookup', input_schema: { type: 'object' } },
    { name: 'clock', input_schema: { type: 'object' } },
  ];
  for (const sc of ['tool_calls:2,arg_chunks:9', 'tool_calls:2,interleave,arg_chunks:5', 'tool_calls:2,tool_text']) {
    ctx.fake.reset();
    scenario(sc);
    const s = okStream(await post(body({ stream: true, tools })));
    const withText = sc.includes('tool_text');
    assert.deepEqual(
      s.blocks.map((b) => b.type),
      withText ? ['text', 'tool_use', 'tool_use'] : ['tool_use', 'tool_use'],
      sc,
    );
    if (withText) assert.equal(s.blocks[0].text, expectedText({}));
    const tus = s.blocks.filter((b) => b.type === 'tool_use');
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(tus[i].start, { type: 'tool_use', id: TOOL_IDS[i], name: tools[i].name, input: {} }, sc);
      assert.ok(tus[i].deltaTypes.every((t) => t === 'input_json_delta'));
      assert.deepEqual(JSON.parse(tus[i].partialJson), TOOL_ARGS[i], `${sc}: arguments of call ${i}`);
    }
    assert.equal(s.delta.delta.stop_reason, 'tool_use');
  }
  // aggregated
  ctx.fake.reset();
  scenario('tool_calls:2');
  const m = okJson(await post(body({ tools })));
  assert.deepEqual(
    m.content.map((b) => [b.type, b.id, b.name, b.input]),
    [
      ['tool_use', TOOL_IDS[0], 'lookup', TOOL_ARGS[0]],
      ['tool_use', TOOL_IDS[1], 'clock', TOOL_ARGS[1]],
    ],
  );
  assert.equal(m.stop_reason, 'tool_use');
});

test('tool calls with finish_reason "stop" still end with stop_reason tool_use; a call without id gets one', async () => {
  scenario('tool_calls,finish:stop,no_tool_id');
  const s = okStream(await post(body({ stream: true, tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] })));
  assert.equal(s.delta.delta.stop_reason, 'tool_use');
  const tu = s.blocks.find((b) => b.type === 'tool_use');
  assert.match(tu.start.id, /^[A-Za-z0-9_-]+$/, `generated id: ${tu.start.id}`);
  assert.deepEqual(JSON.parse(tu.partialJson), TOOL_ARGS[0]);
});

test('an upstream tool id that is not ^[A-Za-z0-9_-]+$ is rewritten for the client and restored upstream', async () => {
  const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }];
  scenario('tool_calls,bad_tool_id');
  const s = okStream(await post(body({ stream: true, tools })));
  const tu = s.blocks.find((b) => b.type === 'tool_use');
  const original = 'functions.get_weather:0';
  assert.equal(tu.start.id.toLowerCase(), rewrittenToolId(original).toLowerCase(), `client id ${tu.start.id}`);
  assert.match(tu.start.id, /^toolu_/);

  ctx.fake.reset();
  scenario('deltas:2');
  const turn2 = okJson(
    await post(
      body({
        tools,
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: tu.start.id, name: 'get_weather', input: JSON.parse(tu.partialJson) }] },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: tu.start.id, content: '21 degrees and sunny' },
              { type: 'text', text: 'Thanks, and tomorrow?' },
            ],
          },
        ],
      }),
    ),
  );
  assert.equal(turn2.content[0].text, 'Hello oai1');
  const msgs = onlyChat().json.messages;
  assert.deepEqual(
    msgs.map((m) => m.role),
    ['user', 'assistant', 'tool', 'user'],
    'the tool message comes before the rest of the user turn',
  );
  const asst = msgs[1];
  assert.equal(asst.tool_calls.length, 1);
  assert.equal(asst.tool_calls[0].id, original, 'upstream gets its own id back');
  assert.equal(asst.tool_calls[0].type, 'function');
  assert.equal(asst.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(asst.tool_calls[0].function.arguments), TOOL_ARGS[0]);
  assert.equal(msgs[2].tool_call_id, original);
  assert.equal(oaiText(msgs[2].content), '21 degrees and sunny');
  assert.equal(oaiText(msgs[3].content), 'Thanks, and tomorrow?');
});

test('a backend that ignores stream: true and answers one JSON completion still gives an exact stream', async () => {
  const tools = [{ name: 'get_weather', input_schema: { type: 'object' } }];
  scenario('json_answer,reasoning,tool_calls,tool_text');
  const s = okStream(await post(body({ stream: true, tools, ...THINKING })));
  assert.deepEqual(
    s.blocks.map((b) => b.type),
    ['thinking', 'text', 'tool_use'],
  );
  assert.equal(s.blocks[0].thinking, REASONING_TEXT);
  assert.equal(s.blocks[1].text, expectedText({}));
  assert.equal(s.blocks[2].start.id, TOOL_IDS[0]);
  assert.deepEqual(JSON.parse(s.blocks[2].partialJson), TOOL_ARGS[0]);
  assert.equal(s.delta.delta.stop_reason, 'tool_use');
  const up = onlyChat();
  const want = anthropicUsageFor(parseScenario('json_answer,reasoning,tool_calls,tool_text'), up.body, up.json);
  assert.equal(s.delta.usage.output_tokens, want.output_tokens);
  assert.equal(s.delta.usage.input_tokens, want.input_tokens);
});

test('tool_result with is_error is sent prefixed "Error: "; server tools answer 400', async () => {
  const tools = [{ name: 'get_weather', input_schema: { type: 'object' } }];
  okJson(
    await post(
      body({
        tools,
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_abc', name: 'get_weather', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_abc', is_error: true, content: 'location missing' }] },
        ],
      }),
    ),
  );
  const tool = onlyChat().json.messages.find((m) => m.role === 'tool');
  assert.equal(tool.tool_call_id, 'call_abc');
  assert.match(oaiText(tool.content), /^Error: /);
  assert.ok(oaiText(tool.content).includes('location missing'));

  ctx.fake.reset();
  const r = await post(body({ tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }] }));
  assert.deepEqual(anthropicErrorProblems(r, 400, 'invalid_request_error'), [], r.text);
  assert.equal(ctx.fake.requests.length, 0);
});

test('output_config.format json_schema -> response_format json_schema', async () => {
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
  okJson(await post(body({ output_config: { format: { type: 'json_schema', schema } } })));
  const rf = onlyChat().json.response_format;
  assert.equal(rf?.type, 'json_schema', JSON.stringify(rf));
  assert.deepEqual(rf.json_schema.schema, schema);
  assert.equal(typeof rf.json_schema.name, 'string');
});

test('finish_reason length -> max_tokens, content_filter -> refusal', async () => {
  for (const [sc, want] of [
    ['length', 'max_tokens'],
    ['finish:content_filter', 'refusal'],
  ]) {
    ctx.fake.reset();
    scenario(sc);
    const s = okStream(await post(body({ stream: true })));
    assert.equal(s.delta.delta.stop_reason, want, sc);
    ctx.fake.reset();
    scenario(sc);
    assert.equal(okJson(await post(body())).stop_reason, want, `${sc} (JSON)`);
  }
});

test('stop sequence the backend ignores, split across chunks: enforced by the gateway (stream and JSON)', async () => {
  scenario('stop_ignored');
  const s = okStream(await post(body({ stream: true, stop_sequences: ['STOP'] })));
  const up = onlyChat();
  assert.deepEqual(up.json.stop, ['STOP'], 'stop passed to the backend');
  assert.equal(s.blocks[0].text, 'Hello ', 'text up to the stop sequence, nothing of it');
  for (const d of s.blocks[0].texts) assert.ok(!d.includes('S'), `leaked part of the stop sequence: ${JSON.stringify(s.blocks[0].texts)}`);
  assert.equal(s.delta.delta.stop_reason, 'stop_sequence');
  assert.equal(s.delta.delta.stop_sequence, 'STOP');

  ctx.fake.reset();
  scenario('stop_ignored');
  const m = okJson(await post(body({ stop_sequences: ['STOP'] })));
  assert.equal(m.content[0].text, 'Hello ');
  assert.equal(m.stop_reason, 'stop_sequence');
  assert.equal(m.stop_sequence, 'STOP');
});

test('stop sequences: more than max_stop, hold-back released when nothing matches, match at the very end', async () => {
  // five sequences, max_stop = 4: the backend gets at most 4, the gateway enforces all five
  scenario('stop_ignored');
  const stops = ['AAA', 'BBB', 'CCC', 'DDD', 'STOP'];
  let s = okStream(await post(body({ stream: true, stop_sequences: stops })));
  const sent = onlyChat().json.stop;
  assert.ok(Array.isArray(sent) && sent.length >= 1 && sent.length <= 4, `upstream stop: ${JSON.stringify(sent)}`);
  for (const x of sent) assert.ok(stops.includes(x));
  assert.equal(streamText(s), 'Hello ');
  assert.equal(s.delta.delta.stop_reason, 'stop_sequence');
  assert.equal(s.delta.delta.stop_sequence, 'STOP');

  // a partial match ("ST" then "ART") must not lose text
  ctx.fake.reset();
  scenario('text:Hello ST|ART now');
  s = okStream(await post(body({ stream: true, stop_sequences: ['STOP'] })));
  assert.equal(streamText(s), 'Hello START now');
  assert.equal(s.delta.delta.stop_reason, 'end_turn');
  assert.equal(s.delta.delta.stop_sequence, null);

  // a held-back tail at the end of the stream is flushed
  ctx.fake.reset();
  scenario('text:Hello S|T');
  s = okStream(await post(body({ stream: true, stop_sequences: ['STOP'] })));
  assert.equal(streamText(s), 'Hello ST');
  assert.equal(s.delta.delta.stop_reason, 'end_turn');

  // the matched sequence is reported exactly (the second of two), across three chunks
  ctx.fake.reset();
  scenario('text:abc X|Y|Z tail');
  s = okStream(await post(body({ stream: true, stop_sequences: ['NOPE', 'XYZ'] })));
  assert.equal(streamText(s), 'abc ');
  assert.equal(s.delta.delta.stop_sequence, 'XYZ');
});

test('a matched stop sequence aborts the upstream request', async () => {
  scenario('stop_ignored,interval:250');
  const r = await post(body({ stream: true, stop_sequences: ['STOP'] }));
  const s = okStream(r);
  assert.equal(s.delta.delta.stop_reason, 'stop_sequence');
  const up = onlyChat();
  // the fake still had "rld", the finish chunk and [DONE] to send (250 ms apart)
  await waitFor(() => up.aborted, { timeoutMs: 3000, what: 'the upstream request to be aborted' });
  assert.ok(!up.sentFrames.some((f) => f.includes('[DONE]')), 'aborted before [DONE]');
});

test('slow deltas are streamed as they arrive, not buffered', async () => {
  scenario('deltas:4,interval:200');
  const r = await post(body({ stream: true }));
  okStream(r);
  const textEvents = r.events.filter((e) => e.json?.delta?.type === 'text_delta');
  assert.ok(textEvents.length >= 3, `text deltas: ${textEvents.length}`);
  const spread = textEvents.at(-1).at - textEvents[0].at;
  assert.ok(spread >= 400, `text deltas arrived within ${spread} ms (expected them spread over >= 400 ms)`);
  const stopAt = r.events.find((e) => e.event === 'message_stop').at;
  assert.ok(stopAt - textEvents[0].at >= 600, 'the first delta came long before the end');
});

test('images: base64 -> data: URL image_url part, url -> url', async () => {
  const r = await post(
    body({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe both.' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1X1_BASE64 } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    }),
  );
  okJson(r);
  const parts = onlyChat().json.messages.at(-1).content;
  assert.ok(Array.isArray(parts), 'content with images is a part array');
  assert.deepEqual(parts[0], { type: 'text', text: 'Describe both.' });
  assert.equal(parts[1].type, 'image_url');
  assert.equal(parts[1].image_url.url, `data:image/png;base64,${PNG_1X1_BASE64}`);
  assert.equal(parts[2].type, 'image_url');
  assert.equal(parts[2].image_url.url, 'https://example.com/cat.jpg');
});

/** A streamed answer under scenario sc that must be a 200 stream ending in an error event, assembled. */
async function erroredStream(sc) {
  scenario(sc);
  const r = await post(body({ stream: true }));
  assert.equal(r.status, 200);
  assert.deepEqual(grammarProblems(r.events, { allowError: true }), [], r.text.slice(0, 2000));
  const s = assembleStream(r.events);
  assert.ok(s.error, `no error event:\n${r.text.slice(0, 2000)}`);
  return s;
}

test('mid-stream connection drop -> event: error (api_error), no message_stop', async () => {
  const s = await erroredStream('deltas:6,drop_after:3,interval:30');
  assert.equal(s.error.type, 'error');
  assert.equal(s.error.error.type, 'api_error');
  assert.equal(s.stopped, false);
  assert.ok(!s.names.includes('message_delta'), 'no message_delta after a broken upstream');
  assert.ok(streamText(s).startsWith('Hello'), 'what arrived before the drop was relayed');
});

test('upstream data: {"error": ...} mid-stream -> event: error, no message_stop', async () => {
  const s = await erroredStream('deltas:6,error_chunk_after:3');
  assert.equal(s.error.error.type, 'api_error');
  assert.ok(String(s.error.error.message).includes(MIDSTREAM_ERROR.message), `message: ${s.error.error.message}`);
  assert.equal(s.stopped, false);
});

test('EOF before any finish_reason -> event: error; EOF after finish + usage without [DONE] is a normal end', async () => {
  scenario('finish:none,no_usage,no_done');
  let r = await post(body({ stream: true }));
  let s = assembleStream(r.events);
  assert.ok(s.error, `expected an error event when no finish_reason came:\n${r.text.slice(0, 2000)}`);
  assert.equal(s.error.error.type, 'api_error');
  assert.equal(s.stopped, false);

  ctx.fake.reset();
  scenario('finish:none,no_usage,no_done');
  r = await post(body());
  assert.ok(r.status >= 500, `JSON request whose upstream stream ended without finish_reason: status ${r.status} ${r.text}`);

  ctx.fake.reset();
  scenario('no_done');
  r = await post(body({ stream: true }));
  s = okStream(r);
  assert.equal(s.delta.delta.stop_reason, 'end_turn');
  assert.equal(streamText(s), expectedText({}));
});

for (const [upstream, status, type] of [
  [400, 400, 'invalid_request_error'],
  [422, 400, 'invalid_request_error'],
  [401, 401, 'authentication_error'],
  [429, 429, 'rate_limit_error'],
  [500, 500, 'api_error'],
  [503, 529, 'overloaded_error'],
]) {
  test(`upstream HTTP ${upstream} -> Anthropic error ${status} ${type} with the upstream message`, async () => {
    for (const stream of [false, true]) {
      await resetCredentialStates(ctx.clove);
      ctx.fake.reset();
      scenario(`error:${upstream}`);
      const r = await post(body({ stream }));
      assert.deepEqual(anthropicErrorProblems(r, status, type), [], `stream=${stream}: ${r.status} ${r.text}`);
      assert.ok(r.json().error.message.includes(errorMessageFor(upstream)), `stream=${stream}: message ${r.json().error.message}`);
      // the fake sends retry-after 7 with 429 and 3 with 503: relayed
      const ra = { 429: '7', 503: '3' }[upstream];
      if (ra) assert.equal(r.headers['retry-after'], ra, `stream=${stream}: retry-after`);
      assert.ok(ctx.fake.chatRequests().length >= 1);
    }
  });
}

test('count_tokens for an OpenAI-served model: local estimate, x-clove-token-count: estimate, nothing upstream', async () => {
  const small = await post({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, { path: '/v1/messages/count_tokens' });
  assert.equal(small.status, 200, small.text);
  assert.equal(small.headers['x-clove-token-count'], 'estimate');
  const n1 = small.json().input_tokens;
  assert.ok(Number.isInteger(n1) && n1 > 0, `input_tokens ${n1}`);
  assert.deepEqual(Object.keys(small.json()), ['input_tokens']);
  const long = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
  const big = await post({ model: MODEL, system: 'Be brief.', messages: [{ role: 'user', content: long }] }, { path: '/v1/messages/count_tokens' });
  const n2 = big.json().input_tokens;
  assert.ok(n2 > n1 + 200, `a 1800-character prompt counts more (${n2} vs ${n1})`);
  assert.ok(n2 < 2000, `a real tokenizer, not one token per character (${n2})`);
  const withTools = await post(
    { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], tools: [{ name: 'get_weather', description: 'Weather for a place, with a long description', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }] },
    { path: '/v1/messages/count_tokens' },
  );
  assert.ok(withTools.json().input_tokens > n1, 'tools count too');
  assert.equal(ctx.fake.requests.length, 0, `nothing sent upstream: ${ctx.fake.requests.map((x) => x.path)}`);
});

test('count_tokens with tokenize = "vllm": the backend counts the translated messages', async () => {
  const countBody = { model: 'vllm-claude', system: 'Be brief.', messages: [{ role: 'user', content: 'Count me, please.' }] };
  const r = await post(countBody, { path: '/v1/messages/count_tokens' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-clove-token-count'], 'tokenizer');
  const reqs = ctx.fake.requests;
  assert.equal(reqs.length, 1, `one tokenizer call: ${reqs.map((x) => x.path)}`);
  const t = reqs[0];
  assert.equal(t.path, '/tokenize', 'at the server root');
  assert.equal(t.headers.authorization, 'Bearer sk-oai-vllm');
  assert.equal(t.json.model, 'Qwen/Qwen3-8B', 'the mapped model');
  assert.equal(t.json.add_generation_prompt, true);
  assert.deepEqual(t.json.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Count me, please.' },
  ]);
  assert.deepEqual(r.json(), { input_tokens: tokenizeCount(t.json) });
  // the tokenizer failing: the local estimate answers, marked as such
  scenario('error:500');
  const fallback = await post(countBody, { path: '/v1/messages/count_tokens' });
  assert.equal(fallback.status, 200, fallback.text);
  assert.equal(fallback.headers['x-clove-token-count'], 'estimate');
  assert.ok(fallback.json().input_tokens > 0);
});

test('count_tokens with tokenize = "llamacpp": /apply-template, then /tokenize of the prompt', async () => {
  const r = await post(
    { model: 'llama-3', messages: [{ role: 'user', content: 'Hi there' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Count' }] },
    { path: '/v1/messages/count_tokens' },
  );
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-clove-token-count'], 'tokenizer');
  const paths = ctx.fake.requests.map((x) => x.path);
  assert.deepEqual(paths, ['/apply-template', '/tokenize'], 'the base_url /v1 is not part of the tokenizer paths');
  const prompt = renderTemplate([
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello' },
    { role: 'user', content: 'Count' },
  ]);
  assert.deepEqual(ctx.fake.requests[1].json, { content: prompt });
  assert.deepEqual(r.json(), { input_tokens: tokenizeCount({ content: prompt }) });
});

test('count_tokens: token_factor scales the local estimate', async () => {
  const msg = { messages: [{ role: 'user', content: 'Please count the tokens of this sentence, twice over for the x2 upstream.' }] };
  const one = await post({ model: MODEL, ...msg }, { path: '/v1/messages/count_tokens' });
  const two = await post({ model: X2, ...msg }, { path: '/v1/messages/count_tokens' });
  assert.equal(one.status, 200, one.text);
  assert.equal(two.status, 200, two.text);
  assert.equal(two.headers['x-clove-token-count'], 'estimate');
  const n1 = one.json().input_tokens;
  const n2 = two.json().input_tokens;
  assert.ok(Math.abs(n2 - 2 * n1) <= 2, `token_factor 2.0: ${n2} vs 2 x ${n1}`);
  assert.equal(ctx.fake.requests.length, 0);
});

test('base_url forms: ".../v1" appends /chat/completions, ".../chat/completions" is used as is', async () => {
  okJson(await post(body({ model: LITE })));
  okJson(await post(body({ model: CUSTOM })));
  const reqs = ctx.fake.chatRequests();
  assert.deepEqual(
    reqs.map((x) => [x.path, x.headers.authorization]),
    [
      ['/v1/chat/completions', 'Bearer sk-oai-lite'],
      ['/custom/chat/completions', 'Bearer sk-oai-custom'],
    ],
  );
  assert.equal(reqs[0].json.model, LITE, 'an unmapped model is sent as requested');
});

test('[upstream.openai] options: max_completion_tokens, no stream_options, top_k, reasoning_effort, max_stop', async () => {
  scenario('deltas:3');
  const s = okStream(
    await post(
      body({
        model: LITE,
        stream: true,
        max_tokens: 2048,
        top_k: 20,
        stop_sequences: ['AAA', 'BBB', 'CCC'],
        thinking: { type: 'enabled', budget_tokens: 1024 },
      }),
    ),
  );
  const j = onlyChat().json;
  assert.equal(j.max_completion_tokens, 2048);
  assert.equal(j.max_tokens, undefined);
  assert.equal(j.stream, true);
  assert.equal(j.stream_options, undefined, 'stream_usage = false: no stream_options');
  assert.equal(j.top_k, 20, 'send_top_k = true');
  assert.equal(j.reasoning_effort, 'low', `reasoning_control = reasoning_effort, budget 1024 < 4096: ${JSON.stringify(j)}`);
  assert.ok(Array.isArray(j.stop) && j.stop.length <= 2, `max_stop = 2: ${JSON.stringify(j.stop)}`);
  // the fake sends no usage without include_usage: the stream still ends cleanly
  assert.equal(streamText(s), expectedText({}));
  assert.ok(s.stopped);
  assert.equal(typeof s.delta.usage.output_tokens, 'number');
});

test('tools = false / images = false: such requests are refused with 400 before reaching the upstream', async () => {
  let r = await post(body({ model: LITE, tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] }));
  assert.deepEqual(anthropicErrorProblems(r, 400, 'invalid_request_error'), [], r.text);
  r = await post(
    body({
      model: LITE,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1X1_BASE64 } }] }],
    }),
  );
  assert.deepEqual(anthropicErrorProblems(r, 400, 'invalid_request_error'), [], r.text);
  assert.equal(ctx.fake.chatRequests().length, 0);
});

test('the client key is never sent upstream, and a wrong client key never reaches it', async () => {
  let r = await post(body(), { headers: { 'x-api-key': 'ck-wrong' } });
  assert.equal(r.status, 401);
  assert.equal(ctx.fake.requests.length, 0);
  r = await request(`${ctx.clove.url}/v1/messages`, {
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', authorization: `Bearer ${CLIENT_KEY}` },
    body: JSON.stringify(body()),
  });
  assert.equal(r.status, 200, r.text);
  assertOpenAIUpstreamHeaders(onlyChat(), OAI_KEY);
});

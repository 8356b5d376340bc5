// Scripted fake OpenAI-compatible upstream (Chat Completions, vLLM-style /tokenize, /v1/models)
// for Clove's translation tests.
//
// Importable:  const fake = await startFakeOpenAI();  // {port, url, close(), requests, stats, reset(), setRules()...}
// Standalone:  node tests/fake_openai/server.mjs [--port N] [--host H]
//              prints FAKE_OPENAI_PORT=<port> on stdout.
//
// Endpoints:
//   POST <any path ending in /chat/completions>  (e.g. /v1/chat/completions, /custom/chat/completions)
//        An SSE stream of chat.completion.chunk objects when the body has "stream": true, else one
//        chat.completion JSON object. The usage chunk (choices: [], usage) is sent only when the
//        request asked for it (stream_options.include_usage) or the scenario says force_usage.
//   POST /tokenize (also /v1/tokenize)   vLLM style: {messages} or {prompt} -> {count, max_model_len,
//        tokens}; llama.cpp style: {content} -> {tokens}. The count is tokenizeCount(json).
//   POST /apply-template                  llama.cpp style: {messages} -> {prompt: renderTemplate(messages)}
//   GET /v1/models (also /models)        {object:"list", data:[{id, object:"model", created, owned_by}]}
//   anything else                        404 with an OpenAI error body.
// Every answer needs `Authorization: Bearer <key>` (requireKey option, default true; else 401).
//
// Behaviour per request is chosen by the request header `x-fake-scenario` (comma-separated
// directives, below) or by rules (same as tests/fake_upstream/server.mjs: fake.setRules([{key,
// path, scenario, times}]), addRule, clearRules, rules(); POST/GET/DELETE /__fake/rules). A
// matching rule's directives are merged over the header's (the rule wins). Control endpoints
// (never recorded): GET /__fake/stats, GET /__fake/requests, POST /__fake/reset, /__fake/rules.
// That plumbing is shared with tests/fake_upstream/server.mjs (tests/lib/fake_server.mjs).
//
// Each recorded request: {seq, method, url, path, query, headers (lower-case names), rawHeaders,
// body (Buffer), json (parsed body or undefined), apiKey (Bearer token or x-api-key), rule,
// scenario, aborted (client left before the end), dropped, completed, framesSent, sentFrames,
// responseStatus, responseHeaders, responseBody}.
//
// SCENARIO DIRECTIVES
//   deltas:N           content deltas of the answer text (default 3): "Hello", " oai1", " oai2", ...
//   text:P1|P2|...     the answer text in exactly these pieces (each URI-decoded; %2C for a comma)
//   stop_ignored       the text "Hello STOP world" in pieces ["Hel","lo ST","OP wo","rld"]: a stop
//                      sequence "STOP" the backend ignores, split across chunks
//   reasoning[:FIELD]  reasoning deltas (REASONING_PIECES) before the content; FIELD is the delta
//                      field: reasoning_content (default) or reasoning
//   tool_calls[:N]     N tool calls (default 1; 2 = parallel) after the (optional) text; names from
//                      the request's tools (in order, else TOOL_NAMES), ids TOOL_IDS[i], arguments
//                      TOOL_ARGS[i] (JSON) split into arg_chunks slices; finish_reason tool_calls
//   tool_name:NAME     the first tool call's name (else from the request's tools)
//   tool_args:JSON     the first tool call's arguments (URI-encoded JSON; else TOOL_ARGS[0])
//   tool_until_result  tool calls while the conversation has tools and no `tool` message yet,
//                      then the text answer (a model in a tool loop)
//   tool_text          with tool_calls: the answer text is streamed before the tool calls (else
//                      a tool-call answer has no text)
//   bad_tool_id        tool call ids "functions.<name>:<i>" (not ^[A-Za-z0-9_-]+$)
//   no_tool_id         the first fragment of each tool call carries no id
//   arg_chunks:K       slices of each call's arguments (default 6)
//   interleave         fragments of parallel tool calls interleaved (round robin) instead of in order
//   finish:REASON      the finish_reason (stop | length | tool_calls | content_filter); finish:none
//                      sends no finish chunk at all (usage and [DONE] still follow unless
//                      no_usage / no_done): a stream that ends before a finish_reason
//   length             shortcut for finish:length
//   no_usage           never send usage; force_usage: send it even when not asked
//   usage_on_finish    usage on the finish chunk instead of a separate chunk
//   no_cache           prompt_tokens_details.cached_tokens = 0
//   no_role            the first chunk has no delta.role
//   no_done            no `data: [DONE]` at the end
//   interval:MS        delay between SSE frames (slow deltas)
//   first_chunk_delay:MS  head at once, first frame MS later
//   slow:MS            wait MS before the response head
//   hang               never answer
//   error:STATUS       HTTP STATUS with an OpenAI error body (ERRORS); 429 and 503 add retry-after
//   retry_after:S      retry-after value for an error (none = omit)
//   drop_after:N       destroy the connection after N SSE frames (no [DONE], no chunked terminator)
//   error_chunk_after:N   after N frames send `data: {"error":{...}}` and end the response
//   echo_model         the answer text is "model=<model received>"
//   json_answer        answer one chat.completion JSON even when the request asked for a stream
//                      (a backend that ignores stream: true)

import { parseScenario, intOf, sha256Hex, randomId, sleep, retryAfterHeader, countOf, sendSse, startFakeServer, runIfMain } from '../lib/fake_server.mjs';

export { parseScenario, sha256Hex };

export const DEFAULT_DELTAS = 3;
export const FAKE_CACHED_TOKENS = 64;
export const FAKE_CREATED = 1767225600; // 2026-01-01T00:00:00Z
export const REASONING_PIECES = Object.freeze(['The user wants a greeting.', ' I will say hello', ' briefly.']);
export const REASONING_TEXT = REASONING_PIECES.join('');
export const TOOL_NAMES = Object.freeze(['get_weather', 'get_time']);
export const TOOL_IDS = Object.freeze(['call_abc', 'call_def', 'call_ghi']);
export const TOOL_ARGS = Object.freeze([
  Object.freeze({ location: 'Paris, FR', unit: 'celsius', days: [1, 2, 3] }),
  Object.freeze({ location: 'Tokyo, JP', unit: 'fahrenheit', note: 'quote " and \\ backslash, ünïcode' }),
  Object.freeze({ tz: 'UTC' }),
]);
export const STOP_IGNORED_PIECES = Object.freeze(['Hel', 'lo ST', 'OP wo', 'rld']);
export const FAKE_OPENAI_MODELS = Object.freeze(['qwen3', 'gpt-4o-mini', 'llama-3.1-8b']);
export const MIDSTREAM_ERROR = Object.freeze({
  message: 'The server had an error while processing your request (fake openai midstream)',
  type: 'server_error',
  param: null,
  code: 'fake_midstream',
});

/** OpenAI-style error bodies by status: [type, code, message]. */
export const ERRORS = Object.freeze({
  400: ['invalid_request_error', null, "Invalid value for 'messages': bad request (fake openai)"],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided (fake openai)'],
  403: ['invalid_request_error', 'unsupported_country_region_territory', 'Country not supported (fake openai)'],
  404: ['invalid_request_error', 'model_not_found', 'The model does not exist (fake openai)'],
  422: ['invalid_request_error', null, 'Unprocessable entity: messages[0] invalid (fake openai)'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests (fake openai)'],
  500: ['server_error', null, 'The server had an error while processing your request (fake openai)'],
  502: ['server_error', null, 'Bad gateway (fake openai)'],
  503: ['server_error', null, 'The engine is currently overloaded, please try again later (fake openai)'],
});

export function openaiError(status, message) {
  const [type, code, msg] = ERRORS[status] || [status >= 500 ? 'server_error' : 'invalid_request_error', null, `Error ${status} (fake openai)`];
  return { error: { message: message || msg, type, param: null, code } };
}

/** The message of the error body the fake sends for status. */
export function errorMessageFor(status) {
  return openaiError(status).error.message;
}

/** The text pieces (one content delta each) of the answer. */
export function textPieces(scenario = {}, json = undefined) {
  if (typeof scenario.text === 'string') return scenario.text.split('|').map((p) => decodeURIComponent(p));
  if (scenario.stop_ignored) return [...STOP_IGNORED_PIECES];
  if (scenario.echo_model) return [`model=${json && typeof json.model === 'string' ? json.model : ''}`];
  const n = Math.max(1, intOf(scenario.deltas, DEFAULT_DELTAS));
  const pieces = ['Hello'];
  for (let i = 1; i < n; i++) pieces.push(` oai${i}`);
  return pieces;
}

/** The whole answer text (empty for a tool-call answer without tool_text). */
export function expectedText(scenario = {}, json = undefined) {
  if (toolCount(scenario) && !scenario.tool_text) return '';
  return textPieces(scenario, json).join('');
}

export function toolCount(scenario = {}) {
  if (!scenario.tool_calls) return 0;
  return Math.max(1, Math.min(TOOL_IDS.length, intOf(scenario.tool_calls, 1)));
}

/** The reasoning delta field a scenario uses, or null. */
export function reasoningField(scenario = {}) {
  if (!scenario.reasoning) return null;
  return scenario.reasoning === true ? 'reasoning_content' : String(scenario.reasoning);
}

/** Tool name i of a request (its tools, in order), else TOOL_NAMES[i]. */
export function toolNameFor(json, i) {
  const tools = json && Array.isArray(json.tools) ? json.tools : [];
  const t = tools[i];
  const name = t && (t.function?.name ?? t.name);
  return typeof name === 'string' ? name : TOOL_NAMES[i % TOOL_NAMES.length];
}

/** The tool calls (final form) of a scenario's answer: [{id, name, arguments (JSON string), input}]. */
export function expectedToolCalls(scenario = {}, json = undefined) {
  const out = [];
  for (let i = 0; i < toolCount(scenario); i++) {
    const name = i === 0 && scenario.tool_name ? String(scenario.tool_name) : toolNameFor(json, i);
    const id = scenario.bad_tool_id ? `functions.${name}:${i}` : TOOL_IDS[i];
    const args = i === 0 && scenario.tool_args ? JSON.parse(decodeURIComponent(String(scenario.tool_args))) : TOOL_ARGS[i];
    out.push({ id, name, arguments: JSON.stringify(args), input: JSON.parse(JSON.stringify(args)) });
  }
  return out;
}

export function finishReasonOf(scenario = {}) {
  if (scenario.finish) return String(scenario.finish);
  if (scenario.length) return 'length';
  return toolCount(scenario) ? 'tool_calls' : 'stop';
}

/** Deterministic prompt size of a request body (bytes / 4) plus the cached part. */
export function promptTokensFor(body) {
  const len = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(String(body ?? ''));
  return Math.max(1, Math.ceil(len / 4)) + FAKE_CACHED_TOKENS;
}

/** The usage object the fake reports for a request (deterministic). */
export function fakeUsage(scenario = {}, body = Buffer.alloc(0), json = undefined) {
  const prompt = promptTokensFor(body);
  const cached = scenario.no_cache ? 0 : FAKE_CACHED_TOKENS;
  const reasoning = scenario.reasoning ? 20 : 0;
  const completion = 5 + 2 * textPieces(scenario, json).length + reasoning + 10 * toolCount(scenario);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** What an Anthropic client should see for fakeUsage (the contract's mapping). */
export function anthropicUsageFor(scenario = {}, body = Buffer.alloc(0), json = undefined) {
  const u = fakeUsage(scenario, body, json);
  const cached = u.prompt_tokens_details.cached_tokens;
  return {
    input_tokens: u.prompt_tokens - cached,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
    output_tokens: u.completion_tokens,
  };
}

/** The fake's chat template (llama.cpp /apply-template): one `<|role|>content` line per message. */
export function renderTemplate(messages) {
  return `${messages.map((m) => `<|${m.role}|>${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`).join('\n')}\n<|assistant|>`;
}

/** Deterministic /tokenize count of a request. */
export function tokenizeCount(json) {
  const src = json ? (json.messages ?? json.prompt ?? json.content ?? '') : '';
  const s = typeof src === 'string' ? src : JSON.stringify(src);
  return Math.max(1, Math.ceil(Buffer.byteLength(s) / 4)) + 3;
}

function splitString(str, parts) {
  const out = [];
  const n = Math.max(1, parts);
  const size = Math.max(1, Math.ceil(str.length / n));
  for (let i = 0; i < str.length; i += size) out.push(str.slice(i, i + size));
  return out.length ? out : [''];
}

function modelOf(json) {
  return json && typeof json.model === 'string' ? json.model : 'qwen3';
}

function wantsUsage(scenario, json) {
  if (scenario.no_usage) return false;
  if (scenario.force_usage) return true;
  return !!(json && json.stream_options && json.stream_options.include_usage === true);
}

/**
 * The frames of a streamed answer: a list of chunk objects (JSON) in order, then (unless no_done)
 * the string '[DONE]'.
 */
export function buildChunks(scenario = {}, body = Buffer.alloc(0), json = undefined, id = randomId('chatcmpl-fake')) {
  const model = modelOf(json);
  const usageWanted = wantsUsage(scenario, json);
  const base = () => ({ id, object: 'chat.completion.chunk', created: FAKE_CREATED, model, system_fingerprint: 'fp_fake' });
  const chunk = (delta, finish = null) => ({
    ...base(),
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(usageWanted && !scenario.usage_on_finish ? { usage: null } : {}),
  });
  const out = [];
  out.push(chunk(scenario.no_role ? { content: '' } : { role: 'assistant', content: '' }));
  const rf = reasoningField(scenario);
  if (rf) for (const p of REASONING_PIECES) out.push(chunk({ [rf]: p }));
  const tools = expectedToolCalls(scenario, json);
  if (!tools.length || scenario.tool_text) for (const p of textPieces(scenario, json)) out.push(chunk({ content: p }));
  if (tools.length) {
    const k = Math.max(1, intOf(scenario.arg_chunks, 6));
    const perTool = tools.map((t, i) => {
      const first = { index: i, ...(scenario.no_tool_id ? {} : { id: t.id }), type: 'function', function: { name: t.name, arguments: '' } };
      return [first, ...splitString(t.arguments, k).map((a) => ({ index: i, function: { arguments: a } }))];
    });
    if (scenario.interleave) {
      const max = Math.max(...perTool.map((x) => x.length));
      for (let j = 0; j < max; j++) for (const frags of perTool) if (frags[j]) out.push(chunk({ tool_calls: [frags[j]] }));
    } else {
      for (const frags of perTool) for (const f of frags) out.push(chunk({ tool_calls: [f] }));
    }
  }
  const finish = finishReasonOf(scenario);
  const usage = fakeUsage(scenario, body, json);
  if (finish !== 'none') {
    const fc = chunk({}, finish);
    if (usageWanted && scenario.usage_on_finish) fc.usage = usage;
    out.push(fc);
  }
  if (usageWanted && !scenario.usage_on_finish) out.push({ ...base(), choices: [], usage });
  if (!scenario.no_done) out.push('[DONE]');
  return out;
}

/** The chat.completion object of a non-streamed answer. */
export function buildCompletion(scenario = {}, body = Buffer.alloc(0), json = undefined, id = randomId('chatcmpl-fake')) {
  const tools = expectedToolCalls(scenario, json);
  const text = expectedText(scenario, json);
  const message = { role: 'assistant', content: text === '' && tools.length ? null : text, refusal: null, annotations: [] };
  const rf = reasoningField(scenario);
  if (rf) message[rf] = REASONING_TEXT;
  if (tools.length) message.tool_calls = tools.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
  const finish = finishReasonOf(scenario);
  return {
    id,
    object: 'chat.completion',
    created: FAKE_CREATED,
    model: modelOf(json),
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish === 'none' ? null : finish }],
    usage: fakeUsage(scenario, body, json),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

export function frame(data) {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

/** Starts the fake. Options: {port=0, host='127.0.0.1', requireKey=true, keepAliveTimeout=60000}. */
export async function startFakeOpenAI(opts = {}) {
  const requireKey = opts.requireKey ?? true;

  /** A recorded request in /__fake/requests (after seq, method, url, path). */
  function requestJson(r) {
    return {
      headers: r.headers,
      body_text: r.body ? r.body.toString('utf8') : null,
      json: r.json,
      api_key: r.apiKey,
      rule: r.rule,
      scenario: r.scenario,
      aborted: r.aborted,
      dropped: r.dropped,
      completed: r.completed,
      frames_sent: r.framesSent,
      response_status: r.responseStatus,
    };
  }

  function sendJson(res, rec, status, obj, extra = {}) {
    if (res.destroyed) return;
    const bodyStr = JSON.stringify(obj);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(bodyStr)),
      'x-request-id': `req_fakeoai_${rec.seq}`,
      'openai-processing-ms': '12',
      'x-fake-seq': String(rec.seq),
      ...extra,
    };
    rec.responseStatus = status;
    rec.responseHeaders = headers;
    rec.responseBody = bodyStr;
    res.writeHead(status, headers);
    res.end(bodyStr);
  }

  function sendError(res, rec, status, message) {
    const extra = retryAfterHeader(rec.scenario, status, { 429: '7', 503: '3' });
    sendJson(res, rec, status, openaiError(status, message), extra);
  }

  async function handle(req, res, u, rec) {
    const sc = rec.scenario;
    if (sc.hang) return;
    const slow = intOf(sc.slow, 0);
    if (slow > 0) await sleep(slow);
    if (res.destroyed) return;
    if (requireKey && !rec.apiKey) return sendError(res, rec, 401, 'You did not provide an API key (fake openai)');
    if (sc.error) return sendError(res, rec, intOf(sc.error, 500));
    const p = u.pathname;
    if (req.method === 'POST' && p.endsWith('/chat/completions')) return chat(res, rec);
    if (req.method === 'POST' && (p === '/tokenize' || p === '/v1/tokenize')) {
      const j = rec.json;
      if (!j || typeof j !== 'object') return sendError(res, rec, 400, 'invalid JSON body (fake openai)');
      if (typeof j.content === 'string' && j.messages === undefined && j.prompt === undefined) {
        // llama.cpp style
        const n = tokenizeCount(j);
        return sendJson(res, rec, 200, { tokens: Array.from({ length: n }, (_, i) => 100 + i) });
      }
      if (j.messages === undefined && j.prompt === undefined) return sendError(res, rec, 400, "either 'messages' or 'prompt' is required (fake openai)");
      const n = tokenizeCount(j);
      return sendJson(res, rec, 200, { count: n, max_model_len: 32768, tokens: Array.from({ length: n }, (_, i) => 100 + i), token_strs: null });
    }
    if (req.method === 'POST' && p === '/apply-template') {
      // llama.cpp: the chat template applied to the messages, as the prompt text
      const j = rec.json;
      if (!j || !Array.isArray(j.messages)) return sendError(res, rec, 400, "'messages' is required (fake openai)");
      return sendJson(res, rec, 200, { prompt: renderTemplate(j.messages) });
    }
    if (req.method === 'GET' && (p === '/v1/models' || p === '/models')) {
      return sendJson(res, rec, 200, {
        object: 'list',
        data: FAKE_OPENAI_MODELS.map((id) => ({ id, object: 'model', created: FAKE_CREATED, owned_by: 'fake-openai' })),
      });
    }
    return sendError(res, rec, 404, `Unknown request URL: ${req.method} ${p} (fake openai)`);
  }

  async function chat(res, rec) {
    let sc = rec.scenario;
    const json = rec.json;
    if (!json || typeof json !== 'object' || typeof json.model !== 'string' || !Array.isArray(json.messages)) {
      return sendError(res, rec, 400, "'model' and 'messages' are required (fake openai)");
    }
    if (sc.tool_until_result) {
      // A model that calls a tool first and answers once the result is in the conversation.
      const answered = json.messages.some((m) => m.role === 'tool');
      const hasTools = Array.isArray(json.tools) && json.tools.length > 0;
      sc = { ...sc };
      if (answered || !hasTools) delete sc.tool_calls;
      else sc.tool_calls = sc.tool_calls ?? true;
    }
    if (!json.stream || sc.json_answer) return sendJson(res, rec, 200, buildCompletion(sc, rec.body, json));

    const frames = buildChunks(sc, rec.body, json).map(frame);
    const headers = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': `req_fakeoai_${rec.seq}`,
      'x-fake-seq': String(rec.seq),
    };
    await sendSse(res, rec, headers, frames, {
      counter: 'framesSent',
      dropAfter: countOf(sc.drop_after),
      errorAfter: countOf(sc.error_chunk_after),
      errorFrame: frame({ error: { ...MIDSTREAM_ERROR } }),
      interval: intOf(sc.interval, 0),
      firstDelay: intOf(sc.first_chunk_delay, 0),
    });
  }

  const fake = await startFakeServer({
    opts,
    preferBearer: true,
    recordFields: () => ({ dropped: false, framesSent: 0 }),
    onBody: (rec) => {
      try {
        rec.json = rec.body.length ? JSON.parse(rec.body.toString('utf8')) : undefined;
      } catch {
        rec.json = undefined;
      }
    },
    handle,
    onCrash: (res, rec, err) => sendJson(res, rec, 500, openaiError(500, `fake openai crashed: ${err && err.message}`)),
    requestJson,
  });
  return {
    ...fake,
    /** Recorded POSTs to any path ending in /chat/completions. */
    chatRequests() {
      return fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/chat/completions'));
    },
  };
}

// ----- standalone -----
await runIfMain(import.meta.url, startFakeOpenAI, 'FAKE_OPENAI_PORT');

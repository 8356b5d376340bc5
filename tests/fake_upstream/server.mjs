// Scripted fake Anthropic upstream for Clove's tests.
//
// Importable:  const fake = await startFakeUpstream();  // {port, url, close(), requests, stats, reset()}
// Standalone:  node tests/fake_upstream/server.mjs [--port N] [--host H]
//              prints FAKE_UPSTREAM_PORT=<port> on stdout.
//
// The scenario and rules plumbing, request recording, control endpoints, SSE pacing and
// start/stop are shared with tests/fake_openai/server.mjs (tests/lib/fake_server.mjs).
//
// Behaviour per request is chosen by the request header `x-fake-scenario`: comma-separated
// directives (see SCENARIO DIRECTIVES below). Without it, POST /v1/messages answers a realistic
// Message (JSON), or a realistic SSE stream when the body has "stream": true.
//
// Control endpoints (never recorded as requests): GET /__fake/stats, GET /__fake/requests,
// POST /__fake/reset, GET|POST|DELETE /__fake/rules (see RULES).
//
// Every recorded request carries `apiKey`: the x-api-key it received (else the token of an
// `Authorization: Bearer` header, else null), so tests can tell which credential was used.
//
// RULES (per credential or instance-wide behaviour, set by a test instead of the request header)
//   fake.setRules([{ key, path, scenario, times }, ...])  replaces the rules; fake.addRule(rule)
//   appends one; fake.clearRules(); fake.rules() lists them with `used` counts.
//   POST /__fake/rules with a JSON array of rules (or {"rules": [...], "append": true}) does the
//   same over HTTP; GET /__fake/rules lists them; DELETE /__fake/rules clears them.
//   Each rule: key (optional: only requests with this api key, see apiKey above; absent = every
//   request), path (optional: only this pathname, e.g. "/v1/messages"), scenario (directives as
//   in x-fake-scenario), times (optional: apply to N requests, then the rule is spent).
//   The first live matching rule applies; its directives are merged over the request's own
//   x-fake-scenario (the rule wins on a conflict). reset() clears the rules too.
//   A request records the rule it used as `rule` (index in the list, or null).
//
// SCENARIO DIRECTIVES
//   deltas:N             number of text_delta events of the (last) text block (default 3)
//   interval:MS          delay between SSE events (default 0)
//   tool_use             text block + tool_use block (input_json_delta fragments), stop_reason tool_use
//   thinking             thinking block (thinking_delta..., signature_delta) then the text block
//   slow:MS              wait MS before sending the response head
//   first_event_delay:MS (streams) send the head at once, the first event MS later
//   hang                 never answer (the request stays open until the client goes away)
//   drop_after:N         destroy the socket after N SSE events (no terminating chunk)
//   error:STATUS         Anthropic error JSON for STATUS (429/529 add retry-after: 7)
//   retry_after:S        the retry-after header value of an error response (any status), e.g.
//                        retry_after:2; retry_after:none sends no retry-after at all
//   ratelimit:R/L/S      anthropic-ratelimit-requests-remaining R, -limit L and -reset now + S
//                        seconds (RFC 3339) on every response of the request (success, error,
//                        stream) instead of the default (limit 4000, remaining counting down,
//                        reset in 60 s); ratelimit:none omits every anthropic-ratelimit-* header
//   error_event_after:N  after N SSE events send `event: error` (overloaded_error) and end cleanly
//   content_length       frame the SSE body with Content-Length instead of chunked encoding
//   echo                 the answer text is "sha256=<hex of received body> bytes=<length>"
//   no_cache             report zero prompt-cache usage
//   json_chunked         send JSON answers (messages, errors, count_tokens, models) chunked, without
//                        Content-Length
//   hop_headers          add hop-by-hop response headers (Connection: keep-alive, x-fake-hop;
//                        x-fake-hop: 1; Keep-Alive: timeout=59, max=977) that a proxy must not relay

import crypto from 'node:crypto';
import { parseScenario, intOf, sha256Hex, randomId, sleep, retryAfterHeader, countOf, sendSse, startFakeServer, runIfMain } from '../lib/fake_server.mjs';

export { parseScenario, sha256Hex };

export const DEFAULT_DELTAS = 3;
export const FAKE_CACHE_CREATION_5M = 1024;
export const FAKE_CACHE_CREATION_1H = 512;
export const FAKE_CACHE_READ = 2048;
export const TOOL_INPUT = Object.freeze({ location: 'San Francisco, CA', unit: 'celsius', days: [1, 2, 3] });
export const THINKING_TEXT = 'Let me think about this step by step. The user wants a short answer.';

const ERROR_TYPES = {
  400: ['invalid_request_error', 'messages: field required (fake upstream)'],
  401: ['authentication_error', 'invalid x-api-key (fake upstream)'],
  402: ['billing_error', 'Your credit balance is too low (fake upstream)'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource (fake upstream)'],
  404: ['not_found_error', 'The requested resource could not be found (fake upstream)'],
  409: ['conflict_error', 'Conflict (fake upstream)'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes (fake upstream)'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (fake upstream)'],
  500: ['api_error', 'Internal server error (fake upstream)'],
  504: ['timeout_error', 'Request timed out (fake upstream)'],
  529: ['overloaded_error', 'Overloaded (fake upstream)'],
};

export function errorTypeFor(status) {
  if (ERROR_TYPES[status]) return ERROR_TYPES[status][0];
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

export const FAKE_MODELS = [
  { id: 'claude-opus-5-5', display_name: 'Claude Opus 5.5', created_at: '2026-10-21T00:00:00Z' },
  { id: 'claude-sonnet-5-5', display_name: 'Claude Sonnet 5.5', created_at: '2026-10-21T00:00:00Z' },
  { id: 'claude-opus-4-8', display_name: 'Claude Opus 4.8', created_at: '2026-08-05T00:00:00Z' },
  { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
  { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5', created_at: '2025-10-15T00:00:00Z' },
  { id: 'claude-opus-4-1', display_name: 'Claude Opus 4.1', created_at: '2025-08-05T00:00:00Z' },
].map((m) => ({
  type: 'model',
  ...m,
  capabilities: null,
  max_input_tokens: 200000,
  max_tokens: 64000,
  lifecycle: 'active',
  line: m.id.split('-')[1],
  deprecated_at: null,
  retires_at: null,
}));

/** Deterministic token count of a request body (used by count_tokens and usage.input_tokens). */
export function countTokensFor(body) {
  const len = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(String(body));
  return Math.max(1, Math.ceil(len / 4));
}

/** The text pieces (one per text_delta) of the answer for a scenario and request body. */
export function textPieces(scenario = {}, body = Buffer.alloc(0)) {
  const n = Math.max(1, intOf(scenario.deltas, DEFAULT_DELTAS));
  if (scenario.echo) {
    const text = `sha256=${sha256Hex(body)} bytes=${body.length}`;
    const size = Math.ceil(text.length / n);
    const pieces = [];
    for (let i = 0; i < n; i++) pieces.push(text.slice(i * size, (i + 1) * size));
    return pieces;
  }
  const pieces = ['Hello'];
  for (let i = 1; i < n; i++) pieces.push(` part${i}`);
  return pieces;
}

export function expectedText(scenario = {}, body = Buffer.alloc(0)) {
  return textPieces(scenario, body).join('');
}

/** Deterministic fake signature for a thinking block (base64, realistic length). */
export function fakeSignature(body) {
  const h = crypto.createHash('sha512').update('sig:').update(body).digest();
  return 'EqQBCkYIBxgCKkD' + Buffer.concat([h, h, h]).toString('base64');
}

function splitJson(str, parts) {
  const out = [''];
  const size = Math.ceil(str.length / parts);
  for (let i = 0; i < str.length; i += size) out.push(str.slice(i, i + size));
  return out;
}

/** Usage numbers the fake reports for a request (deterministic). */
export function fakeUsage(scenario, body) {
  const pieces = textPieces(scenario, body);
  const thinkingTokens = scenario.thinking ? 40 : 0;
  const toolTokens = scenario.tool_use ? 25 : 0;
  const noCache = !!scenario.no_cache;
  return {
    input_tokens: countTokensFor(body),
    cache_creation_input_tokens: noCache ? 0 : FAKE_CACHE_CREATION_5M + FAKE_CACHE_CREATION_1H,
    cache_read_input_tokens: noCache ? 0 : FAKE_CACHE_READ,
    cache_creation: {
      ephemeral_5m_input_tokens: noCache ? 0 : FAKE_CACHE_CREATION_5M,
      ephemeral_1h_input_tokens: noCache ? 0 : FAKE_CACHE_CREATION_1H,
    },
    output_tokens: 7 + 3 * pieces.length + thinkingTokens + toolTokens,
    service_tier: 'standard',
  };
}

function toolNameFrom(json) {
  const t = json && Array.isArray(json.tools) ? json.tools.find((x) => x && typeof x.name === 'string') : null;
  return t ? t.name : 'get_weather';
}

/** The content blocks (final form) of the answer. */
function contentBlocks(scenario, body, json, ids) {
  const blocks = [];
  if (scenario.thinking) {
    blocks.push({ type: 'thinking', thinking: THINKING_TEXT, signature: fakeSignature(body) });
  }
  if (scenario.tool_use) {
    blocks.push({ type: 'text', text: expectedText(scenario, body), citations: null });
    blocks.push({ type: 'tool_use', id: ids.toolId, name: toolNameFrom(json), input: { ...TOOL_INPUT } });
  } else {
    blocks.push({ type: 'text', text: expectedText(scenario, body), citations: null });
  }
  return blocks;
}

function modelOf(json) {
  return json && typeof json.model === 'string' ? json.model : 'claude-sonnet-4-5';
}

export function buildMessage(scenario, body, json, ids = { msgId: randomId('msg_fake_'), toolId: randomId('toolu_fake_') }) {
  const usage = fakeUsage(scenario, body);
  return {
    id: ids.msgId,
    type: 'message',
    role: 'assistant',
    model: modelOf(json),
    content: contentBlocks(scenario, body, json, ids),
    stop_reason: scenario.tool_use ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    stop_details: null,
    usage,
    container: null,
  };
}

/** The list of SSE events (objects {event, data}) of a streamed answer. */
export function buildStreamEvents(scenario, body, json, ids = { msgId: randomId('msg_fake_'), toolId: randomId('toolu_fake_') }) {
  const usage = fakeUsage(scenario, body);
  const ev = [];
  const push = (data) => ev.push({ event: data.type, data });
  push({
    type: 'message_start',
    message: {
      id: ids.msgId,
      type: 'message',
      role: 'assistant',
      model: modelOf(json),
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  let index = 0;
  if (scenario.thinking) {
    push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
    if (index === 0) push({ type: 'ping' });
    const half = Math.floor(THINKING_TEXT.length / 2);
    push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: THINKING_TEXT.slice(0, half) } });
    push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: THINKING_TEXT.slice(half) } });
    push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: fakeSignature(body) } });
    push({ type: 'content_block_stop', index });
    index++;
  }
  push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
  if (index === 0) push({ type: 'ping' });
  for (const piece of textPieces(scenario, body)) {
    push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
  }
  push({ type: 'content_block_stop', index });
  index++;
  if (scenario.tool_use) {
    push({
      type: 'content_block_start',
      index,
      content_block: { type: 'tool_use', id: ids.toolId, name: toolNameFrom(json), input: {} },
    });
    for (const frag of splitJson(JSON.stringify(TOOL_INPUT), 4)) {
      push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: frag } });
    }
    push({ type: 'content_block_stop', index });
    index++;
  }
  push({
    type: 'message_delta',
    delta: { stop_reason: scenario.tool_use ? 'tool_use' : 'end_turn', stop_sequence: null, stop_details: null },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
    },
  });
  push({ type: 'message_stop' });
  return ev;
}

export function frameEvent({ event, data }) {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function errorBody(status, requestId, message) {
  const [type, msg] = ERROR_TYPES[status] || [errorTypeFor(status), `Error ${status} (fake upstream)`];
  return JSON.stringify({ type: 'error', error: { type, message: message || msg }, request_id: requestId });
}

/** RFC 3339 UTC, whole seconds rounded up (never before ms), like Anthropic's anthropic-ratelimit-*-reset headers. */
function rfc3339(ms) {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Starts the fake upstream. Options: {port=0, host='127.0.0.1', keepAliveTimeout=60000, requireKey=true, quiet=true}
 */
export async function startFakeUpstream(opts = {}) {
  const requireKey = opts.requireKey ?? true;
  let rateRemaining = 4000;

  /** A recorded request in /__fake/requests (after seq, method, url, path). */
  function requestJson(r) {
    return {
      query: r.query,
      headers: r.headers,
      rawHeaders: r.rawHeaders,
      body_base64: r.body ? r.body.toString('base64') : null,
      body_text: r.body ? r.body.toString('utf8') : null,
      body_sha256: r.body ? sha256Hex(r.body) : null,
      request_id: r.requestId,
      api_key: r.apiKey,
      rule: r.rule,
      scenario: r.scenario,
      aborted: r.aborted,
      dropped: !!r.dropped,
      completed: r.completed,
      received_at: r.receivedAt,
      aborted_at: r.abortedAt,
      events_sent: r.eventsSent,
      response_status: r.responseStatus,
      response_headers: r.responseHeaders,
    };
  }

  function rateLimitHeaders(rec) {
    const rl = rec.scenario.ratelimit;
    rateRemaining = rateRemaining > 0 ? rateRemaining - 1 : 4000;
    if (rl === 'none') return {};
    const h = {
      'anthropic-ratelimit-requests-limit': '4000',
      'anthropic-ratelimit-requests-remaining': String(rateRemaining),
      'anthropic-ratelimit-requests-reset': rfc3339(Date.now() + 60000),
      'anthropic-ratelimit-tokens-limit': '400000',
      'anthropic-ratelimit-tokens-remaining': '399000',
    };
    const m = typeof rl === 'string' ? /^(\d+)\/(\d+)\/(\d+(?:\.\d+)?)$/.exec(rl) : null;
    if (m) {
      h['anthropic-ratelimit-requests-remaining'] = m[1];
      h['anthropic-ratelimit-requests-limit'] = m[2];
      h['anthropic-ratelimit-requests-reset'] = rfc3339(Date.now() + Number(m[3]) * 1000);
    }
    return h;
  }

  function commonHeaders(rec) {
    const hop = rec.scenario.hop_headers
      ? { connection: 'keep-alive, x-fake-hop', 'x-fake-hop': '1', 'keep-alive': 'timeout=59, max=977' }
      : {};
    return {
      ...hop,
      'request-id': rec.requestId,
      'anthropic-organization-id': 'org_fake_0001',
      ...rateLimitHeaders(rec),
      'x-fake-seq': String(rec.seq),
    };
  }

  function sendJson(res, rec, status, bodyStr, extra = {}) {
    if (res.destroyed) return;
    const headers = {
      ...commonHeaders(rec),
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(bodyStr)),
      ...extra,
    };
    rec.responseStatus = status;
    rec.responseHeaders = headers;
    rec.responseBody = bodyStr;
    if (rec.scenario.json_chunked) {
      // no Content-Length: chunked transfer encoding, the body in three pieces
      delete headers['content-length'];
      res.writeHead(status, headers);
      const n = Math.ceil(bodyStr.length / 3);
      res.write(bodyStr.slice(0, n));
      setTimeout(() => {
        if (res.destroyed) return;
        res.write(bodyStr.slice(n, 2 * n));
        setTimeout(() => !res.destroyed && res.end(bodyStr.slice(2 * n)), 20);
      }, 20);
      return;
    }
    res.writeHead(status, headers);
    res.end(bodyStr);
  }

  function sendError(res, rec, status, message) {
    const extra = retryAfterHeader(rec.scenario, status, { 429: '7', 529: '7' });
    sendJson(res, rec, status, errorBody(status, rec.requestId, message), extra);
  }

  async function handle(req, res, u, rec) {
    const sc = rec.scenario;
    if (sc.hang) return; // never answer; 'close' marks it aborted when the client leaves
    const slow = intOf(sc.slow, 0);
    if (slow > 0) await sleep(slow);
    if (res.destroyed) return;

    if (sc.error) {
      const status = intOf(sc.error, 500);
      return sendError(res, rec, status);
    }

    if (requireKey && !req.headers['x-api-key'] && !req.headers.authorization) {
      return sendError(res, rec, 401, 'x-api-key header is required (fake upstream)');
    }

    const p = u.pathname;
    if (p === '/v1/messages' && req.method === 'POST') return messages(req, res, rec);
    if (p === '/v1/messages/count_tokens' && req.method === 'POST') {
      try {
        JSON.parse(rec.body.toString('utf8'));
      } catch {
        return sendError(res, rec, 400, 'There was an issue with your request body: invalid JSON (fake upstream)');
      }
      return sendJson(res, rec, 200, JSON.stringify({ input_tokens: countTokensFor(rec.body) }));
    }
    if (p === '/v1/models' && req.method === 'GET') return models(res, rec, u);
    const m = /^\/v1\/models\/([^/]+)$/.exec(p);
    if (m && req.method === 'GET') {
      const id = decodeURIComponent(m[1]);
      const model = FAKE_MODELS.find((x) => x.id === id);
      if (!model) return sendError(res, rec, 404, `model: ${id}`);
      return sendJson(res, rec, 200, JSON.stringify(model));
    }
    if ((p === '/' || p === '') && req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': '0' });
      return res.end();
    }
    return sendError(res, rec, 404, `Not found: ${req.method} ${p} (fake upstream)`);
  }

  function models(res, rec, u) {
    const limit = Math.min(1000, Math.max(1, intOf(u.searchParams.get('limit') ?? undefined, 20)));
    let list = FAKE_MODELS;
    const after = u.searchParams.get('after_id');
    const before = u.searchParams.get('before_id');
    if (after) {
      const i = list.findIndex((x) => x.id === after);
      list = i >= 0 ? list.slice(i + 1) : [];
    }
    if (before) {
      const i = list.findIndex((x) => x.id === before);
      list = i >= 0 ? list.slice(Math.max(0, i - limit), i) : [];
    }
    const page = list.slice(0, limit);
    const body = {
      data: page,
      has_more: list.length > page.length,
      first_id: page.length ? page[0].id : null,
      last_id: page.length ? page[page.length - 1].id : null,
    };
    return sendJson(res, rec, 200, JSON.stringify(body));
  }

  async function messages(req, res, rec) {
    const sc = rec.scenario;
    let json;
    try {
      json = JSON.parse(rec.body.toString('utf8'));
    } catch {
      return sendError(res, rec, 400, 'There was an issue with your request body: invalid JSON (fake upstream)');
    }
    rec.json = json;
    if (!json || typeof json !== 'object' || typeof json.model !== 'string' || !Array.isArray(json.messages)) {
      return sendError(res, rec, 400, 'model: Field required (fake upstream)');
    }
    if (!json.stream) {
      return sendJson(res, rec, 200, JSON.stringify(buildMessage(sc, rec.body, json)));
    }

    const events = buildStreamEvents(sc, rec.body, json);
    const frames = events.map(frameEvent);
    const errorAfter = countOf(sc.error_event_after);

    const headers = {
      ...commonHeaders(rec),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    };
    if (sc.content_length) {
      let total;
      if (errorAfter >= 0) {
        total = frames.slice(0, errorAfter).join('') + frameEvent(overloadedEvent(rec));
      } else total = frames.join('');
      headers['content-length'] = String(Buffer.byteLength(total));
    }

    await sendSse(res, rec, headers, frames, {
      counter: 'eventsSent',
      dropAfter: countOf(sc.drop_after),
      errorAfter,
      errorFrame: frameEvent(overloadedEvent(rec)),
      interval: intOf(sc.interval, 0),
      firstDelay: intOf(sc.first_event_delay, 0),
    });
  }

  function overloadedEvent(rec) {
    return {
      event: 'error',
      data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: rec.requestId },
    };
  }

  const fake = await startFakeServer({
    opts,
    trackMaxInflight: true,
    maxHeadersCount: 0,
    recordFields: () => ({ requestId: randomId('req_fake_'), bodyDoneAt: null, eventsSent: 0 }),
    onBody: (rec) => {
      rec.bodyDoneAt = Date.now();
    },
    handle,
    onCrash: (res, rec, err) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(errorBody(500, rec.requestId, `fake upstream crashed: ${err && err.message}`));
    },
    requestJson,
  });
  return {
    ...fake,
    /** The api keys (apiKey) of the requests to pathname (default /v1/messages), in order. */
    keysSeen(pathname = '/v1/messages') {
      return fake.requests.filter((r) => r.path === pathname).map((r) => r.apiKey);
    },
    snapshotStats() {
      return JSON.parse(JSON.stringify(fake.stats));
    },
  };
}

// ----- standalone -----
await runIfMain(import.meta.url, startFakeUpstream, 'FAKE_UPSTREAM_PORT');

// Scripted fake Anthropic upstream for Clove's tests.
//
// Importable:  const fake = await startFakeUpstream();  // {port, url, close(), requests, stats, reset()}
// Standalone:  node tests/fake_upstream/server.mjs [--port N] [--host H]
//              prints FAKE_UPSTREAM_PORT=<port> on stdout.
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

import http from 'node:http';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

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

/** Parses an `x-fake-scenario` header value into an object of directives. */
export function parseScenario(value) {
  const s = {};
  if (!value) return s;
  const raw = Array.isArray(value) ? value.join(',') : String(value);
  for (const part of raw.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const colon = p.indexOf(':');
    if (colon < 0) s[p] = true;
    else s[p.slice(0, colon).trim()] = p.slice(colon + 1).trim();
  }
  return s;
}

function intOf(v, dflt) {
  if (v === undefined || v === true) return dflt;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
}

/** Deterministic token count of a request body (used by count_tokens and usage.input_tokens). */
export function countTokensFor(body) {
  const len = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(String(body));
  return Math.max(1, Math.ceil(len / 4));
}

export function sha256Hex(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
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

function randomId(prefix, n = 24) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(n);
  let s = prefix;
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** RFC 3339 UTC, whole seconds rounded up (never before ms), like Anthropic's anthropic-ratelimit-*-reset headers. */
function rfc3339(ms) {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** The credential a request carries: x-api-key, else the Bearer token, else null. */
function apiKeyOf(req) {
  const k = req.headers['x-api-key'];
  if (typeof k === 'string' && k) return k;
  const m = /^Bearer\s+(\S+)/i.exec(String(req.headers.authorization ?? ''));
  return m ? m[1] : null;
}

function headerObject(rawHeaders) {
  // Lower-cased names; repeated headers joined like node does for most (", "), but keep set-cookie style arrays.
  const out = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    const v = rawHeaders[i + 1];
    if (k in out) out[k] = Array.isArray(out[k]) ? [...out[k], v] : [out[k], v];
    else out[k] = v;
  }
  return out;
}

/**
 * Starts the fake upstream. Options: {port=0, host='127.0.0.1', keepAliveTimeout=60000, requireKey=true, quiet=true}
 */
export async function startFakeUpstream(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const requireKey = opts.requireKey ?? true;
  const requests = [];
  const stats = {
    connections: { opened: 0, closed: 0, open: 0 },
    requests: 0,
    completed: 0,
    aborted: 0,
    dropped: 0,
    inflight: 0,
    max_inflight: 0,
    by_path: {},
  };
  const sockets = new Set();
  let seq = 0;
  let rateRemaining = 4000;
  /** Scripted behaviour: [{key, path, scenario (string), times, used}] (see RULES). */
  let rules = [];

  function normaliseRule(r) {
    if (!r || typeof r !== 'object') throw new Error('a rule must be an object');
    const scenario = typeof r.scenario === 'string' ? r.scenario : '';
    if (r.key !== undefined && r.key !== null && typeof r.key !== 'string') throw new Error('rule.key must be a string');
    if (r.path !== undefined && r.path !== null && typeof r.path !== 'string') throw new Error('rule.path must be a string');
    const times = r.times === undefined || r.times === null ? null : Number(r.times);
    if (times !== null && !(Number.isInteger(times) && times >= 0)) throw new Error('rule.times must be a non-negative integer');
    return { key: r.key ?? null, path: r.path ?? null, scenario, times, used: 0 };
  }

  function setRules(list) {
    if (!Array.isArray(list)) throw new Error('rules must be an array');
    rules = list.map(normaliseRule);
  }

  function rulesJson() {
    return rules.map((r, index) => ({ index, key: r.key, path: r.path, scenario: r.scenario, times: r.times, used: r.used }));
  }

  /** The first live rule matching a request (and counts its use), or null. */
  function takeRule(apiKey, pathname) {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (r.key !== null && r.key !== apiKey) continue;
      if (r.path !== null && r.path !== pathname) continue;
      if (r.times !== null && r.used >= r.times) continue;
      r.used++;
      return { index: i, rule: r };
    }
    return null;
  }

  const server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeout ?? 60000, requestTimeout: 0, headersTimeout: 60000 });
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 60000;
  server.maxHeadersCount = 0;

  server.on('connection', (socket) => {
    stats.connections.opened++;
    stats.connections.open++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => {
      stats.connections.closed++;
      stats.connections.open--;
      sockets.delete(socket);
    });
  });

  function resetState() {
    requests.length = 0;
    rules = [];
    stats.connections.opened = stats.connections.open;
    stats.connections.closed = 0;
    stats.requests = 0;
    stats.completed = 0;
    stats.aborted = 0;
    stats.dropped = 0;
    stats.max_inflight = stats.inflight;
    stats.by_path = {};
  }

  function snapshotStats() {
    return JSON.parse(JSON.stringify(stats));
  }

  function requestsJson() {
    return requests.map((r) => ({
      seq: r.seq,
      method: r.method,
      url: r.url,
      path: r.path,
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
    }));
  }

  server.on('request', (req, res) => {
    const u = new URL(req.url, 'http://fake');
    if (u.pathname.startsWith('/__fake/')) return control(req, res, u);

    const apiKey = apiKeyOf(req);
    const applied = takeRule(apiKey, u.pathname);
    const scenario = parseScenario(req.headers['x-fake-scenario']);
    if (applied) Object.assign(scenario, parseScenario(applied.rule.scenario));
    const rec = {
      seq: ++seq,
      method: req.method,
      url: req.url,
      path: u.pathname,
      query: u.search,
      headers: headerObject(req.rawHeaders),
      rawHeaders: [...req.rawHeaders],
      body: null,
      json: undefined,
      requestId: randomId('req_fake_'),
      apiKey,
      rule: applied ? applied.index : null,
      scenario,
      aborted: false,
      completed: false,
      receivedAt: Date.now(),
      abortedAt: null,
      bodyDoneAt: null,
      eventsSent: 0,
      sentFrames: [], // SSE frames written, in order (strings)
      sentAt: [], // Date.now() when each frame was written
      responseStatus: null,
      responseHeaders: null,
      responseBody: null, // for non-SSE answers: the exact body string
    };
    requests.push(rec);
    stats.requests++;
    stats.by_path[u.pathname] = (stats.by_path[u.pathname] || 0) + 1;
    stats.inflight++;
    stats.max_inflight = Math.max(stats.max_inflight, stats.inflight);

    let finished = false;
    res.on('finish', () => {
      finished = true;
    });
    res.on('close', () => {
      stats.inflight--;
      if (rec.dropped) {
        stats.dropped++;
      } else if (finished) {
        rec.completed = true;
        stats.completed++;
      } else {
        // the client went away before the response ended
        rec.aborted = true;
        rec.abortedAt = Date.now();
        stats.aborted++;
      }
    });

    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      rec.body = Buffer.concat(chunks);
      rec.bodyDoneAt = Date.now();
      handle(req, res, u, rec).catch((err) => {
        try {
          if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(errorBody(500, rec.requestId, `fake upstream crashed: ${err && err.message}`));
          } else res.destroy();
        } catch {
          /* ignore */
        }
      });
    });
  });

  function control(req, res, u) {
    const send = (status, obj) => {
      const b = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    };
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (u.pathname === '/__fake/stats' && req.method === 'GET') return send(200, snapshotStats());
      if (u.pathname === '/__fake/requests' && req.method === 'GET') return send(200, requestsJson());
      if (u.pathname === '/__fake/reset' && req.method === 'POST') {
        resetState();
        return send(200, { ok: true });
      }
      if (u.pathname === '/__fake/rules') {
        if (req.method === 'GET') return send(200, { rules: rulesJson() });
        if (req.method === 'DELETE') {
          rules = [];
          return send(200, { rules: [] });
        }
        if (req.method === 'POST' || req.method === 'PUT') {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '[]');
            const list = Array.isArray(body) ? body : body && Array.isArray(body.rules) ? body.rules : null;
            if (!list) throw new Error('expected a JSON array of rules or {"rules": [...]}');
            const fresh = list.map(normaliseRule);
            rules = body && body.append ? [...rules, ...fresh] : fresh;
          } catch (err) {
            return send(400, { error: String(err && err.message) });
          }
          return send(200, { rules: rulesJson() });
        }
      }
      return send(404, { error: 'unknown control endpoint' });
    });
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
    const extra = {};
    const ra = rec.scenario.retry_after;
    if (typeof ra === 'string' && ra !== 'none' && ra !== '') extra['retry-after'] = ra;
    else if (ra === undefined && (status === 429 || status === 529)) extra['retry-after'] = '7';
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
    const dropAfter = sc.drop_after !== undefined ? intOf(sc.drop_after, 0) : -1;
    const errorAfter = sc.error_event_after !== undefined ? intOf(sc.error_event_after, 0) : -1;
    const interval = intOf(sc.interval, 0);
    const firstEventDelay = intOf(sc.first_event_delay, 0);

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
    rec.responseStatus = 200;
    rec.responseHeaders = headers;
    res.writeHead(200, headers);
    res.flushHeaders();

    let lastWrite = Promise.resolve();
    for (let i = 0; i <= frames.length; i++) {
      if (res.destroyed) return;
      if (dropAfter >= 0 && i === dropAfter) {
        // let what was written reach the wire first
        await Promise.race([lastWrite, sleep(1000)]);
        await sleep(10);
        rec.dropped = true;
        // destroy without the terminating chunk, as a broken upstream connection would
        res.socket?.destroy();
        res.destroy();
        return;
      }
      if (errorAfter >= 0 && i === errorAfter) {
        const f = frameEvent(overloadedEvent(rec));
        rec.sentFrames.push(f);
        rec.sentAt.push(Date.now());
        res.end(f);
        rec.eventsSent++;
        return;
      }
      if (i === frames.length) break;
      if (interval > 0 && i > 0) {
        await sleep(interval);
        if (res.destroyed) return;
      }
      if (firstEventDelay > 0 && i === 0) {
        await sleep(firstEventDelay);
        if (res.destroyed) return;
      }
      rec.sentFrames.push(frames[i]);
      rec.sentAt.push(Date.now());
      lastWrite = new Promise((r) => res.write(frames[i], () => r()));
      rec.eventsSent++;
    }
    res.end();
  }

  function overloadedEvent(rec) {
    return {
      event: 'error',
      data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: rec.requestId },
    };
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = server.address().port;

  return {
    port,
    host,
    url: `http://${host}:${port}`,
    server,
    requests,
    stats,
    /** Requests whose path is not a control path, optionally filtered by pathname. */
    requestsTo(pathname) {
      return requests.filter((r) => r.path === pathname);
    },
    lastRequest() {
      return requests[requests.length - 1];
    },
    /** The api keys (apiKey) of the requests to pathname (default /v1/messages), in order. */
    keysSeen(pathname = '/v1/messages') {
      return requests.filter((r) => r.path === pathname).map((r) => r.apiKey);
    },
    /** Replaces the rules (see RULES). */
    setRules,
    /** Appends one rule. */
    addRule(rule) {
      rules.push(normaliseRule(rule));
    },
    clearRules() {
      rules = [];
    },
    /** The rules with their `used` counts. */
    rules: rulesJson,
    reset: resetState,
    snapshotStats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
      if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    },
  };
}

// ----- standalone -----
const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  const get = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const fake = await startFakeUpstream({
    port: get('--port') ? Number(get('--port')) : 0,
    host: get('--host') ?? '127.0.0.1',
  });
  process.stdout.write(`FAKE_UPSTREAM_PORT=${fake.port}\n`);
  const stop = async () => {
    await fake.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

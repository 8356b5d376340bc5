// The plumbing shared by the scripted fakes (tests/fake_upstream/server.mjs, the Anthropic
// upstream; tests/fake_openai/server.mjs, the OpenAI-compatible one): x-fake-scenario parsing,
// rules, request recording and stats, the /__fake/* control endpoints, SSE frame pacing (interval,
// first-frame delay, drop or error after N frames), listen/close and the standalone entry point.
// Each fake supplies its own answers (handle), record fields and /__fake/requests shape.

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

/** Parses an `x-fake-scenario` header value (comma-separated directives) into an object. */
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

/** The integer value of a directive (dflt when absent, valueless or not a number). */
export function intOf(v, dflt) {
  if (v === undefined || v === true) return dflt;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
}

export function sha256Hex(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

export function randomId(prefix, n = 24) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(n);
  let s = prefix;
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The credential a request carries: x-api-key, else the token of `Authorization: Bearer`, else
 * null; with preferBearer the Bearer token is taken first.
 */
export function apiKeyOf(req, { preferBearer = false } = {}) {
  const k = req.headers['x-api-key'];
  const key = typeof k === 'string' && k ? k : null;
  const m = /^Bearer\s+(\S+)/i.exec(String(req.headers.authorization ?? ''));
  const bearer = m ? m[1] : null;
  return preferBearer ? (bearer ?? key) : (key ?? bearer);
}

/** Lower-cased header names; a repeated header becomes an array of its values. */
export function headerObject(rawHeaders) {
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
 * The retry-after header of an error answer: the scenario's retry_after:S (retry_after:none: no
 * header), else defaults[status] when the scenario does not mention retry_after.
 */
export function retryAfterHeader(scenario, status, defaults) {
  const ra = scenario.retry_after;
  if (typeof ra === 'string' && ra !== 'none' && ra !== '') return { 'retry-after': ra };
  if (ra === undefined && defaults[status]) return { 'retry-after': defaults[status] };
  return {};
}

/**
 * Scripted behaviour set by a test: [{key, path, scenario (string), times, used}]. A rule matches
 * a request with its api key (key null: any) and pathname (path null: any) until it has been used
 * `times` times (null: forever).
 */
function createRules() {
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

  return {
    set(list) {
      if (!Array.isArray(list)) throw new Error('rules must be an array');
      rules = list.map(normaliseRule);
    },
    /** Appends the rules of list (all checked before any is added). */
    append(list) {
      rules = [...rules, ...list.map(normaliseRule)];
    },
    add(rule) {
      rules.push(normaliseRule(rule));
    },
    clear() {
      rules = [];
    },
    json() {
      return rules.map((r, index) => ({ index, key: r.key, path: r.path, scenario: r.scenario, times: r.times, used: r.used }));
    },
    /** The first live rule matching a request (and counts its use), or null. */
    take(apiKey, pathname) {
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i];
        if (r.key !== null && r.key !== apiKey) continue;
        if (r.path !== null && r.path !== pathname) continue;
        if (r.times !== null && r.used >= r.times) continue;
        r.used++;
        return { index: i, rule: r };
      }
      return null;
    },
  };
}

/**
 * The value of a count directive such as drop_after:N (a valueless one counts as 0), or -1 when the
 * scenario does not have it.
 */
export function countOf(v) {
  return v !== undefined ? intOf(v, 0) : -1;
}

/**
 * Answers 200 with an SSE stream: the head (headers, recorded in rec) at once, then the frames
 * (strings), frame i recorded in rec.sentFrames / rec.sentAt and counted in rec[counter].
 * firstDelay: ms before the first frame; interval: ms between frames; dropAfter >= 0: destroy the
 * connection after that many frames (no terminating chunk; rec.dropped); errorAfter >= 0: after
 * that many frames send errorFrame and end.
 */
export async function sendSse(res, rec, headers, frames, { counter, dropAfter = -1, errorAfter = -1, errorFrame = '', interval = 0, firstDelay = 0 }) {
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
      rec.sentFrames.push(errorFrame);
      rec.sentAt.push(Date.now());
      rec[counter]++;
      res.end(errorFrame);
      return;
    }
    if (i === frames.length) break;
    if (i === 0 && firstDelay > 0) await sleep(firstDelay);
    else if (i > 0 && interval > 0) await sleep(interval);
    if (res.destroyed) return;
    rec.sentFrames.push(frames[i]);
    rec.sentAt.push(Date.now());
    rec[counter]++;
    lastWrite = new Promise((r) => res.write(frames[i], () => r()));
  }
  res.end();
}

/**
 * Starts a fake on opts.port (0: any) and opts.host (127.0.0.1), keep-alive opts.keepAliveTimeout
 * (60 s); with opts.tls = {key, cert} (PEM) it speaks HTTPS, its url naming opts.tlsHost
 * (localhost), and counts failed handshakes in stats.tls_errors. Every request outside /__fake/ is recorded in `requests` ({seq, method, url, path, query,
 * headers, rawHeaders, body (Buffer, once read), json, apiKey, rule, scenario, aborted, completed,
 * receivedAt, abortedAt, sentFrames, sentAt, responseStatus, responseHeaders, responseBody} plus
 * recordFields()), its scenario being its x-fake-scenario merged under the first matching rule's;
 * when the body is read, onBody(rec) then handle(req, res, url, rec) runs; if that fails before the
 * head is sent, onCrash(res, rec, err) answers. Control endpoints: GET /__fake/stats, GET
 * /__fake/requests (per request {seq, method, url, path, ...requestJson(rec)}), POST /__fake/reset, GET|POST|PUT|DELETE /__fake/rules.
 * trackMaxInflight adds stats.max_inflight; maxHeadersCount sets server.maxHeadersCount.
 * Returns {port, host, url, server, requests, stats, requestsTo, lastRequest, setRules, addRule,
 * clearRules, rules, reset, close}.
 */
export async function startFakeServer({
  opts = {},
  preferBearer = false,
  trackMaxInflight = false,
  maxHeadersCount,
  recordFields = () => ({}),
  onBody = () => {},
  handle,
  onCrash,
  requestJson,
}) {
  const host = opts.host ?? '127.0.0.1';
  const requests = [];
  const stats = {
    connections: { opened: 0, closed: 0, open: 0 },
    requests: 0,
    completed: 0,
    aborted: 0,
    dropped: 0,
    inflight: 0,
    ...(trackMaxInflight ? { max_inflight: 0 } : {}),
    by_path: {},
  };
  const sockets = new Set();
  let seq = 0;
  const rules = createRules();

  const serverOpts = { keepAliveTimeout: opts.keepAliveTimeout ?? 60000, requestTimeout: 0, headersTimeout: 60000 };
  const server = opts.tls ? https.createServer({ ...serverOpts, ...opts.tls }) : http.createServer(serverOpts);
  if (maxHeadersCount !== undefined) server.maxHeadersCount = maxHeadersCount;
  if (opts.tls) {
    stats.tls_errors = 0;
    server.on('tlsClientError', () => stats.tls_errors++);
  }

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

  function requestsJson() {
    return requests.map((r) => ({ seq: r.seq, method: r.method, url: r.url, path: r.path, ...requestJson(r) }));
  }

  function resetState() {
    requests.length = 0;
    rules.clear();
    stats.connections.opened = stats.connections.open;
    stats.connections.closed = 0;
    stats.requests = 0;
    stats.completed = 0;
    stats.aborted = 0;
    stats.dropped = 0;
    if (trackMaxInflight) stats.max_inflight = stats.inflight;
    stats.by_path = {};
  }

  server.on('request', (req, res) => {
    const u = new URL(req.url, 'http://fake');
    if (u.pathname.startsWith('/__fake/')) return control(req, res, u);

    const apiKey = apiKeyOf(req, { preferBearer });
    const applied = rules.take(apiKey, u.pathname);
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
      apiKey,
      rule: applied ? applied.index : null,
      scenario,
      aborted: false,
      completed: false,
      receivedAt: Date.now(),
      abortedAt: null,
      sentFrames: [], // SSE frames written, in order (strings)
      sentAt: [], // Date.now() when each frame was written
      responseStatus: null,
      responseHeaders: null,
      responseBody: null, // for non-SSE answers: the exact body string
      ...recordFields(),
    };
    requests.push(rec);
    stats.requests++;
    stats.by_path[u.pathname] = (stats.by_path[u.pathname] || 0) + 1;
    stats.inflight++;
    if (trackMaxInflight) stats.max_inflight = Math.max(stats.max_inflight, stats.inflight);

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
      onBody(rec);
      handle(req, res, u, rec).catch((err) => {
        try {
          if (!res.headersSent) onCrash(res, rec, err);
          else res.destroy();
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
      if (u.pathname === '/__fake/stats' && req.method === 'GET') return send(200, JSON.parse(JSON.stringify(stats)));
      if (u.pathname === '/__fake/requests' && req.method === 'GET') return send(200, requestsJson());
      if (u.pathname === '/__fake/reset' && req.method === 'POST') {
        resetState();
        return send(200, { ok: true });
      }
      if (u.pathname === '/__fake/rules') {
        if (req.method === 'GET') return send(200, { rules: rules.json() });
        if (req.method === 'DELETE') {
          rules.clear();
          return send(200, { rules: [] });
        }
        if (req.method === 'POST' || req.method === 'PUT') {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '[]');
            const list = Array.isArray(body) ? body : body && Array.isArray(body.rules) ? body.rules : null;
            if (!list) throw new Error('expected a JSON array of rules or {"rules": [...]}');
            if (body && body.append) rules.append(list);
            else rules.set(list);
          } catch (err) {
            return send(400, { error: String(err && err.message) });
          }
          return send(200, { rules: rules.json() });
        }
      }
      return send(404, { error: 'unknown control endpoint' });
    });
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
    url: opts.tls ? `https://${opts.tlsHost ?? 'localhost'}:${port}` : `http://${host}:${port}`,
    server,
    requests,
    stats,
    /** Recorded requests to exactly this pathname. */
    requestsTo(pathname) {
      return requests.filter((r) => r.path === pathname);
    },
    lastRequest() {
      return requests[requests.length - 1];
    },
    /** Replaces the rules. */
    setRules: rules.set,
    /** Appends one rule. */
    addRule: rules.add,
    clearRules: rules.clear,
    /** The rules with their `used` counts. */
    rules: rules.json,
    reset: resetState,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
      if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    },
  };
}

/**
 * The standalone mode of a fake module (call with its import.meta.url): when that module is the
 * program, starts it with --port N (0) and --host H (127.0.0.1), prints `<portVar>=<port>` and
 * closes it on SIGTERM / SIGINT.
 */
export async function runIfMain(moduleUrl, start, portVar) {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const args = process.argv.slice(2);
  const get = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const fake = await start({ port: get('--port') ? Number(get('--port')) : 0, host: get('--host') ?? '127.0.0.1' });
  process.stdout.write(`${portVar}=${fake.port}\n`);
  const stop = async () => {
    await fake.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// Helpers for the routing / per-key limits tests (issue 5): a tiny always-failing upstream, a
// local upstream that goes silent mid-stream, a paced request pool, client-key creation through
// the admin API, rate-limit window helpers and budget arithmetic from the price table.
//
// Used by tests/integration/limits.test.mjs and tests/reliability/{error_storm,hang_drop,
// churn_budget}.test.mjs. Not a test file itself.

import http from 'node:http';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './clove.mjs';
import { buildStreamEvents, frameEvent, parseScenario } from '../fake_upstream/server.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

const ERROR_TYPES = {
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (failing upstream)'],
  500: ['api_error', 'Internal server error (failing upstream)'],
  502: ['api_error', 'Bad gateway (failing upstream)'],
  503: ['api_error', 'Service unavailable (failing upstream)'],
  529: ['overloaded_error', 'Overloaded (failing upstream)'],
};

function trackSockets(server) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address().port;
}

/**
 * An upstream that answers every request with an Anthropic error (default 529). mode is mutable:
 * {status, retryAfter (string|null: the retry-after header), extraHeaders}. Every answer is
 * remembered by its request-id so a test can compare what the client got byte for byte.
 * Returns {url, port, mode, hits (count of answered requests), responses: Map(request-id →
 * {status, headers, body}), reset(), close()}.
 */
export async function startErrorUpstream(mode = {}) {
  const st = {
    mode: { status: 529, retryAfter: null, extraHeaders: {}, ...mode },
    hits: 0,
    paths: {},
    responses: new Map(),
  };
  let seq = 0;
  const server = http.createServer({ keepAliveTimeout: 60000 });
  const sockets = trackSockets(server);
  server.on('request', (req, res) => {
    req.resume();
    req.on('end', () => {
      st.hits++;
      const u = new URL(req.url, 'http://x');
      st.paths[u.pathname] = (st.paths[u.pathname] || 0) + 1;
      const { status, retryAfter, extraHeaders } = st.mode;
      const [type, message] = ERROR_TYPES[status] || ['api_error', `Error ${status} (failing upstream)`];
      const rid = `req_failing_${++seq}_${crypto.randomBytes(6).toString('hex')}`;
      const body = JSON.stringify({ type: 'error', error: { type, message }, request_id: rid });
      const headers = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'request-id': rid,
        'x-should-retry': 'true',
        ...(retryAfter !== null && retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
        ...extraHeaders,
      };
      st.responses.set(rid, { status, headers, body });
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  const port = await listen(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return st.mode;
    },
    set mode(m) {
      st.mode = { status: 529, retryAfter: null, extraHeaders: {}, ...m };
    },
    get hits() {
      return st.hits;
    },
    get messagesHits() {
      return st.paths['/v1/messages'] || 0;
    },
    responses: st.responses,
    reset() {
      st.hits = 0;
      st.paths = {};
      st.responses.clear();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * A streaming upstream that goes silent mid-stream. Directives in x-fake-scenario:
 *   silence_after:N  events sent before the silence (default 3)
 *   silence:MS       length of the silence, then the rest of the stream; `forever` = never resumes
 * Non-stream requests get a plain error 400. Records each request: {scenario, sent: [{event,
 * data, at}], closedAt (the upstream connection went away), finished}.
 */
export async function startSilentUpstream() {
  const requests = [];
  const server = http.createServer({ keepAliveTimeout: 60000 });
  const sockets = trackSockets(server);
  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      let json;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = null;
      }
      const sc = parseScenario(req.headers['x-fake-scenario']);
      const rec = { scenario: sc, sent: [], closedAt: null, finished: false, receivedAt: Date.now() };
      requests.push(rec);
      res.on('close', () => {
        rec.closedAt = Date.now();
      });
      if (!json || !json.stream) {
        const b = JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'stream only' } });
        res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
        res.end(b);
        return;
      }
      const events = buildStreamEvents({ ...sc, no_cache: true }, body, json);
      const after = sc.silence_after !== undefined ? Number(sc.silence_after) : 3;
      const silence = sc.silence === 'forever' ? Infinity : Number(sc.silence ?? 2000);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'request-id': `req_silent_${requests.length}`,
      });
      res.flushHeaders();
      for (let i = 0; i < events.length; i++) {
        if (i === after) {
          if (silence === Infinity) return; // stays open until the other side closes it
          await sleep(silence);
        }
        if (res.destroyed || rec.closedAt) return;
        const f = frameEvent(events[i]);
        rec.sent.push({ event: events[i].event, data: JSON.stringify(events[i].data), at: Date.now() });
        res.write(f);
      }
      rec.finished = true;
      res.end();
    });
  });
  const port = await listen(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * Starts `node tests/fake_upstream/server.mjs --port 0` as its own process (so it can be
 * SIGSTOPped). Returns {pid, port, url, stop()}; stop() continues and terminates that process only.
 */
export async function spawnFakeUpstreamProcess() {
  const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'tests/fake_upstream/server.mjs'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`fake upstream process printed no port: ${out}`)), 10000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /FAKE_UPSTREAM_PORT=(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`fake upstream process exited (${code}) before printing its port: ${out}`));
    });
  });
  proc.stderr.resume();
  const exited = new Promise((r) => proc.on('exit', r));
  process.on('exit', () => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  });
  return {
    pid: proc.pid,
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try {
        process.kill(proc.pid, 'SIGCONT');
        process.kill(proc.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          proc.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Runs fn(i) for i in [0, n) with at most `concurrency` in flight; when intervalMs > 0, request
 * i does not start before i × intervalMs (an open-loop pace, capped by the concurrency).
 * Resolves to the array of results (a thrown error becomes {error}).
 */
export async function runPool(n, concurrency, fn, { intervalMs = 0 } = {}) {
  const results = new Array(n);
  let next = 0;
  const t0 = now();
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      if (intervalMs > 0) {
        const due = t0 + i * intervalMs - now();
        if (due > 0) await sleep(due);
      }
      try {
        results[i] = await fn(i);
      } catch (err) {
        results[i] = { error: err };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}

/** Creates a client key through the admin API; returns the key object (with .key, shown once). */
export async function createKey(env, body) {
  const r = await env.api('POST', '/keys', body);
  assert.equal(r.status, 201, `POST /admin/api/keys ${JSON.stringify(body)} → ${r.status} ${r.text}`);
  assert.ok(r.json && typeof r.json.key === 'string', `no key in ${r.text}`);
  return r.json;
}

/** POST /v1/messages through the data plane. o: {key, model, stream, scenario, text, maxTokens, timeoutMs}. */
export function messagesBody({ model = 'claude-sonnet-4-5', stream = false, text = 'hi', maxTokens = 32 } = {}) {
  return JSON.stringify({ model, max_tokens: maxTokens, messages: [{ role: 'user', content: text }], ...(stream ? { stream: true } : {}) });
}

/** Parses a JSON error body; null when it is not one. */
export function errorOf(res) {
  try {
    const j = JSON.parse(res.text);
    return j && j.type === 'error' && j.error ? j.error : null;
  } catch {
    return null;
  }
}

/** Milliseconds until a rate-limit window resets, from a response's headers (null when unknown). */
export function resetInMs(headers, family = 'requests') {
  const v = headers[`anthropic-ratelimit-${family}-reset`];
  if (v !== undefined) {
    if (/^\d+(\.\d+)?$/.test(String(v))) return Number(v) * 1000;
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t - Date.now();
  }
  const ra = headers['retry-after'];
  if (ra !== undefined && /^\d+$/.test(String(ra))) return Number(ra) * 1000;
  return null;
}

/** The reset header value (a window's identity), rounded to the second. */
export function windowId(headers, family = 'requests') {
  const v = headers[`anthropic-ratelimit-${family}-reset`];
  if (v === undefined) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? String(v) : Math.round(t / 1000);
}

/**
 * Makes sure the current rate-limit minute of Clove has at least minLeftMs left: asks with a
 * probe key (rpm high) and, when the window is about to reset, waits for the next one.
 * Returns {waitedMs, leftMs}.
 */
export async function ensureWindowLeft(env, probe, minLeftMs = 12000) {
  const ask = async () => {
    const r = await env.raw('POST', '/v1/messages', messagesBody(), {
      key: probe.key,
      headers: { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    });
    assert.equal(r.status, 200, `probe request: ${r.status} ${r.text}`);
    return resetInMs(r.headers);
  };
  let left = await ask();
  if (left === null) {
    // no header: fall back to the wall clock's minute
    left = 60000 - (Date.now() % 60000);
  }
  if (left >= minLeftMs) return { waitedMs: 0, leftMs: left };
  await sleep(left + 300);
  const again = await ask();
  return { waitedMs: left + 300, leftMs: again ?? 60000 - (Date.now() % 60000) };
}

// ---------------------------------------------------------------------------------------------
// Budget arithmetic.

function globRe(glob) {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
const wildcards = (g) => (g.match(/[*?]/g) || []).length;

/** Most specific matching price pattern (most literal characters, then fewest wildcards, custom first). */
export function pickPrice(prices, model) {
  return (
    prices
      .filter((p) => globRe(p.model).test(model))
      .sort(
        (a, b) =>
          b.model.length - wildcards(b.model) - (a.model.length - wildcards(a.model)) ||
          wildcards(a.model) - wildcards(b.model) ||
          (a.source === 'custom' ? -1 : 0) - (b.source === 'custom' ? -1 : 0),
      )[0] ?? null
  );
}

/**
 * Budget plan for "a budget that fits `fit` requests": requests with max_tokens `maxTokens`, a
 * fake scenario whose real output equals max_tokens (deltas d: output = 7 + 3d) and no prompt
 * cache, so the real cost is the reservation's output part plus the (small) real input.
 * Reservation r of one request ∈ [outCost + realIn, outCost + inMax] where inMax prices every body
 * byte as one input token at the dearest input-side rate (any sane estimate is below that). budget = fit × (outCost + inMax) +
 * outCost / 2, so `fit` reservations always fit and `fit + 1` never do, also after settling.
 */
export function budgetPlan(price, { fit = 5, maxTokens = 1000, text = 'budget race' } = {}) {
  const deltas = Math.round((maxTokens - 7) / 3);
  const realOutput = 7 + 3 * deltas;
  assert.ok(realOutput <= maxTokens, 'scenario output exceeds max_tokens');
  const body = (stream) => messagesBody({ maxTokens, text, stream });
  const bodyBytes = Math.max(Buffer.byteLength(body(false)), Buffer.byteLength(body(true)));
  const outCost = (maxTokens * price.output) / 1e6;
  // every body byte as one input token at the dearest input-side rate (a cache write may cost more)
  const inRate = Math.max(price.input, price.cache_write_5m ?? 0, price.cache_write_1h ?? 0);
  const inMax = (bodyBytes * inRate) / 1e6;
  assert.ok(outCost > 2 * fit * inMax, `max_tokens ${maxTokens} too small against a ${bodyBytes}-byte body for a sharp budget`);
  const maxCost = outCost + inMax; // one request's worst-case cost (as reserved)
  const budget = fit * maxCost + outCost / 2;
  return { deltas, realOutput, maxTokens, text, body, bodyBytes, outCost, inMax, maxCost, budget, scenario: `deltas:${deltas},no_cache` };
}

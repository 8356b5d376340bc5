// Raw HTTP helpers built on node:http, for what fetch cannot do (repeated header lines,
// hop-by-hop headers, chunked request bodies, timing of each SSE event, unclean stream ends).

import http from 'node:http';
import { SseParser } from './sse.mjs';

/** Keep-alive agent; its idle sockets do not keep the process alive. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One request. headers: an object (array values become repeated lines) or a flat raw array
 * [name, value, name, value...]. body: string | Buffer | undefined. chunked: send the body with
 * Transfer-Encoding: chunked (in a few pieces) instead of Content-Length. localAddress: source
 * address to connect from (any 127.x.y.z works on Linux loopback; used to give each test its own
 * client address for per-address limits).
 * Resolves {status, statusMessage, headers, rawHeaders, body (Buffer), text, json(), complete, error,
 *           events (SSE, each with .at ms since the request was sent), firstByteAt, endAt}.
 */
export function request(url, opts = {}) {
  const u = new URL(url);
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  let body = opts.body;
  if (body !== undefined && !Buffer.isBuffer(body)) body = Buffer.from(String(body));
  let headers = opts.headers ?? {};
  const isRaw = Array.isArray(headers);
  if (!isRaw) headers = { ...headers };
  const hasHeader = (name) =>
    isRaw
      ? headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === name)
      : Object.keys(headers).some((k) => k.toLowerCase() === name);
  // node only adds Host by itself for object headers
  if (isRaw && !hasHeader('host')) headers = ['Host', u.host, ...headers];
  else if (isRaw) headers = [...headers];
  if (body !== undefined && !opts.chunked && !hasHeader('content-length')) {
    if (isRaw) headers.push('content-length', String(body.length));
    else headers['content-length'] = String(body.length);
  }
  if (body !== undefined && opts.chunked && !hasHeader('transfer-encoding')) {
    if (isRaw) headers.push('transfer-encoding', 'chunked');
    else headers['transfer-encoding'] = 'chunked';
  }
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        headers,
        agent: opts.agent ?? agent,
        signal: opts.signal,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        const chunks = [];
        const events = [];
        const parser = new SseParser();
        let firstByteAt = null;
        const result = {
          status: res.statusCode,
          statusMessage: res.statusMessage,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          startedAt: start,
          headersAt: Date.now() - start,
          events,
          complete: false,
          error: null,
        };
        res.on('data', (c) => {
          if (firstByteAt === null) firstByteAt = Date.now() - start;
          chunks.push(c);
          const now = Date.now();
          const at = now - start;
          for (const ev of parser.feed(c.toString('utf8'))) {
            ev.at = at; // ms since the request was sent
            ev.time = now; // absolute (Date.now())
            events.push(ev);
            if (opts.onEvent) opts.onEvent(ev, req, res);
          }
        });
        const finish = (err) => {
          if (result.done) return;
          result.done = true;
          result.complete = res.complete && !err;
          result.error = err || null;
          result.body = Buffer.concat(chunks);
          result.text = result.body.toString('utf8');
          result.firstByteAt = firstByteAt;
          result.endAt = Date.now() - start;
          result.sseRest = parser.rest();
          result.json = () => JSON.parse(result.text);
          resolve(result);
        };
        res.on('end', () => finish(null));
        res.on('error', (err) => finish(err));
        res.on('close', () => finish(res.complete ? null : new Error('response closed before its end')));
      },
    );
    req.on('error', reject);
    if (opts.timeoutMs) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
    }
    if (body !== undefined) {
      if (opts.chunked) {
        const n = 3;
        const size = Math.ceil(body.length / n) || 1;
        for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
      } else req.write(body);
    }
    req.end();
  });
}

/** Header lines (lower-cased names) of a rawHeaders array, for a given name. */
export function headerLines(rawHeaders, name) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]);
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls pred() until truthy or timeout; returns the truthy value or throws. */
export async function waitFor(pred, { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

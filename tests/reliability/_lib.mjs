// Shared helpers for the reliability suite (tests/reliability/*.test.mjs).
// Raw-socket exchanges, a minimal HTTP/1.1 response parser, /proc probes, SSE reading and the
// per-row "N passed, M failed" tally. Not a test file itself (no .test. in the name).

import net from 'node:net';
import http from 'node:http';
import fs from 'node:fs';
import { test, after } from 'node:test';

export const CLIENT_KEY = 'ck-alice-123';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();
/** A sleep that does not keep the process alive (for Promise.race deadlines). */
export const deadline = (ms) => new Promise((r) => setTimeout(r, ms).unref());

// ---------------------------------------------------------------------------------------------
// Per-row tally: every check registered through row.check() counts as one pass or one fail, and
// the file prints "<row>: N passed, M failed" once all its tests have run.
export function makeRow(label) {
  const tally = { passed: 0, failed: 0, failures: [] };
  after(() => {
    console.log(`${label}: ${tally.passed} passed, ${tally.failed} failed`);
    for (const f of tally.failures) console.log(`  FAILED ${f}`);
  });
  return {
    tally,
    /** A node:test test whose outcome is counted in the row's tally. */
    check(name, fn, opts = {}) {
      return test(name, opts, async (t) => {
        try {
          await fn(t);
          tally.passed++;
        } catch (err) {
          tally.failed++;
          tally.failures.push(`${name}: ${String(err && err.message).split('\n')[0]}`);
          throw err;
        }
      });
    },
    /** Count a sub-result computed inside a bigger test (without a separate node:test test). */
    record(name, ok, detail = '') {
      if (ok) tally.passed++;
      else {
        tally.failed++;
        tally.failures.push(`${name}${detail ? ': ' + detail : ''}`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Raw socket exchange.
/**
 * Connects to 127.0.0.1:port, writes `parts` (strings are sent as latin1 so every byte is
 * exact; Buffers as is), all queued at once, or one after another with pauseMs between them
 * (then writing stops early once the server has answered), and collects everything the server
 * sends until it closes the connection or `timeoutMs` passes (re-armed per paused write).
 *
 * Returns {data, closed, how, error, tLastByte, tAllWritten, tFirstByte, tResponse, tClose,
 * bytesWritten, wroteAll}
 * where `closed` is true when the server closed (FIN or RST) before the timeout, and times are
 * performance.now() values.
 */
export function rawExchange(port, parts, { timeoutMs = 1500, pauseMs = 0, host = '127.0.0.1', untilResponse = false } = {}) {
  if (!Array.isArray(parts)) parts = [parts];
  const bufs = parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1')));
  return new Promise((resolve) => {
    const chunks = [];
    const r = {
      data: null,
      closed: false,
      how: null,
      error: null,
      tStart: now(),
      tLastByte: null,
      tFirstByte: null,
      tClose: null,
      tResponse: null,
      tAllWritten: null,
      bytesWritten: 0,
      wroteAll: false,
    };
    let done = false;
    let timer = null;
    let answered = false;
    const sock = net.connect({ port, host });
    sock.setNoDelay(true);
    const finish = (how) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      r.how = how;
      r.closed = how === 'end' || how === 'reset' || how === 'close';
      if (how === 'response') r.answeredBeforeClose = true;
      r.tClose = now();
      r.data = Buffer.concat(chunks);
      sock.destroy();
      resolve(r);
    };
    const armTimeout = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('timeout'), timeoutMs);
    };
    sock.on('data', (d) => {
      if (r.tFirstByte === null) r.tFirstByte = now();
      answered = true;
      chunks.push(d);
      if (r.tResponse === null && firstResponseComplete(Buffer.concat(chunks))) {
        r.tResponse = now();
        if (untilResponse) finish('response');
      }
    });
    sock.on('end', () => finish('end'));
    sock.on('error', (err) => {
      r.error = err.code || err.message;
      if (['ECONNRESET', 'EPIPE'].includes(err.code)) finish('reset');
      else finish('error');
    });
    sock.on('close', () => finish('close'));
    const total = bufs.reduce((a, b) => a + b.length, 0);
    const wrote = (n) => {
      r.bytesWritten += n;
      r.tLastByte = now();
      if (r.bytesWritten === total) {
        r.wroteAll = true;
        r.tAllWritten = r.tLastByte;
        if (!done) armTimeout();
      }
    };
    sock.on('connect', async () => {
      armTimeout();
      if (!pauseMs) {
        // Queue everything at once: libuv then writes from its poll loop, where it reads before it
        // writes, so a response followed by an RST (server closing with unread input) is never
        // lost to a synchronous write failing first.
        sock.cork();
        for (const b of bufs) sock.write(b, (err) => !err && wrote(b.length));
        sock.uncork();
        return;
      }
      for (let i = 0; i < bufs.length; i++) {
        if (done || answered) break;
        await new Promise((res) => {
          sock.write(bufs[i], (err) => {
            if (!err) wrote(bufs[i].length);
            res();
          });
        });
        armTimeout();
        if (i + 1 < bufs.length) await sleep(pauseMs);
      }
    });
  });
}

/** ms from the last request byte to the complete response; 0 when it came before the last byte. */
export function latencyAfterLastByte(r) {
  if (r.tResponse === null) return null;
  if (r.tAllWritten === null || r.tResponse < r.tAllWritten) return 0;
  return r.tResponse - r.tAllWritten;
}

/** True when `data` holds at least one complete response framed by Content-Length or chunked. */
export function firstResponseComplete(data) {
  const he = data.indexOf('\r\n\r\n', 0, 'latin1');
  if (he < 0) return false;
  const head = data.subarray(0, he).toString('latin1');
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (m) return data.length >= he + 4 + Number(m[1]);
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return data.indexOf('\r\n0\r\n\r\n', he, 'latin1') >= 0;
  return false;
}

/** Parses consecutive HTTP/1.x responses out of raw bytes. Returns [{status, reason, headers, body}]. */
export function parseResponses(data) {
  const out = [];
  let off = 0;
  while (off < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', off, 'latin1');
    if (headEnd < 0) {
      out.push({ status: null, partial: data.subarray(off).toString('latin1') });
      break;
    }
    const head = data.subarray(off, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) {
      out.push({ status: null, partial: data.subarray(off).toString('latin1') });
      break;
    }
    const headers = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c < 0) continue;
      const k = l.slice(0, c).trim().toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    let p = headEnd + 4;
    let body;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(p, p + n);
      p += n;
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      for (;;) {
        const le = data.indexOf('\r\n', p, 'latin1');
        if (le < 0) {
          p = data.length;
          break;
        }
        const size = parseInt(data.subarray(p, le).toString('latin1'), 16);
        p = le + 2;
        if (!size) {
          const te = data.indexOf('\r\n\r\n', p - 2, 'latin1');
          p = te < 0 ? data.length : te + 4;
          break;
        }
        parts.push(data.subarray(p, p + size));
        p += size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = data.subarray(p);
      p = data.length;
    }
    out.push({ status: Number(m[1]), reason: m[2] || '', headers, body });
    off = p;
  }
  return out;
}

/** Checks an Anthropic error body; returns null when fine, else a reason string. */
export function anthropicErrorProblem(body, headers = {}, wantType = null) {
  let j;
  try {
    j = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : body);
  } catch {
    return `body is not JSON: ${JSON.stringify(String(body).slice(0, 120))}`;
  }
  if (!j || j.type !== 'error' || !j.error || typeof j.error.type !== 'string' || typeof j.error.message !== 'string') {
    return `not an Anthropic error object: ${JSON.stringify(j).slice(0, 160)}`;
  }
  if (wantType && j.error.type !== wantType) return `error.type ${j.error.type}, want ${wantType}`;
  const ct = headers['content-type'] || '';
  if (!/^application\/json/i.test(ct)) return `content-type ${JSON.stringify(ct)}`;
  return null;
}

export function printable(buf, max = 600) {
  const s = (Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf), 'latin1')).toString('latin1');
  const t = s.length > max ? s.slice(0, max) + `…(+${s.length - max} bytes)` : s;
  return JSON.stringify(t);
}

// ---------------------------------------------------------------------------------------------
// /proc probes (Linux).
export function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

export function procStatus(pid) {
  const txt = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(txt);
    return m ? Number(m[1]) * 1024 : null;
  };
  return { vmHWM: kb('VmHWM'), vmRSS: kb('VmRSS'), threads: Number((/^Threads:\s+(\d+)/m.exec(txt) || [])[1]) };
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, same user). */
export function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs whose parent is `pid` (from /proc/PID/stat). */
export function childPids(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Sends `signal` to a process and its direct children (e.g. a postmaster and its backends, which
 * each run in their own session, so a process-group signal misses them). The parent is signalled
 * first, so after SIGSTOP it cannot fork a child the scan misses. Returns the PIDs signalled
 * (pass them to signalPids to undo, e.g. SIGCONT).
 */
export function signalProcessTree(pid, signal) {
  const done = [];
  try {
    process.kill(pid, signal);
    done.push(pid);
  } catch {
    return done;
  }
  for (const c of childPids(pid)) {
    try {
      process.kill(c, signal);
      done.push(c);
    } catch {
      /* gone */
    }
  }
  return done;
}

/** Sends `signal` to each PID (children first, the first PID last); ignores PIDs that are gone. */
export function signalPids(pids, signal) {
  for (const p of [...pids].reverse()) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

/** Polls fn() every `everyMs` until it returns truthy or `timeoutMs` passes; returns the last value. */
export async function waitFor(fn, timeoutMs, everyMs = 10) {
  const end = now() + timeoutMs;
  let v = await fn();
  while (!v && now() < end) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Request builders.
export const MESSAGE_BODY = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

/** A normal POST /v1/messages head (without framing headers and without the final blank line). */
export function messagesHead({ version = 'HTTP/1.1', host = '127.0.0.1', extra = [] } = {}) {
  const lines = [
    `POST /v1/messages ${version}`,
    ...(host === null ? [] : [`Host: ${host}`]),
    `x-api-key: ${CLIENT_KEY}`,
    'anthropic-version: 2023-06-01',
    'content-type: application/json',
    ...extra,
  ];
  return lines.join('\r\n') + '\r\n';
}

export function chunked(body, size = 16) {
  let s = '';
  for (let i = 0; i < body.length; i += size) {
    const piece = body.slice(i, i + size);
    s += Buffer.byteLength(piece, 'latin1').toString(16) + '\r\n' + piece + '\r\n';
  }
  return s + '0\r\n\r\n';
}

// ---------------------------------------------------------------------------------------------
// Streaming client (node:http) that parses SSE events as they arrive.
/**
 * Starts a streaming POST /v1/messages. Returns an object with a `done` promise resolving to
 * {status, events:[{event,data}], ended, error, tEnd}. `onEvent(ev, ctl)` is called per event;
 * ctl.cut() destroys the socket (a client going away).
 */
export function streamRequest(port, { scenario, agent, body, onEvent, onResponse, headers = {} } = {}) {
  const payload =
    body ||
    JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const st = { status: null, events: [], ended: false, error: null, tEnd: null, tFirstByte: null, cutAt: null, raw: '' };
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    st.tEnd = now();
    resolveDone(st);
  };
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/messages',
    agent: agent ?? false,
    headers: {
      'content-type': 'application/json',
      'x-api-key': CLIENT_KEY,
      'anthropic-version': '2023-06-01',
      'content-length': Buffer.byteLength(payload),
      ...(scenario ? { 'x-fake-scenario': scenario } : {}),
      ...headers,
    },
  });
  const ctl = {
    req,
    cut() {
      if (st.cutAt === null) st.cutAt = now();
      req.destroy();
      finish();
    },
  };
  req.on('error', (e) => {
    st.error = st.error || e.code || e.message;
    finish();
  });
  req.on('response', (res) => {
    st.status = res.statusCode;
    st.headers = res.headers;
    if (onResponse) onResponse(res, ctl);
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (d) => {
      if (st.tFirstByte === null) st.tFirstByte = now();
      if (st.raw.length < 4096) st.raw += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = null;
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        const ev = { event, data };
        st.events.push(ev);
        if (onEvent && !finished) onEvent(ev, ctl);
      }
    });
    res.on('end', () => {
      st.ended = true;
      finish();
    });
    res.on('error', (e) => {
      st.error = st.error || e.code || e.message;
    });
    res.on('close', () => finish());
  });
  req.end(payload);
  return { ...ctl, st, done };
}

/** Opens a keep-alive connection, completes one GET /health on it, and leaves it idle. */
export function idleKeepAlive(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const st = { sock, closedAt: null, how: null, answered: false, extra: '' };
    let buf = '';
    sock.on('connect', () => sock.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      if (st.answered) {
        st.extra += d;
        return;
      }
      buf += d;
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.slice(0, he));
      const need = he + 4 + (m ? Number(m[1]) : 0);
      if (buf.length >= need) {
        st.answered = true;
        st.status = Number(buf.slice(9, 12));
        st.extra = buf.slice(need);
        resolve(st);
      }
    });
    const closed = (how) => {
      if (st.closedAt === null) {
        st.closedAt = now();
        st.how = how;
      }
      if (!st.answered) reject(new Error(`keep-alive connection closed before its answer (${how})`));
    };
    sock.on('end', () => closed('end'));
    sock.on('error', (e) => closed(e.code || 'error'));
    sock.on('close', () => closed('close'));
  });
}

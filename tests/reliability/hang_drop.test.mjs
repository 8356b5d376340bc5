// Row 7 — upstream hang and mid-stream death (chaos scenarios C2, C3, C4).
//
// C2: the fake upstream runs as its own process (node tests/fake_upstream/server.mjs --port 0)
//     and is frozen with SIGSTOP (the kernel still accepts connections into the backlog; nothing
//     answers). Upstream first_byte_timeout_ms 2000. With a healthy 2nd upstream: the request
//     fails over and succeeds within first_byte_timeout + 1 s. Alone: 10 concurrent requests
//     (5 JSON, 5 SSE) each get 504 timeout_error within first_byte_timeout + 1 s; after SIGCONT
//     Clove's fd count is back to its baseline ± 5.
// C3: a local upstream that goes silent after 3 SSE events (tests/lib/routing.mjs
//     startSilentUpstream); keepalive_interval_ms 500 (PATCH /admin/api/settings), upstream
//     stream_idle_timeout_ms 3000. A 2 s silence: the client gets `:` comments at most 500 ms
//     (+ 350 ms scheduling slack) apart, then the rest of the stream. An endless silence: the
//     same comments, then `event: error` at the idle timeout (3 s, + 1 s), no message_stop, the
//     upstream connection closed, a usage record written.
// C4: 200 concurrent streams with drop_after:N (N = 1..6; the fake destroys its socket after N
//     events): 200/200 clients get every event the upstream sent (same event names and data,
//     in order), then `event: error`, and no message_stop; fds back to baseline ± 5.

import http from 'node:http';
import assert from 'node:assert/strict';
import { startEnv, get, describeRes } from '../admin/_admin.mjs';
import { defaultConfig, UPSTREAM_KEY, CLIENT_KEY } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';
import { startSilentUpstream, spawnFakeUpstreamProcess, messagesBody, errorOf, sleep, now } from '../lib/routing.mjs';
import { makeRow, fdCount, waitFor, isAlive, streamRequest, deadline } from './_lib.mjs';

const row = makeRow('row 7 (upstream hang and mid-stream death)');
const FIRST_BYTE_TIMEOUT_MS = 2000;
const KEEPALIVE_MS = 500;
const KEEPALIVE_SLACK_MS = 350;
const IDLE_TIMEOUT_MS = 3000;
const DROP_STREAMS = Number(process.env.CLOVE_DROP_STREAMS || 200);
const FD_SLACK = 5;

/** One request on its own connection (agent: false), so no idle client keep-alive socket stays in Clove's fd count. */
function send(env, { stream = false, scenario } = {}) {
  const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-api-key': CLIENT_KEY };
  if (scenario) headers['x-fake-scenario'] = scenario;
  const t0 = now();
  return request(`${env.url}/v1/messages`, { headers, body: messagesBody({ stream }), agent: false, timeoutMs: 30000 }).then((r) => ({
    ...r,
    ms: now() - t0,
    stream,
  }));
}

async function fdsBackToBaseline(pid, baseline) {
  const series = [];
  const ok = await waitFor(
    () => {
      const n = isAlive(pid) ? fdCount(pid) : -1;
      series.push(n);
      return Math.abs(n - baseline) <= FD_SLACK;
    },
    3000,
    50,
  );
  return { ok, final: series[series.length - 1], max: Math.max(...series) };
}

// ---------------------------------------------------------------------------------------------
// C2

row.check(`C2: hung upstream (SIGSTOP) → failover within first_byte_timeout + 1 s; alone → 504 timeout_error within first_byte_timeout + 1 s; fds back to baseline`, async (t) => {
  const hung = await spawnFakeUpstreamProcess();
  t.after(() => hung.stop());
  const env = await startEnv(t, 'sqlite', {
    config: defaultConfig(hung.url, { upstream: { name: 'hung', first_byte_timeout_ms: FIRST_BYTE_TIMEOUT_MS } }),
  });
  // failures on the hung upstream must not make it skipped in this test: raise the threshold
  const s = await env.api('PATCH', '/settings', { failure_threshold: 100 });
  assert.equal(s.status, 200, describeRes(s));
  const ups = (await get(env, '/upstreams')).data;
  const hungUp = ups.find((u) => u.name === 'hung');
  assert.equal((await env.api('PATCH', `/upstreams/${hungUp.id}`, { priority: 10 })).status, 200);
  const h = await env.api('POST', '/upstreams', { name: 'healthy', base_url: env.fake.url, priority: 0, credentials: [UPSTREAM_KEY] });
  assert.equal(h.status, 201, describeRes(h));
  // warm-up through the (preferred) hung upstream while it still answers
  for (let i = 0; i < 3; i++) assert.equal((await send(env)).status, 200);
  assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'warm-up went to the preferred upstream');
  await sleep(200);
  const pid = env.clove.pid;
  const fdBaseline = fdCount(pid);

  process.kill(hung.pid, 'SIGSTOP');
  let continued = false;
  t.after(() => !continued && process.kill(hung.pid, 'SIGCONT'));
  const fo = [];
  for (const stream of [false, true]) {
    const r = await send(env, { stream });
    fo.push(Math.round(r.ms));
    assert.equal(r.status, 200, `failover (stream ${stream}): ${r.status} ${r.text}`);
    assert.ok(r.ms <= FIRST_BYTE_TIMEOUT_MS + 1000, `failover took ${Math.round(r.ms)} ms`);
  }
  assert.equal(env.fake.requestsTo('/v1/messages').length, 2, 'both served by the healthy upstream');

  // alone: the healthy upstream disabled
  assert.equal((await env.api('PATCH', `/upstreams/${h.json.id}`, { enabled: false })).status, 200);
  const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => send(env, { stream: i % 2 === 1 })));
  const problems = [];
  for (const r of rs) {
    const e = errorOf(r);
    if (r.status !== 504 || !e || e.type !== 'timeout_error') problems.push(`stream ${r.stream}: ${r.status} ${String(r.text).slice(0, 200)}`);
    else if (r.ms > FIRST_BYTE_TIMEOUT_MS + 1000) problems.push(`504 after ${Math.round(r.ms)} ms`);
    else if (r.ms < FIRST_BYTE_TIMEOUT_MS - 100) problems.push(`504 already after ${Math.round(r.ms)} ms`);
  }
  process.kill(hung.pid, 'SIGCONT');
  continued = true;
  const fds = await fdsBackToBaseline(pid, fdBaseline);
  const lat = rs.map((r) => Math.round(r.ms)).sort((a, b) => a - b);
  console.log(`row 7 measurements: ${JSON.stringify({ scenario: 'C2', failoverMs: fo, timeout504Ms: { min: lat[0], max: lat.at(-1) }, fd: { baseline: fdBaseline, ...fds } })}`);
  assert.deepEqual(problems, [], 'every request during the hang: 504 timeout_error within first_byte_timeout + 1 s');
  assert.ok(fds.ok, `fd count ${fds.final} (max ${fds.max}) vs baseline ${fdBaseline}`);
  // serving again
  assert.equal((await send(env)).status, 200, 'served again after SIGCONT');
});

// ---------------------------------------------------------------------------------------------
// C3

/** A streaming request that records every SSE frame (comments too) with its arrival time. */
function framedStream(url, scenario, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const body = messagesBody({ stream: true });
    const t0 = now();
    const out = { status: null, headers: null, frames: [], ended: false, error: null, endAt: null };
    const req = http.request(`${url}/v1/messages`, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-api-key': CLIENT_KEY,
        'x-fake-scenario': scenario,
        'content-length': Buffer.byteLength(body),
      },
    });
    const timer = setTimeout(() => {
      out.error = `no end within ${timeoutMs} ms`;
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      if (out.status === null) reject(e);
    });
    req.on('response', (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        const at = now() - t0;
        buf += d;
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
          const lines = raw.split(/\r?\n/);
          const comment = lines.every((l) => l.startsWith(':'));
          const ev = lines.find((l) => l.startsWith('event:'));
          const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
          out.frames.push({ at, raw, comment, event: ev ? ev.slice(6).trim() : null, data });
        }
      });
      const done = (how) => {
        clearTimeout(timer);
        if (out.endAt === null) out.endAt = now() - t0;
        out.ended = out.ended || how === 'end';
        resolve(out);
      };
      res.on('end', () => done('end'));
      res.on('close', () => done('close'));
      res.on('error', (e) => {
        out.error = out.error || e.message;
      });
    });
    req.end(body);
  });
}

/** Largest gap between consecutive frames arriving in [from, to] (both ends included). */
function maxGap(frames, from, to) {
  const times = frames.map((f) => f.at).filter((x) => x >= from && x <= to);
  let g = 0;
  for (let i = 1; i < times.length; i++) g = Math.max(g, times[i] - times[i - 1]);
  return Math.round(g);
}

let c3env = null;
let silent = null;
async function c3(t) {
  silent = await startSilentUpstream();
  t.after(() => silent.close());
  c3env = await startEnv(t, 'sqlite', { config: defaultConfig(silent.url, { upstream: { stream_idle_timeout_ms: IDLE_TIMEOUT_MS } }) });
  const s = await c3env.api('PATCH', '/settings', { keepalive_interval_ms: KEEPALIVE_MS });
  assert.equal(s.status, 200, describeRes(s));
  assert.equal(s.json.keepalive_interval_ms, KEEPALIVE_MS);
}

row.check(`C3: upstream silent 2 s mid-stream → keepalive comments ≤ ${KEEPALIVE_MS} ms (+${KEEPALIVE_SLACK_MS}) apart, then the rest of the stream`, async (t) => {
  await c3(t);
  const r = await framedStream(c3env.url, 'silence_after:3,silence:2000');
  assert.equal(r.status, 200);
  const rec = silent.requests.at(-1);
  const evs = r.frames.filter((f) => !f.comment);
  assert.deepEqual(
    evs.map((f) => [f.event, f.data]),
    rec.sent.map((s) => [s.event, s.data]),
    'the client got exactly the upstream events',
  );
  assert.equal(evs.at(-1)?.event, 'message_stop');
  const before = evs[2].at;
  const after = evs[3].at;
  const comments = r.frames.filter((f) => f.comment && f.at >= before && f.at <= after);
  const gap = maxGap(r.frames, before, after);
  console.log(`row 7 measurements: ${JSON.stringify({ scenario: 'C3 2 s silence', silenceMs: Math.round(after - before), keepalives: comments.length, maxGapMs: gap, commentText: comments[0]?.raw })}`);
  assert.ok(comments.length >= 2, `${comments.length} keepalive comments in a ${Math.round(after - before)} ms silence`);
  assert.ok(gap <= KEEPALIVE_MS + KEEPALIVE_SLACK_MS, `largest gap ${gap} ms`);
});

row.check(`C3: upstream silent for good → keepalives, then event: error at the stream idle timeout (${IDLE_TIMEOUT_MS} ms + 1 s), no message_stop, usage recorded`, async (t) => {
  await c3(t);
  const r = await framedStream(c3env.url, 'silence_after:3,silence:forever');
  assert.equal(r.status, 200);
  const evs = r.frames.filter((f) => !f.comment);
  const names = evs.map((f) => f.event);
  assert.ok(!names.includes('message_stop'), `no message_stop: ${names.join('|')}`);
  assert.equal(names.at(-1), 'error', `last event is error: ${names.join('|')} ${r.error ?? ''}`);
  const err = JSON.parse(evs.at(-1).data);
  assert.equal(err.type, 'error');
  assert.equal(typeof err.error?.type, 'string');
  assert.equal(evs.length, 4, `3 upstream events then the error: ${names.join('|')}`);
  const lastUp = evs[2].at;
  const errAt = evs[3].at;
  const idle = errAt - lastUp;
  const gap = maxGap(r.frames, lastUp, errAt);
  const comments = r.frames.filter((f) => f.comment).length;
  const rec = silent.requests.at(-1);
  await waitFor(() => rec.closedAt !== null, 1500, 20);
  console.log(`row 7 measurements: ${JSON.stringify({ scenario: 'C3 endless silence', errorAfterMs: Math.round(idle), keepalives: comments, maxGapMs: gap, errorType: err.error.type, endAfterErrorMs: Math.round(r.endAt - errAt), upstreamClosed: rec.closedAt !== null })}`);
  assert.ok(idle >= IDLE_TIMEOUT_MS - 200 && idle <= IDLE_TIMEOUT_MS + 1000, `error ${Math.round(idle)} ms after the last upstream event`);
  assert.ok(gap <= KEEPALIVE_MS + KEEPALIVE_SLACK_MS, `largest gap before the error ${gap} ms`);
  assert.ok(r.endAt - errAt <= 1000, 'the response ends right after the error event');
  assert.ok(rec.closedAt !== null, 'the silent upstream connection was closed');
  // usage record
  const id = r.headers['x-clove-request-id'];
  assert.ok(id, 'x-clove-request-id header');
  const found = await waitFor(async () => {
    const u = await c3env.api('GET', '/usage/requests?limit=50');
    return (u.json?.data ?? []).find((x) => x.request_id === id);
  }, 3000, 100);
  assert.ok(found, `usage record for ${id}`);
});

// ---------------------------------------------------------------------------------------------
// C4

row.check(`C4: ${DROP_STREAMS} streams dropped mid-stream → ${DROP_STREAMS}/${DROP_STREAMS} get every upstream event, then event: error, no message_stop; fds back to baseline`, async (t) => {
  const env = await startEnv(t, 'sqlite');
  const pid = env.clove.pid;
  for (let i = 0; i < 3; i++) {
    const w = await streamRequest(env.clove.port, { scenario: 'deltas:3' }).done;
    assert.equal(w.status, 200);
  }
  await sleep(200);
  const fdBaseline = fdCount(pid);
  env.fake.reset();
  const t0 = now();
  const clients = Array.from({ length: DROP_STREAMS }, (_, i) => {
    const c = streamRequest(env.clove.port, { scenario: `drop_after:${1 + (i % 6)},tag:d${i}` });
    c.tag = `d${i}`;
    return c;
  });
  await Promise.race([Promise.all(clients.map((c) => c.done)), deadline(20000)]);
  const wall = now() - t0;
  const byTag = new Map(env.fake.requests.filter((r) => r.scenario?.tag).map((r) => [r.scenario.tag, r]));
  const problems = [];
  let good = 0;
  for (const c of clients) {
    const st = c.st;
    const rec = byTag.get(c.tag);
    const evs = st.events.filter((e) => e.event !== null || e.data !== '');
    const p = [];
    if (!rec) p.push('never reached the upstream');
    else if (!rec.dropped) p.push('the fake did not drop it');
    if (st.status !== 200) p.push(`status ${st.status}`);
    if (!st.tEnd) p.push('client stream did not end');
    if (rec) {
      const sent = rec.sentFrames.map((f) => {
        const ev = /^event: (.*)$/m.exec(f)[1];
        const data = /^data: (.*)$/m.exec(f)[1];
        return `${ev} ${data}`;
      });
      const got = evs.slice(0, -1).map((e) => `${e.event} ${e.data}`);
      if (JSON.stringify(got) !== JSON.stringify(sent)) p.push(`events differ: got ${got.length} [${evs.map((e) => e.event).join('|')}], upstream sent ${sent.length}`);
    }
    if (evs.at(-1)?.event !== 'error') p.push(`last event ${evs.at(-1)?.event}`);
    if (evs.some((e) => e.event === 'message_stop')) p.push('message_stop present');
    if (p.length) problems.push(`${c.tag}: ${p.join('; ')}`);
    else good++;
  }
  const fds = await fdsBackToBaseline(pid, fdBaseline);
  console.log(`row 7 measurements: ${JSON.stringify({ scenario: 'C4', streams: DROP_STREAMS, good, wallMs: Math.round(wall), fd: { baseline: fdBaseline, ...fds } })}`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} of ${DROP_STREAMS} streams wrong`);
  assert.ok(fds.ok, `fd count ${fds.final} (max ${fds.max}) vs baseline ${fdBaseline}`);
  const after = await streamRequest(env.clove.port, { scenario: 'deltas:3' }).done;
  assert.ok(after.events.some((e) => e.event === 'message_stop'), 'serving again');
});

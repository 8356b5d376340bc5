// SSE relay: event by event (no buffering), unchanged, drops and aborts handled.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { useCloveWithFake, clientHeaders } from '../lib/clove.mjs';
import { request, waitFor } from '../lib/http.mjs';
import { grammarProblems } from '../lib/sse.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach });
const SBODY = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'hi' }] });
const post = (scenario, opts = {}) =>
  request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders(scenario ? { 'x-fake-scenario': scenario } : {}), body: SBODY, ...opts });

test('stream is relayed unchanged, with SSE headers', async () => {
  const r = await post('thinking,tool_use,deltas:5');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.deepEqual(grammarProblems(r.events), []);
  const up = ctx.fake.requests[0];
  assert.equal(r.text, up.sentFrames.join(''), 'SSE body relayed byte for byte');
  assert.ok(r.complete);
});

test('events are relayed as they come: first event before the upstream finishes (interval:500)', async () => {
  const r = await post('interval:500,deltas:3');
  assert.equal(r.status, 200);
  const up = ctx.fake.requests[0];
  assert.equal(r.events.length, up.sentFrames.length);
  const total = up.sentAt.at(-1) - up.sentAt[0];
  assert.ok(total >= 3500, `upstream took ${total} ms`);
  assert.ok(r.events[0].at < 1500, `first event reached the client after ${r.events[0].at} ms`);
  // every event reaches the client soon after the upstream sent it
  for (let i = 0; i < r.events.length; i++) {
    const lag = r.events[i].time - up.sentAt[i];
    assert.ok(lag < 400, `event ${i} (${r.events[i].event}) arrived ${lag} ms after the upstream sent it`);
  }
  assert.equal(r.text, up.sentFrames.join(''));
});

test('a drop mid-stream: all events sent, then event: error, no message_stop', async () => {
  const r = await post('drop_after:5,deltas:4');
  assert.equal(r.status, 200);
  const up = ctx.fake.requests[0];
  assert.equal(up.sentFrames.length, 5);
  const names = r.events.map((e) => e.event);
  assert.deepEqual(
    r.events.slice(0, 5).map((e) => e.raw + '\n\n'),
    up.sentFrames,
    'the events sent before the drop arrive unchanged',
  );
  assert.equal(names.length, 6, `events: ${names.join(', ')}`);
  assert.equal(names[5], 'error');
  assert.equal(r.events[5].json?.type, 'error');
  assert.equal(r.events[5].json?.error?.type, 'api_error');
  assert.equal(typeof r.events[5].json?.error?.message, 'string');
  assert.ok(!names.includes('message_stop'));
  assert.ok(r.complete, `the client response should end cleanly after the error event (${r.error && r.error.message})`);
});

test('a drop right after the head (no event at all) still yields an error event', async () => {
  const r = await post('drop_after:0');
  if (r.status === 200) {
    const names = r.events.map((e) => e.event);
    assert.deepEqual(names, ['error'], `events: ${names}`);
    assert.equal(r.events[0].json?.error?.type, 'api_error');
  } else {
    // Clove may still turn it into an error status since nothing was relayed yet
    assert.ok(r.status >= 500, `status ${r.status}`);
    assert.equal(JSON.parse(r.text).type, 'error');
  }
});

test('a Content-Length framed upstream stream is relayed in full', async () => {
  const r = await post('content_length,deltas:7,interval:5');
  assert.equal(r.status, 200);
  const up = ctx.fake.requests[0];
  assert.equal(r.text, up.sentFrames.join(''));
  assert.deepEqual(grammarProblems(r.events), []);
});

test('a long stream (2000 deltas) is relayed completely', async () => {
  const r = await post('deltas:2000');
  assert.equal(r.status, 200);
  const up = ctx.fake.requests[0];
  assert.equal(r.events.length, up.sentFrames.length);
  assert.equal(r.text, up.sentFrames.join(''));
});

test('client disconnect mid-stream aborts the upstream request within 1 s', async () => {
  const ac = new AbortController();
  let abortedAt = null;
  const p = post('interval:200,deltas:40', {
    signal: ac.signal,
    onEvent: (ev) => {
      if (ev.event === 'content_block_delta' && abortedAt === null) {
        abortedAt = Date.now();
        ac.abort();
      }
    },
  }).catch((e) => e);
  await p;
  assert.ok(abortedAt, 'a delta arrived');
  const up = ctx.fake.requests[0];
  await waitFor(() => up.aborted, { timeoutMs: 1500, what: 'upstream aborted' });
  assert.ok(up.abortedAt - abortedAt <= 1000, `upstream aborted ${up.abortedAt - abortedAt} ms after the client left`);
});

test('client disconnect before the upstream answered (hang) aborts the upstream request within 1 s', async () => {
  const ac = new AbortController();
  const p = post('hang', { signal: ac.signal }).catch((e) => e);
  await waitFor(() => ctx.fake.requests.length === 1 && ctx.fake.requests[0].body, { timeoutMs: 3000, what: 'upstream request' });
  const t0 = Date.now();
  ac.abort();
  await p;
  const up = ctx.fake.requests[0];
  await waitFor(() => up.aborted, { timeoutMs: 1500, what: 'upstream aborted' });
  assert.ok(up.abortedAt - t0 <= 1000, `upstream aborted ${up.abortedAt - t0} ms after the client left`);
});

test('after drops and aborts, later requests succeed and no upstream request is left open', async () => {
  await post('drop_after:3');
  const ac = new AbortController();
  await post('interval:100,deltas:20', {
    signal: ac.signal,
    onEvent: (ev) => ev.event === 'content_block_delta' && ac.abort(),
  }).catch(() => {});
  for (let i = 0; i < 6; i++) {
    const r = await post(i % 2 ? 'deltas:2' : undefined);
    assert.equal(r.status, 200, `request ${i} after a drop: ${r.status} ${r.text.slice(0, 300)}`);
    assert.equal(r.events.at(-1)?.event, 'message_stop', `request ${i} after a drop did not complete`);
  }
  await waitFor(() => ctx.fake.stats.inflight === 0, { timeoutMs: 1500, what: 'no upstream request in flight' });
});

test('JSON request is not turned into SSE', async () => {
  const raw = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  const r = await request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders(), body: raw });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(r.text, ctx.fake.requests[0].responseBody);
});

test('50 concurrent streams all complete intact', async () => {
  const rs = await Promise.all(Array.from({ length: 50 }, () => post('interval:10,deltas:10')));
  for (const r of rs) {
    assert.equal(r.status, 200);
    assert.deepEqual(grammarProblems(r.events), []);
  }
  assert.equal(ctx.fake.requests.length, 50);
  for (const up of ctx.fake.requests) assert.ok(up.completed);
});

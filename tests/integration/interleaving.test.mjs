// Requests that share a worker interleave at every await: nothing per request may live in
// per-worker scratch state. Regression: the client response head of an SSE stream whose first
// event came in a later read than the upstream head was kept in a per-worker buffer, so a JSON
// request answered meanwhile on the same worker replaced it (the client then read a JSON head with
// a content-length followed by chunked SSE bytes).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { useCloveWithFake, clientHeaders } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';
import { grammarProblems } from '../lib/sse.mjs';

const ctx = useCloveWithFake({ before, after, beforeEach }, { server: { workers: 1 } });
const body = (stream) =>
  JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, ...(stream ? { stream: true } : {}), messages: [{ role: 'user', content: 'hi' }] });

test('a stream whose first event arrives after its head keeps its own head while other requests are answered', async () => {
  const streams = [];
  for (let i = 0; i < 4; i++) {
    streams.push(
      request(`${ctx.clove.url}/v1/messages`, {
        headers: clientHeaders({ 'x-fake-scenario': 'first_event_delay:400,deltas:2' }),
        body: body(true),
      }),
    );
  }
  // While the streams wait for their first event, JSON answers go out on the same worker.
  await new Promise((r) => setTimeout(r, 150));
  const jsons = await Promise.all(
    Array.from({ length: 8 }, () =>
      request(`${ctx.clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'deltas:1' }), body: body(false) }),
    ),
  );
  for (const j of jsons) {
    assert.equal(j.status, 200);
    assert.match(j.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(JSON.parse(j.text).type, 'message');
  }
  for (const s of await Promise.all(streams)) {
    assert.equal(s.status, 200, s.error ? String(s.error) : s.text.slice(0, 200));
    assert.match(s.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.equal(s.headers['content-length'], undefined);
    assert.deepEqual(grammarProblems(s.events), []);
    assert.ok(s.complete);
    assert.equal(s.events.at(-1).event, 'message_stop');
  }
});

// Row 11 — drain on SIGTERM (chaos scenario C8).
//
// 500 concurrent streaming requests, each lasting CLOVE_DRAIN_STREAM_MS (default 5000 ms for CI;
// the goal table's full run uses 20 s: CLOVE_DRAIN_STREAM_MS=20000), plus 20 idle keep-alive
// connections (each completed one GET /health and then sits idle). Once every stream is in
// flight and half its duration has passed, the test sends SIGTERM to Clove. Pass line:
//   * new connections are refused (ECONNREFUSED) within 100 ms of the signal: a probe connection
//     is started every 5 ms for 400 ms; the first refusal must come ≤ 100 ms after the signal and
//     no probe started later than 100 ms after the signal may be served;
//   * every idle keep-alive connection is closed by Clove "at once": ≤ 200 ms after the signal
//     (measured by the client, so it includes the test's own event-loop lag), and none before it;
//   * 500/500 streams end cleanly (status 200, complete body) with `message_stop` and no `error`
//     event;
//   * Clove exits with code 0 within duration + 2 s, counted from the moment the last stream
//     received its first event (all upstream streams run from about then).
// Clove is started through `sh -c 'ulimit -n 20000; exec clove …'` (tests/reliability/_spawn.mjs).

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { makeRow, streamRequest, idleKeepAlive, sleep, deadline, now, waitFor } from './_lib.mjs';
import { startCloveWithNofile, nofileLimit } from './_spawn.mjs';

const row = makeRow('row 11 (drain on SIGTERM)');
const STREAMS = Number(process.env.CLOVE_DRAIN_STREAMS || 500);
const IDLE = 20;
const DURATION_MS = Number(process.env.CLOVE_DRAIN_STREAM_MS || 5000);
const INTERVAL_MS = 100;
// a stream is message_start, content_block_start, ping, N deltas, content_block_stop,
// message_delta, message_stop: N + 6 events, one every INTERVAL_MS after the first.
const DELTAS = Math.max(1, Math.round(DURATION_MS / INTERVAL_MS) - 5);
const REFUSE_WITHIN_MS = 100;
const IDLE_CLOSE_WITHIN_MS = 200;
const EXIT_SLACK_MS = 2000;

let fake;
let clove;
let run = null;
let runError = null;

before(async () => {
  fake = await startFakeUpstream();
  clove = await startCloveWithNofile({ fakeUrl: fake.url });
  try {
    run = await scenario();
  } catch (err) {
    runError = err;
  }
});
after(async () => {
  if (clove) await clove.stop('SIGKILL', 1000);
  if (fake) await fake.close();
});

function probe(port) {
  return new Promise((resolve) => {
    const p = { start: now(), outcome: null, at: null };
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const end = (outcome) => {
      if (p.outcome) return;
      p.outcome = outcome;
      p.at = now();
      clearTimeout(timer);
      sock.destroy();
      resolve(p);
    };
    const timer = setTimeout(() => end(buf ? 'partial' : 'silent'), 1500);
    sock.on('connect', () => sock.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (/^HTTP\/1\.1 \d{3}/.test(buf)) end(`served ${buf.slice(9, 12)}`);
    });
    sock.on('error', (e) => end(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`));
    sock.on('close', () => end(buf ? 'partial' : 'closed-unanswered'));
  });
}

async function scenario() {
  const pid = clove.pid;
  const limit = nofileLimit(pid);
  assert.ok(limit >= 4 * STREAMS, `Clove's open-files limit is ${limit}`);

  // idle keep-alive connections
  const idle = await Promise.all(Array.from({ length: IDLE }, () => idleKeepAlive(clove.port)));
  for (const c of idle) assert.equal(c.status, 200, 'GET /health on a keep-alive connection');

  // streams
  const tLaunch = now();
  const firstEventAt = new Array(STREAMS).fill(null);
  const streams = [];
  for (let i = 0; i < STREAMS; i++) {
    streams.push(
      streamRequest(clove.port, {
        scenario: `deltas:${DELTAS},interval:${INTERVAL_MS},tag:d${i}`,
        onEvent() {
          if (firstEventAt[i] === null) firstEventAt[i] = now();
        },
      }),
    );
  }
  const allInFlight = await waitFor(() => firstEventAt.every((t) => t !== null), 10000, 10);
  const notStarted = firstEventAt.filter((t) => t === null).length;
  assert.ok(allInFlight, `${notStarted} streams got no first event within 10 s`);
  const tAllStarted = Math.max(...firstEventAt);

  // SIGTERM half-way through the streams
  const tSigPlanned = tAllStarted + DURATION_MS / 2;
  await sleep(Math.max(0, tSigPlanned - now()));
  const closedBeforeSignal = idle.filter((c) => c.closedAt !== null).length;
  const tSig = now();
  process.kill(pid, 'SIGTERM');

  // probe new connections: one every 5 ms for 400 ms
  const probes = [];
  while (now() - tSig < 400) {
    probes.push(probe(clove.port));
    await sleep(5);
  }
  const probeResults = await Promise.all(probes);

  const results = await Promise.all(streams.map((s) => s.done));
  const exitInfo = await Promise.race([clove.exited, deadline(DURATION_MS + EXIT_SLACK_MS + 5000).then(() => null)]);
  const tExit = exitInfo ? now() : null;

  const firstRefused = probeResults.find((p) => p.outcome === 'refused');
  const lateServed = probeResults.filter((p) => p.start - tSig > REFUSE_WITHIN_MS && p.outcome !== 'refused');
  const idleCloseMs = idle.map((c) => (c.closedAt === null ? null : c.closedAt - tSig));
  const good = results.filter((s) => s.status === 200 && s.ended && !s.error && s.events.some((e) => e.event === 'message_stop') && !s.events.some((e) => e.event === 'error'));
  const bad = results
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => !good.includes(s))
    .map(({ s, i }) => `d${i}: status ${s.status}, ended ${s.ended}, error ${s.error}, events ${s.events.length}, last ${s.events.at(-1)?.event} ${s.events.at(-1)?.data?.slice(0, 120) ?? ''}`);

  const summary = {
    streams: STREAMS,
    durationMs: DURATION_MS,
    deltas: DELTAS,
    startSpreadMs: Math.round(tAllStarted - tLaunch),
    signalAfterAllStartedMs: Math.round(tSig - tAllStarted),
    firstRefusedMs: firstRefused ? Math.round(firstRefused.start - tSig) : null,
    probes: probeResults.reduce((m, p) => ((m[p.outcome] = (m[p.outcome] || 0) + 1), m), {}),
    lateServed: lateServed.length,
    idleClosedBeforeSignal: closedBeforeSignal,
    idleCloseMaxMs: idleCloseMs.some((x) => x === null) ? null : Math.round(Math.max(...idleCloseMs)),
    idleStillOpen: idleCloseMs.filter((x) => x === null).length,
    streamsWithMessageStop: good.length,
    exit: exitInfo,
    exitAfterSignalMs: tExit ? Math.round(tExit - tSig) : null,
    exitAfterAllStartedMs: tExit ? Math.round(tExit - tAllStarted) : null,
    exitBudgetMs: DURATION_MS + EXIT_SLACK_MS,
  };
  console.log(`row 11 measurements: ${JSON.stringify(summary)}`);
  for (const c of idle) c.sock.destroy();
  return { summary, bad, lateServed, firstRefused, tSig, idleCloseMs, exitInfo };
}

function need() {
  if (runError) throw runError;
  assert.ok(run, 'scenario did not run');
  return run;
}

row.check(`new connections refused within ${REFUSE_WITHIN_MS} ms of SIGTERM`, () => {
  const r = need();
  assert.ok(r.firstRefused, `no probe was refused: ${JSON.stringify(r.summary.probes)}`);
  assert.ok(r.summary.firstRefusedMs <= REFUSE_WITHIN_MS, `first refusal ${r.summary.firstRefusedMs} ms after the signal`);
  assert.equal(
    r.lateServed.length,
    0,
    `${r.lateServed.length} probes started > ${REFUSE_WITHIN_MS} ms after SIGTERM were not refused: ${JSON.stringify(r.lateServed.slice(0, 5).map((p) => ({ startMs: Math.round(p.start - r.tSig), outcome: p.outcome })))}`,
  );
});

row.check(`idle keep-alive connections closed within ${IDLE_CLOSE_WITHIN_MS} ms of SIGTERM (and not before)`, () => {
  const r = need();
  assert.equal(r.summary.idleClosedBeforeSignal, 0, 'idle connections closed before the signal');
  assert.equal(r.summary.idleStillOpen, 0, `${r.summary.idleStillOpen} idle connections were never closed`);
  assert.ok(r.summary.idleCloseMaxMs <= IDLE_CLOSE_WITHIN_MS, `slowest idle close ${r.summary.idleCloseMaxMs} ms after the signal`);
});

row.check(`${STREAMS}/${STREAMS} in-flight streams end with message_stop`, () => {
  const r = need();
  assert.equal(r.summary.streamsWithMessageStop, STREAMS, `broken streams:\n  ${r.bad.slice(0, 10).join('\n  ')}`);
});

row.check(`Clove exits with code 0 within duration + ${EXIT_SLACK_MS} ms`, () => {
  const r = need();
  assert.ok(r.exitInfo, `Clove had not exited ${r.summary.exitBudgetMs + 5000} ms after the streams started`);
  assert.equal(r.exitInfo.code, 0, `exit ${JSON.stringify(r.exitInfo)}`);
  assert.ok(r.summary.exitAfterAllStartedMs <= r.summary.exitBudgetMs, `exited ${r.summary.exitAfterAllStartedMs} ms after the streams started (budget ${r.summary.exitBudgetMs})`);
});

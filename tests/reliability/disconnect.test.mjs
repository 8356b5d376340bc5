// Row 8 — client disconnect (chaos scenario C6).
//
// 200 concurrent streaming requests (fake-upstream scenario `deltas:1000,interval:50`, i.e. a
// ~50 s stream each); every client destroys its socket right after its 2nd content_block_delta.
// Pass line:
//   * 200/200 clients reach 2 deltas and cut;
//   * 200/200 matching upstream requests are observed aborted by the fake upstream within 1 s of
//     their own client's cut (requests are matched through a `tag:N` directive in
//     x-fake-scenario, which the fake ignores but records), and the fake's open-connection count
//     drops back (the aborted upstream connections are closed, not parked in a pool);
//   * Clove's fd count (/proc/PID/fd) returns to its pre-test baseline ± 5 (within 3 s);
//   * the access log has one `client_closed` line per cut request (interface contract);
//   * Clove still serves a request afterwards.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { makeRow, streamRequest, fdCount, waitFor, sleep, deadline, isAlive, now } from './_lib.mjs';
import { startCloveWithNofile } from './_spawn.mjs';

const row = makeRow('row 8 (client disconnect)');
const N = Number(process.env.CLOVE_DISCONNECT_STREAMS || 200);
const CUT_AFTER_DELTAS = 2;
const ABORT_WITHIN_MS = 1000;
const FD_SLACK = 5;

let fake;
let clove;
let run = null; // results of the scenario, computed once in before()
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
  if (clove) await clove.stop('SIGTERM', 5000);
  if (fake) await fake.close();
});

async function scenario() {
  const pid = clove.pid;
  // warm-up: one full stream, then let pools settle
  const w = streamRequest(clove.port, { scenario: 'deltas:3' });
  const ws = await w.done;
  assert.equal(ws.status, 200, `warm-up stream failed: ${ws.raw}`);
  await sleep(300);
  const fdBaseline = fdCount(pid);
  const upOpenBaseline = fake.stats.connections.open;
  const abortedBefore = fake.stats.aborted;
  const accessBefore = clove.accessLogs().length;

  const clients = [];
  const tStart = now();
  for (let i = 0; i < N; i++) {
    let deltas = 0;
    const c = streamRequest(clove.port, {
      scenario: `deltas:1000,interval:50,tag:c${i}`,
      onEvent(ev, ctl) {
        if (ev.event === 'content_block_delta' && ++deltas === CUT_AFTER_DELTAS) {
          c.cutWall = Date.now();
          ctl.cut();
        }
      },
    });
    c.tag = `c${i}`;
    clients.push(c);
  }
  await Promise.race([Promise.all(clients.map((c) => c.done)), deadline(15000)]);
  const cut = clients.filter((c) => c.cutWall);
  const lastCutWall = Math.max(...cut.map((c) => c.cutWall));
  const tCutsDone = now();

  // wait until every tagged upstream request is aborted, or 1 s after the last cut (+ margin)
  const byTag = () => {
    const m = new Map();
    for (const r of fake.requests) if (r.scenario && r.scenario.tag) m.set(r.scenario.tag, r);
    return m;
  };
  await waitFor(() => clients.every((c) => byTag().get(c.tag)?.aborted), Math.max(0, lastCutWall + ABORT_WITHIN_MS + 200 - Date.now()));
  const tags = byTag();
  const delays = [];
  const late = [];
  for (const c of clients) {
    const rec = tags.get(c.tag);
    if (!rec) late.push(`${c.tag}: never reached the upstream`);
    else if (!c.cutWall) late.push(`${c.tag}: client never cut (status ${c.st.status}, error ${c.st.error}, events ${c.st.events.length})`);
    else if (!rec.aborted) late.push(`${c.tag}: upstream request still open ${Date.now() - c.cutWall} ms after the cut (events sent ${rec.eventsSent}, completed ${rec.completed})`);
    else {
      const d = rec.abortedAt - c.cutWall;
      delays.push(d);
      if (d > ABORT_WITHIN_MS) late.push(`${c.tag}: upstream aborted ${d} ms after the cut`);
    }
  }
  const upOpenAfter = await waitFor(() => (fake.stats.connections.open <= upOpenBaseline ? fake.stats.connections.open : null), 1500);

  // fds back to baseline
  const fdSeries = [];
  const fdOk = await waitFor(() => {
    const n = isAlive(pid) ? fdCount(pid) : -1;
    fdSeries.push(n);
    return Math.abs(n - fdBaseline) <= FD_SLACK;
  }, 3000, 50);
  const fdFinal = fdSeries[fdSeries.length - 1];
  const fdPeakSeen = Math.max(...fdSeries);

  // access log
  await waitFor(() => clove.accessLogs().slice(accessBefore).filter((x) => x.outcome === 'client_closed').length >= N, 3000, 50);
  const access = clove.accessLogs().slice(accessBefore);

  delays.sort((a, b) => a - b);
  const q = (p) => (delays.length ? delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] : null);
  const summary = {
    clients: N,
    cut: cut.length,
    cutSpreadMs: Math.round(tCutsDone - tStart),
    upstreamAborted: delays.length,
    abortDelayMs: { p50: q(0.5), p99: q(0.99), max: delays.length ? delays[delays.length - 1] : null },
    statsAbortedDelta: fake.stats.aborted - abortedBefore,
    upstreamOpen: { baseline: upOpenBaseline, after: fake.stats.connections.open },
    fd: { baseline: fdBaseline, final: fdFinal, maxSeenAfterCuts: fdPeakSeen },
    accessClientClosed: access.filter((x) => x.outcome === 'client_closed').length,
    accessOutcomes: access.reduce((m, x) => ((m[x.outcome] = (m[x.outcome] || 0) + 1), m), {}),
  };
  console.log(`row 8 measurements: ${JSON.stringify(summary)}`);
  return { clients, cut, late, summary, fdOk, upOpenAfter, upOpenBaseline };
}

function need() {
  if (runError) throw runError;
  assert.ok(run, 'scenario did not run');
  return run;
}

row.check(`${N}/${N} clients receive ${CUT_AFTER_DELTAS} content_block_delta events and cut`, () => {
  const r = need();
  const bad = r.clients.filter((c) => !c.cutWall).map((c) => `${c.tag}: status ${c.st.status}, error ${c.st.error}, events ${c.st.events.map((e) => e.event).join('|')} ${c.st.raw.slice(0, 200)}`);
  assert.equal(r.cut.length, N, `only ${r.cut.length} cut:\n  ${bad.slice(0, 10).join('\n  ')}`);
});

row.check(`${N}/${N} upstream requests aborted within ${ABORT_WITHIN_MS} ms of their client's cut`, () => {
  const r = need();
  assert.deepEqual(r.late.slice(0, 20), [], `${r.late.length} late: ${JSON.stringify(r.summary)}`);
  assert.ok(r.summary.statsAbortedDelta >= N, `fake stats.aborted grew by ${r.summary.statsAbortedDelta}`);
});

row.check('the aborted upstream connections are closed (fake open-connection count back to baseline)', () => {
  const r = need();
  assert.ok(r.upOpenAfter !== null, `fake still has ${r.summary.upstreamOpen.after} open connections (baseline ${r.upOpenBaseline})`);
});

row.check(`Clove fd count returns to baseline ± ${FD_SLACK}`, () => {
  const r = need();
  assert.ok(r.fdOk, `fd count ${r.summary.fd.final}, baseline ${r.summary.fd.baseline}`);
});

row.check(`access log: ${N} client_closed lines`, () => {
  const r = need();
  assert.equal(r.summary.accessClientClosed, N, `outcomes: ${JSON.stringify(r.summary.accessOutcomes)}`);
});

row.check('Clove alive and serving afterwards', async () => {
  need();
  assert.equal(clove.exitInfo, null, `Clove exited: ${JSON.stringify(clove.exitInfo)}`);
  const s = streamRequest(clove.port, { scenario: 'deltas:3' });
  const st = await s.done;
  assert.equal(st.status, 200);
  assert.ok(st.events.some((e) => e.event === 'message_stop'), st.raw);
});

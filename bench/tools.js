#!/usr/bin/env node
// Helpers for bench/run.sh (Node.js >= 18, no npm dependencies).
//
//   node tools.js freeport [N]
//       print N free loopback TCP ports, one per line
//   node tools.js streams --url URL --n 1000 --key K --events 57 [--timeout-s 120]
//       open N streaming Messages requests at once, read them to the end, print a JSON summary
//   node tools.js report --data FILE.tsv --meta FILE.tsv --md OUT.md
//       medians of the rounds, table with ratios to nginx and the targets
'use strict';
const net = require('net');
const http = require('http');
const fs = require('fs');
const { performance } = require('perf_hooks');

function args(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
    else o._.push(argv[i]);
  }
  return o;
}

// ------------------------------------------------------------------ freeport
async function freeport(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise((res, rej) => s.listen(0, '127.0.0.1', res).on('error', rej));
    servers.push(s);
  }
  for (const s of servers) console.log(s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
}

// ------------------------------------------------------------------ streams
function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function streams(o) {
  const u = new URL(o.url);
  const n = Number(o.n || 1000);
  const key = o.key || 'ck-bench-0001';
  const wantEvents = Number(o.events || 57);
  const timeoutS = Number(o['timeout-s'] || 120);
  const body = JSON.stringify({
    model: 'claude-sonnet-4-5', max_tokens: 1024, stream: true,
    messages: [{ role: 'user', content: 'Tell me a long story, slowly.' }],
    metadata: { user_id: 'bench-slow-streams' },
  });
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const t0 = performance.now();
  const res = { n, ok: 0, failed: 0, statuses: {}, errors: {}, bad_body: 0 };
  const ttfb = [], dur = [], evCounts = [];
  let finished = 0, headersSeen = 0, allHeadersMs = null;
  const finish = () => {
    if (++finished < n) return;
    report();
  };
  const report = () => {
    ttfb.sort((a, b) => a - b); dur.sort((a, b) => a - b); evCounts.sort((a, b) => a - b);
    res.all_headers_ms = allHeadersMs;
    res.ttfb_ms = { p50: pct(ttfb, 50), p99: pct(ttfb, 99), max: ttfb[ttfb.length - 1] ?? null };
    res.duration_s = {
      min: dur.length ? dur[0] / 1000 : null, p50: dur.length ? pct(dur, 50) / 1000 : null,
      max: dur.length ? dur[dur.length - 1] / 1000 : null,
    };
    res.events = { min: evCounts[0] ?? null, max: evCounts[evCounts.length - 1] ?? null };
    res.wall_s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify(res));
    process.exit(0);
  };
  setTimeout(() => {
    res.errors.client_timeout = n - finished;
    res.failed += n - finished;
    report();
  }, timeoutS * 1000).unref();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    let counted = false;
    const fail = (why) => {
      if (counted) return;
      counted = true;
      res.failed++;
      res.errors[why] = (res.errors[why] || 0) + 1;
      finish();
    };
    const req = http.request({
      host: u.hostname, port: Number(u.port), path: u.pathname, method: 'POST', agent,
      headers: {
        'content-type': 'application/json', 'anthropic-version': '2023-06-01',
        'x-api-key': key, 'content-length': Buffer.byteLength(body),
      },
    }, (r) => {
      res.statuses[r.statusCode] = (res.statuses[r.statusCode] || 0) + 1;
      if (++headersSeen === n) allHeadersMs = performance.now() - t0;
      let first = null;
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { if (first === null) first = performance.now(); text += d; });
      r.on('end', () => {
        if (counted) return;
        const events = (text.match(/^event: /gm) || []).length;
        evCounts.push(events);
        if (r.statusCode < 200 || r.statusCode > 299) return fail('status_' + r.statusCode);
        if (events !== wantEvents || !text.includes('event: message_stop')) {
          res.bad_body++;
          return fail('incomplete_stream');
        }
        counted = true;
        res.ok++;
        ttfb.push((first ?? performance.now()) - start);
        dur.push(performance.now() - start);
        finish();
      });
      r.on('error', (e) => fail(e.code || 'response_error'));
      r.on('aborted', () => fail('aborted'));
    });
    req.on('error', (e) => fail(e.code || 'request_error'));
    req.end(body);
  }
}

// ------------------------------------------------------------------ report
function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function report(o) {
  const rows = fs.readFileSync(o.data, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
  const meta = o.meta && fs.existsSync(o.meta)
    ? fs.readFileSync(o.meta, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')) : [];
  // data[target][metric][round] = value
  const data = {};
  const rounds = new Set();
  for (const [round, target, metric, value] of rows) {
    rounds.add(round);
    ((data[target] ??= {})[metric] ??= {})[round] = Number(value);
  }
  // derived per round: added latency = target - direct (same round)
  for (const t of Object.keys(data)) {
    if (t === 'direct' || !data.direct) continue;
    for (const m of ['lat_json_p50_us', 'lat_json_p99_us', 'lat_sse_p50_us', 'lat_sse_p99_us']) {
      const added = m.replace('lat_', 'added_');
      for (const r of rounds) {
        const a = data[t][m]?.[r], d = data.direct[m]?.[r];
        if (Number.isFinite(a) && Number.isFinite(d)) ((data[t][added] ??= {}))[r] = a - d;
      }
    }
  }
  const targets = ['direct', 'nginx', 'clove'].filter((t) => data[t]);
  const med = (t, m) => (data[t]?.[m] ? median(Object.values(data[t][m])) : null);
  const fmt = (v, d = 1) => (v === null || v === undefined ? '—' : Number(v).toFixed(d));
  // clove / nginx: the median of the per-round ratios (both measured interleaved in the same round)
  const roundRatios = (m) => {
    const out = [];
    for (const r of rounds) {
      const c = data.clove?.[m]?.[r], n = data.nginx?.[m]?.[r];
      if (Number.isFinite(c) && Number.isFinite(n) && n) out.push(c / n);
    }
    return out.sort((a, b) => a - b);
  };
  const ratio = (m) => median(roundRatios(m));
  const ratioText = (m) => {
    const rr = roundRatios(m);
    if (!rr.length) return '—';
    const mid = median(rr).toFixed(2) + '×';
    return rr.length > 1 ? `${mid} (${rr[0].toFixed(2)}–${rr[rr.length - 1].toFixed(2)})` : mid;
  };
  const streamsN = med('clove', 'streams_n') ?? med('nginx', 'streams_n') ?? med('direct', 'streams_n');

  // [label, metric, decimals, showRatio, targetText, check(clove) -> bool|null]
  const R = [
    ['JSON requests/s @64 conns', 'json_rps', 0, true],
    ['SSE requests/s @64 conns', 'sse_rps', 0, true],
    ['JSON CPU ms / 1k req', 'json_cpu_ms_1k', 1, true, '≤ 1.3× nginx', () => ratio('json_cpu_ms_1k') <= 1.3],
    ['SSE CPU ms / 1k req', 'sse_cpu_ms_1k', 1, true, '≤ 1.1× nginx', () => ratio('sse_cpu_ms_1k') <= 1.1],
    ['JSON p50 @1 conn (µs)', 'lat_json_p50_us', 0, false],
    ['JSON p99 @1 conn (µs)', 'lat_json_p99_us', 0, false],
    ['SSE p50 @1 conn (µs)', 'lat_sse_p50_us', 0, false],
    ['SSE p99 @1 conn (µs)', 'lat_sse_p99_us', 0, false],
    ['added JSON p50 (µs)', 'added_json_p50_us', 0, false, '≤ nginx + 30 µs',
      () => med('clove', 'added_json_p50_us') <= med('nginx', 'added_json_p50_us') + 30],
    ['added JSON p99 (µs)', 'added_json_p99_us', 0, false],
    ['added SSE p50 (µs)', 'added_sse_p50_us', 0, false, '≤ nginx + 30 µs',
      () => med('clove', 'added_sse_p50_us') <= med('nginx', 'added_sse_p50_us') + 30],
    ['added SSE p99 (µs)', 'added_sse_p99_us', 0, false],
    ['idle RSS (MB)', 'idle_rss_mb', 1, true, '< 10 MB', () => med('clove', 'idle_rss_mb') < 10],
    ['peak RSS under load (MB)', 'load_peak_rss_mb', 1, true],
    ['RSS after load, idle (MB)', 'after_load_rss_mb', 1, true],
    [`slow streams completed (of ${streamsN ?? '?'})`, 'streams_ok', 0, false, 'all',
      () => med('clove', 'streams_ok') === med('clove', 'streams_n')],
    ['slow streams peak RSS (MB)', 'streams_peak_rss_mb', 1, true, '< 48 MB',
      () => med('clove', 'streams_peak_rss_mb') < 48],
    ['slow streams KB / stream', 'streams_kb_per_stream', 1, true],
    ['slow streams CPU ms (total)', 'streams_cpu_ms', 0, true],
    ['time to ready (ms)', 'ready_ms', 2, true, '< 100 ms', () => med('clove', 'ready_ms') < 100],
  ];
  const lines = [];
  const hdr = ['metric', ...targets, ...(data.clove && data.nginx ? ['clove / nginx'] : []), 'target', 'clove verdict'];
  lines.push('| ' + hdr.join(' | ') + ' |');
  lines.push('|' + hdr.map((h, i) => (i === 0 || i >= hdr.length - 2 ? '---' : '--:')).join('|') + '|');
  let fails = 0;
  for (const [label, m, d, showRatio, targetText, check] of R) {
    if (!targets.some((t) => med(t, m) !== null)) continue;
    const cells = [label, ...targets.map((t) => fmt(med(t, m), d))];
    if (data.clove && data.nginx) {
      cells.push(showRatio ? ratioText(m) : '—');
    }
    cells.push(targetText || '');
    let verdict = '';
    if (check && data.clove) {
      let ok = null;
      try { ok = check(); } catch { ok = null; }
      const needsNginx = /nginx/.test(targetText);
      if (needsNginx && !data.nginx) verdict = '—';
      else { verdict = ok ? 'PASS' : 'FAIL'; if (!ok) fails++; }
    }
    cells.push(verdict);
    lines.push('| ' + cells.join(' | ') + ' |');
  }
  const table = lines.join('\n');

  // per-round raw values
  const raw = [];
  const rs = [...rounds].sort();
  raw.push('| target | metric | ' + rs.map((r) => 'round ' + r).join(' | ') + ' |');
  raw.push('|---|---|' + rs.map(() => '--:').join('|') + '|');
  for (const t of targets) {
    for (const m of Object.keys(data[t]).sort()) {
      raw.push(`| ${t} | ${m} | ` + rs.map((r) => fmt(data[t][m][r], 2)).join(' | ') + ' |');
    }
  }
  const metaLines = meta.map(([k, v]) => `- ${k}: ${v}`).join('\n');
  const md = `# Clove benchmark — latest run\n\n${metaLines}\n\n` +
    `Median of ${rs.length} round(s). clove / nginx is the median of the per-round ratios (range in brackets); nginx and Clove are measured interleaved within each round.\n\n${table}\n\n` +
    `## Per-round values\n\n${raw.join('\n')}\n`;
  if (o.md) fs.writeFileSync(o.md, md);
  console.log(table);
  if (data.clove) console.log(`\nclove targets missed: ${fails}`);
  if (o['fails-out']) fs.writeFileSync(o['fails-out'], String(fails));
}

// ------------------------------------------------------------------ main
const [cmd, ...rest] = process.argv.slice(2);
const o = args(rest);
switch (cmd) {
  case 'freeport': freeport(Number(o._[0] || 1)); break;
  case 'streams': streams(o); break;
  case 'report': report(o); break;
  default:
    console.error('usage: tools.js freeport|streams|report ...');
    process.exit(2);
}

// End-to-end: Claude Code (npm @anthropic-ai/claude-code) in headless mode against Clove, which
// proxies to the fake upstream. The JSON output is judged (is_error, result), not the exit code.
//
// CLOVE_E2E_DIRECT=1 points Claude Code at the fake upstream itself (self-check of the test logic).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeUpstream, expectedText, THINKING_TEXT, fakeSignature } from '../fake_upstream/server.mjs';
import { startFakeOpenAI, expectedText as openaiExpectedText, REASONING_TEXT } from '../fake_openai/server.mjs';
import { startClove, stopCloveChecked, CLIENT_KEY, UPSTREAM_KEY } from '../lib/clove.mjs';
import { startDenyProxy } from '../lib/deny_proxy.mjs';
import { OAI_KEY, openaiUpstreamEntry, configWithUpstreams, assertOpenAIUpstreamHeaders } from '../lib/openai.mjs';

const DIRECT = process.env.CLOVE_E2E_DIRECT === '1';
const MODEL = 'claude-sonnet-5-5';
const TESTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function claudeBin() {
  const candidates = [
    path.join(TESTS_DIR, 'node_modules', '@anthropic-ai', `claude-code-${process.platform}-${process.arch}`, 'claude'),
    path.join(TESTS_DIR, 'node_modules', '.bin', 'claude'),
  ];
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  throw new Error(`claude binary not found (run npm ci in tests/): tried ${candidates.join(', ')}`);
}

let fake;
let clove;
let proxy;
let baseURL;

before(async () => {
  fake = await startFakeUpstream();
  proxy = await startDenyProxy();
  if (DIRECT) baseURL = fake.url;
  else {
    clove = await startClove({ fakeUrl: fake.url });
    baseURL = clove.url;
  }
});
after(async () => {
  try {
    if (clove) await stopCloveChecked(clove);
  } finally {
    await proxy.close();
    await fake.close();
  }
});
beforeEach(() => fake.reset());

/**
 * Runs `claude -p PROMPT` with an environment built from scratch, against `base` (default: the
 * file's Clove, or the fake in direct mode). Resolves {code, stdout, stderr, json (parsed result
 * object), lines (stream-json objects), ms}.
 */
async function runClaude(t, { prompt = 'Say hello.', scenario, streamJson = false, timeoutMs = 60000, maxTurns = 1, base = baseURL } = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-cc-home-'));
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-cc-cwd-'));
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TMPDIR: os.tmpdir(),
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: base,
    ANTHROPIC_API_KEY: CLIENT_KEY,
    ANTHROPIC_MODEL: MODEL,
    ANTHROPIC_DEFAULT_OPUS_MODEL: MODEL,
    ANTHROPIC_DEFAULT_SONNET_MODEL: MODEL,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: MODEL,
    ANTHROPIC_SMALL_FAST_MODEL: MODEL,
    CLAUDE_CODE_SUBAGENT_MODEL: MODEL,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY: '1',
    // without this an upstream 529 is retried for minutes (retry-after: 7 each time)
    CLAUDE_CODE_MAX_RETRIES: '0',
    ...proxy.env,
    ...(scenario ? { ANTHROPIC_CUSTOM_HEADERS: `x-fake-scenario: ${scenario}` } : {}),
  };
  const args = ['-p', prompt, '--max-turns', String(maxTurns), '--output-format', streamJson ? 'stream-json' : 'json'];
  if (streamJson) args.push('--verbose');
  const t0 = Date.now();
  const child = spawn(claudeBin(), args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
  clearTimeout(timer);
  const ms = Date.now() - t0;
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(cwd, { recursive: true, force: true });
  if (proxy.attempts.length) t.diagnostic(`claude tried other hosts through the deny-proxy: ${JSON.stringify(proxy.attempts)}`);
  const lines = [];
  for (const l of stdout.split('\n')) {
    if (!l.trim()) continue;
    try {
      lines.push(JSON.parse(l));
    } catch {
      /* not JSON */
    }
  }
  const json = lines.findLast((x) => x && x.type === 'result');
  assert.ok(json, `claude printed no result object (exit ${code} after ${ms} ms)\nstdout: ${stdout.slice(0, 2000)}\nstderr: ${stderr.slice(0, 2000)}`);
  return { code, stdout, stderr, json, lines, ms };
}

function messageRequests() {
  return fake.requests.filter((r) => r.path === '/v1/messages' && r.method === 'POST');
}

/** Every upstream request went through Clove: upstream key swapped in, no client credential. */
function assertWentThroughClove() {
  const reqs = messageRequests();
  assert.ok(reqs.length >= 1, 'the fake upstream received the messages request');
  for (const r of reqs) {
    // Claude Code calls POST /v1/messages?beta=true; the query travels on to the upstream
    assert.equal(r.url, '/v1/messages?beta=true', `upstream URL ${r.url}`);
    if (DIRECT) continue;
    assert.equal(r.headers['x-api-key'], UPSTREAM_KEY, 'upstream key swapped in');
    assert.equal(r.headers.authorization, undefined);
    assert.ok(!JSON.stringify(r.rawHeaders).includes(CLIENT_KEY), 'client key must not reach the upstream');
    assert.equal(r.headers['anthropic-version'], '2023-06-01', 'Claude Code anthropic-version forwarded');
    assert.match(String(r.headers['anthropic-beta'] ?? ''), /claude-code-20250219/, 'Claude Code betas forwarded');
    assert.match(String(r.headers['user-agent'] ?? ''), /claude-cli/, 'client user-agent forwarded');
  }
  if (!DIRECT) {
    // Claude Code sent POST /v1/messages?beta=true to Clove: the access log shows it was served.
    const logs = clove.accessLogs().filter((l) => l.method === 'POST' && String(l.path ?? '').startsWith('/v1/messages'));
    assert.ok(logs.length >= 1, `no access-log line for Claude Code's request:\n${clove.stderrText().slice(-3000)}`);
  }
  return reqs;
}

test('Claude Code: plain text answer through Clove', async (t) => {
  const r = await runClaude(t);
  assert.equal(r.json.is_error, false, `is_error: ${JSON.stringify(r.json).slice(0, 1500)}`);
  assert.equal(r.json.result, expectedText({}));
  const reqs = assertWentThroughClove();
  const body = JSON.parse(reqs[0].body.toString('utf8'));
  assert.equal(body.model, MODEL);
  assert.equal(body.stream, true, 'Claude Code streams');
});

test('Claude Code: streamed answer with thinking', async (t) => {
  const r = await runClaude(t, { scenario: 'thinking,deltas:5', streamJson: true });
  assert.equal(r.json.is_error, false, `is_error: ${JSON.stringify(r.json).slice(0, 1500)}`);
  assert.equal(r.json.result, expectedText({ deltas: '5' }));
  const reqs = assertWentThroughClove();
  // Claude Code's own transcript holds the thinking block it received, signature intact.
  const blocks = r.lines.filter((l) => l.type === 'assistant').flatMap((l) => l.message?.content ?? []);
  const thinking = blocks.find((b) => b.type === 'thinking');
  assert.ok(thinking, `no thinking block in Claude Code's stream-json: ${JSON.stringify(blocks).slice(0, 1500)}`);
  assert.equal(thinking.thinking, THINKING_TEXT);
  assert.equal(thinking.signature, fakeSignature(reqs[0].body));
});

for (const status of [529, 400]) {
  test(`Claude Code: upstream ${status} surfaces as is_error with the status`, async (t) => {
    const r = await runClaude(t, { scenario: `error:${status}` });
    assert.equal(r.json.is_error, true, JSON.stringify(r.json).slice(0, 1500));
    assert.equal(r.json.api_error_status, status);
    assert.match(r.json.result, new RegExp(`\\b${status}\\b`));
    assert.match(r.json.result, /fake upstream/, 'the upstream error message is relayed unchanged');
    assertWentThroughClove();
  });
}

// Claude Code against a Clove whose ONLY upstream is of kind "openai" (the fake OpenAI-compatible
// server): every request Claude Code makes (the answer, plus title / quota / count_tokens calls)
// is translated to Chat Completions or answered by Clove itself.
async function withOpenAIOnlyClove(t) {
  const oai = await startFakeOpenAI();
  let oclove;
  try {
    oclove = await startClove({
      config: configWithUpstreams([openaiUpstreamEntry(oai.url, { models: ['claude-*'], model_map: { [MODEL]: 'qwen3' } })]),
    });
  } catch (err) {
    await oai.close();
    throw err;
  }
  t.after(async () => {
    try {
      await stopCloveChecked(oclove);
    } finally {
      await oai.close();
    }
  });
  return { oai, oclove };
}

function assertOpenAIRequests(oai, oclove) {
  const reqs = oai.chatRequests();
  assert.ok(reqs.length >= 1, `the fake OpenAI upstream got no chat request: ${oai.requests.map((r) => `${r.method} ${r.url}`)}`);
  for (const r of reqs) {
    assertOpenAIUpstreamHeaders(r, OAI_KEY);
    assert.equal(r.path, '/v1/chat/completions');
    assert.equal(r.json.model, 'qwen3');
    assert.equal(r.json.stream, true);
    assert.equal(r.responseStatus, 200);
  }
  const bad = oai.requests.filter((r) => !r.path.endsWith('/chat/completions'));
  assert.deepEqual(
    bad.map((r) => `${r.method} ${r.url}`),
    [],
    'only chat completions reach an OpenAI upstream',
  );
  const failed = oclove.accessLogs().filter((l) => String(l.path ?? '').startsWith('/v1/messages') && !(l.status >= 200 && l.status < 300));
  assert.deepEqual(failed, [], 'every messages / count_tokens request of Claude Code was answered with 2xx');
  return reqs;
}

test('Claude Code: only an openai-kind upstream (fake OpenAI), plain text', { skip: DIRECT && 'direct mode' }, async (t) => {
  const { oai, oclove } = await withOpenAIOnlyClove(t);
  oai.setRules([{ scenario: 'deltas:4' }]);
  const r = await runClaude(t, { base: oclove.url });
  assert.equal(r.json.is_error, false, `is_error: ${JSON.stringify(r.json).slice(0, 1500)}\nstderr: ${r.stderr.slice(0, 1500)}`);
  assert.equal(r.json.result, openaiExpectedText({ deltas: '4' }));
  const reqs = assertOpenAIRequests(oai, oclove);
  // Claude Code's system prompt and tools were translated
  const main = reqs.find((x) => Array.isArray(x.json.tools) && x.json.tools.length) ?? reqs[0];
  assert.equal(main.json.messages[0].role, 'system');
  if (main.json.tools) for (const tool of main.json.tools) assert.equal(tool.type, 'function');
});

test('Claude Code: only an openai-kind upstream, streamed answer with reasoning_content', { skip: DIRECT && 'direct mode' }, async (t) => {
  const { oai, oclove } = await withOpenAIOnlyClove(t);
  oai.setRules([{ scenario: 'reasoning,deltas:3' }]);
  const r = await runClaude(t, { base: oclove.url, streamJson: true });
  assert.equal(r.json.is_error, false, `is_error: ${JSON.stringify(r.json).slice(0, 1500)}\nstderr: ${r.stderr.slice(0, 1500)}`);
  assert.equal(r.json.result, openaiExpectedText({ deltas: '3' }));
  const blocks = r.lines.filter((l) => l.type === 'assistant').flatMap((l) => l.message?.content ?? []);
  const thinking = blocks.find((b) => b.type === 'thinking');
  assert.ok(thinking, `no thinking block in Claude Code's stream-json: ${JSON.stringify(blocks).slice(0, 1500)}`);
  assert.equal(thinking.thinking, REASONING_TEXT);
  assertOpenAIRequests(oai, oclove);
});

test('Claude Code: only an openai-kind upstream, a streamed tool call runs and its result goes back', { skip: DIRECT && 'direct mode' }, async (t) => {
  const { oai, oclove } = await withOpenAIOnlyClove(t);
  // the model calls Glob (read-only, allowed in -p mode) until the result is in the conversation
  const args = encodeURIComponent(JSON.stringify({ pattern: '*.txt' }));
  oai.setRules([{ scenario: `tool_until_result,tool_name:Glob,tool_args:${args},arg_chunks:4,deltas:2` }]);
  const r = await runClaude(t, { base: oclove.url, prompt: 'List the text files here.', maxTurns: 3, timeoutMs: 90000 });
  assert.equal(r.json.is_error, false, `is_error: ${JSON.stringify(r.json).slice(0, 1500)}\nstderr: ${r.stderr.slice(0, 1500)}`);
  assert.equal(r.json.result, openaiExpectedText({ deltas: '2' }));
  const reqs = assertOpenAIRequests(oai, oclove);
  const second = reqs.find((x) => x.json.messages.some((m) => m.role === 'tool'));
  assert.ok(second, `no request carried the tool result: ${JSON.stringify(reqs.map((x) => x.json.messages.map((m) => m.role)))}`);
  const assistant = second.json.messages.find((m) => m.role === 'assistant' && Array.isArray(m.tool_calls));
  assert.ok(assistant, 'the assistant turn with the call went back upstream');
  const call = assistant.tool_calls[0];
  assert.equal(call.function.name, 'Glob');
  assert.deepEqual(JSON.parse(call.function.arguments), { pattern: '*.txt' }, 'arguments parsed by Claude Code and sent back');
  const result = second.json.messages.find((m) => m.role === 'tool');
  assert.equal(result.tool_call_id, call.id, 'the tool result answers the call');
  assert.ok(typeof result.content === 'string' && result.content.length > 0, 'the tool ran and produced a result');
  assert.ok(!/InputValidationError/.test(result.content), `the tool input was valid: ${result.content}`);
});

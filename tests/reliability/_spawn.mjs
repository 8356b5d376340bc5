// Starts Clove through `sh -c 'ulimit -n N; exec clove …'` so that hundreds of concurrent
// connections do not hit a low open-files limit. The wrapper execs, so the PID returned by
// tests/lib/clove.mjs is Clove's own PID (/proc/PID/* probes stay valid).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startClove, cloveBin } from '../lib/clove.mjs';

export async function startCloveWithNofile(opts = {}, nofile = 20000) {
  const real = cloveBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-ulimit-'));
  const wrapper = path.join(dir, 'clove-ulimit.sh');
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\nulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"\nexec "$CLOVE_REAL_BIN" "$@"\n`,
    { mode: 0o755 },
  );
  if (!fs.existsSync(real)) throw new Error(`Clove binary not found at ${real} (set CLOVE_BIN or build it)`);
  const saved = process.env.CLOVE_BIN;
  process.env.CLOVE_BIN = wrapper;
  try {
    const handle = await startClove({ ...opts, env: { ...(opts.env || {}), CLOVE_REAL_BIN: real } });
    handle.exited.then(() => fs.rmSync(dir, { recursive: true, force: true }));
    return handle;
  } finally {
    if (saved === undefined) delete process.env.CLOVE_BIN;
    else process.env.CLOVE_BIN = saved;
  }
}

/** Soft open-files limit of a process, from /proc/PID/limits. */
export function nofileLimit(pid) {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
}

// A woken hop's instructions, split at the reply's doorbell write
// (bench/woken-path.mjs, relay): the critical path (from the doorbell's
// callback to the write that rings the other reader) and what follows the
// reply (to the next doorbell callback), each the median over many hops of
// a JIT that has warmed up. Needs valgrind.
//
//   node bench/woken-split.mjs recv|iterate|recvsync [parts]
//
// recvsync: the blocking read (recvSync(), then offer()) of the echo side
// of a ping-pong with a second process (bench/woken-path.mjs recvsync
// paced: the other side, not under callgrind, waits 2 ms before each ping
// so that this slowed side is asleep when it comes, after 30 000 round
// trips unpaced for the JIT). Its parts are split where the wait ends
// (--dump-before=rc_sub_end_wait, right after the kernel's return) instead
// of at the doorbell callback: critical is from there to the answer's
// write (the read crossing, a Buffer, offer()); afterReply everything from
// that write to the next wake-up but the time asleep (the rest of offer(),
// the next look, the announcement, the wait's own call). Medians of 300
// hops: 2 580 and 3 190 with poll(), its ring cleared by a read() before
// each wait, and a 5 s limit; 2 570 to 2 650 and 2 530 to 2 790 with
// epoll_wait(), which clears nothing; 2 560 to 2 640 and about 1 950 with
// no limit, as the latency scenario waits now (no clock read per wait)
// (docs/protocol.md, "Sleeping and waking").
//
// callgrind starts with its instrumentation off (the warm-up runs at a
// fraction of its cost), turns it on after WARM_SECONDS, dumps before every
// doorbell callback and every write(), and is stopped once `parts` dumps
// (default 1200) are written. Each dump is one part of one hop: its trigger
// says which (--dump-before=write: the part that ended at the reply's write,
// the critical path). Instruction counts do not depend on the machine's
// load; the warm-up time does not change them either as long as it is long
// enough for the JIT (the medians are the same from 10 to 30 s).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { median } from './lib.mjs';

const [read = 'recv', partsArg = '1200'] = process.argv.slice(2);
const parts = Number(partsArg);
const WARM_SECONDS = 20;
const dir = mkdtempSync(join(tmpdir(), 'ringcast-woken-split-'));
const valgrind = spawn('valgrind', [
  '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'cg.out')}`,
  read === 'recvsync' ? '--dump-before=rc_sub_end_wait' : '--dump-before=*FdWatcher::OnEvent*', '--dump-before=write',
  'node', '--hash-seed=1', '--random-seed=1', '--single-threaded', new URL('woken-path.mjs', import.meta.url).pathname, read, '100000000', read === 'recvsync' ? 'paced' : 'relay',
], { stdio: ['ignore', 'ignore', 'pipe'] });
// recvsync: the pinger says when its warm-up (unpaced, so this side is not woken) is over.
const paced = new Promise((resolve) => {
  let seen = '';
  valgrind.stderr.on('data', (chunk) => {
    seen = (seen + chunk).slice(-200);
    if (seen.includes('recvsync: pacing')) resolve();
  });
});
try {
  await sleep(WARM_SECONDS * 1000);
  if (read === 'recvsync') await paced;
  execFileSync('callgrind_control', ['-i', 'on', String(valgrind.pid)], { stdio: 'ignore' });
  while (readdirSync(dir).length < parts) await sleep(500);
} finally {
  valgrind.kill('SIGKILL');
}
const critical = [];
const after = [];
for (const name of readdirSync(dir)) {
  if (!/^cg\.out\.\d+$/.test(name)) continue;
  const text = readFileSync(join(dir, name), 'utf8');
  const trigger = /^desc: Trigger: --dump-before=(.*)$/m.exec(text)?.[1];
  const totals = Number(/^totals: (\d+)$/m.exec(text)?.[1]);
  if (trigger === 'write') critical.push(totals);
  else if (trigger?.includes('OnEvent') || trigger === 'rc_sub_end_wait') after.push(totals);
}
// KEEP_DUMPS=1 keeps the dumps for callgrind_annotate (their directory on stderr).
if (process.env.KEEP_DUMPS) console.error(dir);
else rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ read, hops: critical.length, critical: median(critical), afterReply: median(after) }));

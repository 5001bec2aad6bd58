// The stock `ctr` task flows with Debian's containerd-shim-runc-v2 as a foreign shim, driving runc. The long
// flows (restart, 200 cycles) run with ctrd's own shim, in ctrd-shim.test.ts.
import fs from 'node:fs';
import { describe } from 'vitest';
import { goShim, runcBinary } from '../harness/tasks.js';
import { describeTaskFlows } from './task-flows.js';

describe.skipIf(!fs.existsSync(goShim) || !runcBinary || process.getuid?.() !== 0)('foreign shim', () => {
  describeTaskFlows("Debian's containerd-shim-runc-v2", { runArgs: ['--runtime', goShim], runtime: goShim });
});

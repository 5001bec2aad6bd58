// The shim server's module graph loads without @grpc/grpc-js, and the status codes lib/grpc/status.ts maps
// error kinds to are still gRPC's.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/project-root.js';

const dist = path.join(projectRoot, 'dist');

describe('grpc-js stand-in', () => {
  it('keeps grpc-js out of the shim server and the codes right', () => {
    const script = `
      import { createRequire } from 'node:module';
      const { standInForGrpc } = await import(${JSON.stringify(path.join(dist, 'shims/grpc-stand-in.js'))});
      standInForGrpc();
      await import(${JSON.stringify(path.join(dist, 'shims/serve.js'))});
      const { toGrpcStatus } = await import(${JSON.stringify(path.join(dist, 'lib/grpc/status.js'))});
      const { CtrdError } = await import(${JSON.stringify(path.join(dist, 'lib/errdefs.js'))});
      const require = createRequire(${JSON.stringify(path.join(dist, 'shims/main.js'))});
      const grpc = require.cache[require.resolve('@grpc/grpc-js')];
      const kinds = ['not-found', 'already-exists', 'failed-precondition', 'not-implemented', 'unavailable', 'invalid-argument'];
      console.log(JSON.stringify({ real: typeof grpc.exports.Server === 'function', codes: kinds.map((k) => toGrpcStatus(new CtrdError(k, 'x')).code) }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { real: boolean; codes: number[] };
    expect(out.real).toBe(false);
    expect(out.codes).toEqual([5, 6, 9, 12, 14, 3]);
  });
});

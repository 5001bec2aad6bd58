// The shim's entry (bin/containerd-shim-ctrd-v2): `start`, `delete`, or the server itself, as containerd's
// shims take them. Each path imports only what it needs; nothing the shim loads imports grpc-js (the ttrpc
// protos are generated without gRPC stubs, see buf.gen.ttrpc.yaml).
import fs from 'node:fs';
import { parseFlags } from './flags.js';

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.version) {
    process.stdout.write('containerd-shim-ctrd-v2 (ctrd)\n');
    return 0;
  }
  switch (flags.action) {
    case 'start': {
      const { start } = await import('./start.js');
      process.stdout.write(await start(flags, process.argv[1]!));
      return 0;
    }
    case 'delete': {
      const { deleteTask } = await import('./delete.js');
      fs.writeSync(1, await deleteTask(flags));
      return 0;
    }
    default: {
      const { serve } = await import('./serve.js');
      await serve(flags);
      return -1; // keeps running
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`containerd-shim-ctrd-v2: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

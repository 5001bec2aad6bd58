// Where a shim listens: /run/ctrd/s/<hex sha256(daemon address/namespace/id)>, as containerd names its
// shims' sockets (runtime/v2/shim/util.go SocketAddress), under ctrd's own run dir.
import { createHash } from 'node:crypto';
import path from 'node:path';

export const socketDir = '/run/ctrd/s';

export function socketAddress(daemonAddress: string, namespace: string, id: string): string {
  const hash = createHash('sha256').update(`${daemonAddress}/${namespace}/${id}`).digest('hex');
  return `unix://${path.join(socketDir, hash)}`;
}

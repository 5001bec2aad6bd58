// The connection every verb shares: the global flags, and one channel to ctrd that is known to be up
// before the first call, so that a daemon that is not there is one clear error at once, never a hang.
import { connectivityState, type ChannelInterface } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { unavailable } from '../../lib/errdefs.js';
import { Clients } from '../../lib/grpc/client.js';

export interface GlobalFlags {
  address: string;
  namespace: string;
}

/** How long a daemon that accepts but does not answer gets before we give up on it. */
const connectTimeoutMs = 5_000;

export function globalFlags(cmd: Command): GlobalFlags {
  const { address, namespace } = cmd.optsWithGlobals<GlobalFlags>();
  // ctr and docker accept the address as a URL too.
  return { address: address.replace(/^unix:\/\//, ''), namespace };
}

/**
 * Resolves true once the channel is READY, false on the first failed attempt or at the deadline. A
 * missing or refusing socket fails the first attempt, so that case answers in milliseconds.
 */
function waitReady(channel: ChannelInterface, deadline: number): Promise<boolean> {
  return new Promise((resolve) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) {
        resolve(true);
      } else if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) {
        resolve(false);
      } else {
        channel.watchConnectivityState(state, deadline, (err) => (err ? resolve(false) : check()));
      }
    };
    check();
  });
}

export async function connect(flags: GlobalFlags): Promise<Clients> {
  const clients = new Clients({ address: flags.address, namespace: flags.namespace });
  if (!(await waitReady(clients.version.getChannel(), Date.now() + connectTimeoutMs))) {
    clients.close();
    throw unavailable(`cannot connect to ctrd at ${flags.address}: is the daemon running?`);
  }
  return clients;
}

/** Runs one verb on a fresh connection and closes it after, whatever the verb's outcome. */
export async function withClients<T>(cmd: Command, fn: (clients: Clients, flags: GlobalFlags) => Promise<T>): Promise<T> {
  const flags = globalFlags(cmd);
  const clients = await connect(flags);
  try {
    return await fn(clients, flags);
  } finally {
    clients.close();
  }
}

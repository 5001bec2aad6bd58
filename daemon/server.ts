// The daemon's process-level shell: directories, the unix socket (never stealing a live one), the gRPC
// server with every built-in service, periodic chores, and a graceful stop.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { chmodSync, chownSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Config } from './config.js';
import type { Logger } from '../lib/log.js';
import { errnoCode, failedPrecondition } from '../lib/errdefs.js';
import { loadBuiltins, type Builtins } from '../services/builtins.js';
import { pullLeaseLabel } from '../services/images/pull.js';
import { archiveLeaseLabel } from '../services/archive/save.js';
import { eventsTtrpcServer } from '../services/events/ttrpc.js';
import type { TtrpcServer } from '../lib/ttrpc/server.js';

/** Resolves true when something accepts connections on the unix socket at path. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (live: boolean) => {
      sock.destroy();
      resolve(live);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(2000, () => done(false));
  });
}

/** Makes room for our socket: a stale one from a crashed daemon is removed, a live one is refused. */
async function claimSocket(path: string, log: Logger): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw failedPrecondition(`${path} exists and is not a socket; refusing to replace it`);
  if (await socketIsLive(path)) {
    throw failedPrecondition(`another daemon is already serving on ${path}; stop it first or choose another --address`);
  }
  log.warn({ address: path }, 'removing stale socket left by a daemon that did not stop cleanly');
  rmSync(path, { force: true });
}

function bind(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const oldMask = process.umask(0o117);
    server.bindAsync(`unix://${address}`, ServerCredentials.createInsecure(), (err) => {
      process.umask(oldMask);
      if (err) reject(err);
      else resolve();
    });
  });
}

export class Daemon {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    readonly builtins: Builtins,
    private readonly server: Server,
    private readonly log: Logger,
    private readonly timers: NodeJS.Timeout[],
    private readonly ttrpc: TtrpcServer,
  ) {}

  static async start(config: Config, log: Logger): Promise<Daemon> {
    mkdirSync(config.root, { recursive: true, mode: 0o711 });
    mkdirSync(config.state, { recursive: true, mode: 0o711 });
    mkdirSync(dirname(config.grpc.address), { recursive: true, mode: 0o711 });
    await claimSocket(config.grpc.address, log);

    const builtins = loadBuiltins(config, log);
    // Before serving, while no snapshot is being built: directories a crash left half-made or half-removed go,
    // and so do the leases of pulls that died with the last daemon (their ingests stay, to be resumed).
    for (const name of builtins.snapshots.names()) await builtins.snapshots.cleanup(name);
    for (const l of builtins.leases.deleteLabelled(pullLeaseLabel)) log.info({ ns: l.ns, lease: l.id }, 'removed the lease of an interrupted pull');
    for (const l of builtins.leases.deleteLabelled(archiveLeaseLabel)) log.info({ ns: l.ns, lease: l.id }, 'removed the lease of an interrupted save or load');
    const server = new Server({
      'grpc.max_receive_message_length': config.grpc.max_recv_message_size,
      'grpc.max_send_message_length': config.grpc.max_send_message_size,
    });
    for (const svc of builtins.grpc) server.addService(svc.definition, svc.implementation);
    // Shims forward their events here ($TTRPC_ADDRESS), as containerd serves `<grpc address>.ttrpc`.
    const ttrpc = eventsTtrpcServer(builtins.exchange, log.child({ component: 'events-ttrpc' }));
    try {
      await ttrpc.listen(`${config.grpc.address}.ttrpc`);
      // Shims outlive the daemon: find the running ones again (their dead ones are cleaned) before serving.
      await builtins.shims.load();
      await builtins.recoverBuilds();
      await builtins.networks.reconcile();
      await builtins.restarts.start();
      await bind(server, config.grpc.address);
      chmodSync(config.grpc.address, 0o660);
      chownSync(config.grpc.address, config.grpc.uid, config.grpc.gid);
    } catch (err) {
      server.forceShutdown();
      await builtins.restarts.close();
      await builtins.shims.detachAll();
      await ttrpc.close(0);
      builtins.close();
      throw err;
    }

    const expireLeases = () => {
      try {
        for (const l of builtins.leases.deleteExpired()) log.info({ ns: l.ns, lease: l.id }, 'lease expired');
      } catch (err) {
        log.error({ err }, 'expiring leases failed');
      }
    };
    expireLeases();
    const timers = [setInterval(expireLeases, config.lease_expiry_interval * 1000).unref()];
    // As containerd, collect once shortly after start: a crash may have left files that no row refers to.
    builtins.gc.schedule();

    log.info({ address: config.grpc.address, root: config.root, state: config.state }, 'ctrd serving');
    return new Daemon(config, builtins, server, log, timers, ttrpc);
  }

  /** Stops serving: open streams end, calls in flight get a few seconds, then the socket goes. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('ctrd stopping');
      for (const t of this.timers) clearInterval(t);
      this.builtins.exchange.closeAll();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          this.server.forceShutdown();
          resolve();
        }, 5000);
        this.server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await this.builtins.restarts.close();
      await this.builtins.shims.detachAll();
      await this.ttrpc.close(2000);
      this.builtins.close();
      rmSync(this.config.grpc.address, { force: true });
      this.log.info('ctrd stopped');
    })();
    return this.stopping;
  }
}

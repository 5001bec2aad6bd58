// The daemon's built-in plugins, in dependency order: an explicit list, no registration by import side
// effect. Each entry makes its part from the ones before it; Introspection.Plugins reports the list.
import { join } from 'node:path';
import { hostsConfig, type Config } from '../daemon/config.js';
import type { Logger } from '../lib/log.js';
import { HandlerFactory } from '../lib/grpc/handlers.js';
import { MetadataDB } from './metadata/db.js';
import { Exchange } from './events/exchange.js';
import { ctrdEventsService, eventsService } from './events/grpc.js';
import { LeaseStore } from './leases/store.js';
import { leasesService } from './leases/grpc.js';
import { LocalContentStore } from './content/local-store.js';
import { ContentStore } from './content/store.js';
import { contentService } from './content/grpc.js';
import { NamespaceStore } from './namespaces/store.js';
import { namespacesService } from './namespaces/grpc.js';
import { versionService } from './version/grpc.js';
import { introspectionService } from './introspection/grpc.js';
import { GarbageCollector } from './metadata/gc.js';
import { ImageStore } from './images/store.js';
import { imagesService } from './images/grpc.js';
import { ImageManager, imageEventsOn } from './images/manager.js';
import { ctrdImagesService } from './images/ctrd-grpc.js';
import { Puller } from './images/pull.js';
import { Pusher } from './images/push.js';
import { Unpacker } from './images/unpack.js';
import { ArchiveManager } from './archive/manager.js';
import { Saver } from './archive/save.js';
import { Loader } from './archive/load.js';
import { archiveService } from './archive/grpc.js';
import { WalkingDiffer } from './diff/differ.js';
import { diffService } from './diff/grpc.js';
import { OverlaySnapshotter } from './snapshots/overlay.js';
import { NativeSnapshotter } from './snapshots/native.js';
import { SnapshotStore } from './snapshots/store.js';
import { snapshotsService } from './snapshots/grpc.js';
import { ContainerStore } from './containers/store.js';
import { containersService, containerEventsOn } from './containers/grpc.js';
import { ShimManager } from './tasks/shim-manager.js';
import { tasksService } from './tasks/grpc.js';
import { logDefaultsOf, StreamsManager } from './streams/manager.js';
import { streamsService } from './streams/grpc.js';
import { RestartMonitor } from './restart/monitor.js';
import { SystemInfoReader } from './system/info.js';
import { systemService } from './system/grpc.js';
import { VolumeStore } from './volumes/store.js';
import { VolumeCopier } from './volumes/copy-up.js';
import { volumeEventsOn, volumesService } from './volumes/grpc.js';
import { mountUsersOf } from './volumes/users.js';
import { ContainerFilesystem } from './containerfs/manager.js';
import { ImageMaker } from './containerfs/new-image.js';
import { containerfsService } from './containerfs/grpc.js';
import { Cni } from '../lib/cni/cni.js';
import { NetworkStore } from './networks/store.js';
import { NetworkManager } from './networks/manager.js';
import { ContainerNetworks } from './networks/sandboxes.js';
import { networksService } from './networks/grpc.js';
import { BuildCache } from './build/cache.js';
import { StepContainers } from './build/step-container.js';
import { Builder } from './build/builder.js';
import { buildService } from './build/grpc.js';
import { projectRoot } from '../lib/project-root.js';
import type { GrpcService } from './grpc-service.js';

export interface PluginInfo {
  readonly type: string;
  readonly id: string;
  readonly requires?: readonly string[];
  readonly exports?: Readonly<Record<string, string>>;
  readonly capabilities?: readonly string[];
}

export interface Builtins {
  readonly db: MetadataDB;
  readonly exchange: Exchange;
  readonly leases: LeaseStore;
  readonly content: ContentStore;
  readonly namespaces: NamespaceStore;
  readonly snapshots: SnapshotStore;
  readonly images: ImageStore;
  readonly gc: GarbageCollector;
  readonly shims: ShimManager;
  readonly restarts: RestartMonitor;
  readonly networks: ContainerNetworks;
  /** Removes what builds a crash interrupted left: their step containers and tasks (once shims are loaded). */
  recoverBuilds(): Promise<void>;
  readonly grpc: readonly GrpcService[];
  readonly plugins: readonly PluginInfo[];
  close(): void;
}

export function loadBuiltins(config: Config, log: Logger): Builtins {
  const plugins: PluginInfo[] = [];
  const h = new HandlerFactory(log);

  const contentRoot = join(config.root, 'io.containerd.content.v1.content');
  const local = new LocalContentStore(contentRoot);
  plugins.push({ type: 'io.containerd.content.v1', id: 'content', exports: { root: contentRoot } });

  const metadataPath = join(config.root, 'io.containerd.metadata.v1.sqlite', 'meta.db');
  const db = MetadataDB.open(metadataPath);
  plugins.push({
    type: 'io.containerd.metadata.v1',
    id: 'sqlite',
    requires: ['io.containerd.content.v1'],
    exports: { path: metadataPath },
  });

  const exchange = new Exchange(log.child({ component: 'events' }));
  plugins.push({ type: 'io.containerd.event.v1', id: 'exchange' });

  const leases = new LeaseStore(db);
  plugins.push({ type: 'io.containerd.lease.v1', id: 'manager', requires: ['io.containerd.metadata.v1'] });

  const content = new ContentStore(db, local, leases);
  const gc = new GarbageCollector(db, local, leases, log.child({ component: 'gc' }));
  plugins.push({ type: 'io.containerd.gc.v1', id: 'scheduler', requires: ['io.containerd.metadata.v1'] });
  const images = new ImageStore(db);
  const containers = new ContainerStore(db);
  const namespaces = new NamespaceStore(db, [(ns) => (content.hasIngests(ns) ? ['ingests'] : [])]);
  const snapshotters = [
    new OverlaySnapshotter(join(config.root, 'io.containerd.snapshotter.v1.overlayfs')),
    new NativeSnapshotter(join(config.root, 'io.containerd.snapshotter.v1.native')),
  ];
  for (const s of snapshotters) plugins.push({ type: 'io.containerd.snapshotter.v1', id: s.name, exports: { root: s.root } });
  const snapshots = new SnapshotStore(db, leases, snapshotters, log.child({ component: 'snapshots' }));
  for (const s of snapshotters) gc.addSnapshotter(s.name, (name, id) => snapshots.removeDirectory(name, id));

  const differ = new WalkingDiffer(content, join(config.state, 'diff-mounts'), log.child({ component: 'diff' }));
  plugins.push({ type: 'io.containerd.differ.v1', id: 'walking', requires: ['io.containerd.content.v1'] });
  const imageEvents = imageEventsOn(exchange);
  const imageManager = new ImageManager(
    images,
    content,
    gc,
    imageEvents,
    log.child({ component: 'images' }),
    { containerUsers: (ns) => containers.list(ns, []).map((c) => ({ id: c.id, image: c.image })) },
  );
  const unpacker = new Unpacker(content, leases, snapshots, differ, log.child({ component: 'unpack' }));
  const puller = new Puller(content, images, leases, snapshots, unpacker, gc, imageEvents, log.child({ component: 'pull' }), {
    defaultSnapshotter: config.images.snapshotter,
    concurrency: config.images.max_concurrent_downloads,
    registry: { hosts: hostsConfig(config) },
  });
  const pusher = new Pusher(content, images, leases, log.child({ component: 'push' }), { concurrency: 5, registry: { hosts: hostsConfig(config) } });
  plugins.push({ type: 'io.containerd.grpc.v1', id: 'ctrd-images', requires: ['io.containerd.metadata.v1', 'io.containerd.gc.v1'] });
  const archives = new ArchiveManager(
    new Saver(content, images, imageManager, leases, log.child({ component: 'save' })),
    new Loader(content, images, leases, snapshots, unpacker, gc, imageEvents, log.child({ component: 'load' }), {
      defaultSnapshotter: config.images.snapshotter,
      platform: imageManager.platform,
    }),
  );
  plugins.push({ type: 'io.containerd.grpc.v1', id: 'ctrd-archive', requires: ['io.containerd.metadata.v1', 'io.containerd.gc.v1', 'io.containerd.snapshotter.v1'] });

  const networkLog = log.child({ component: 'networks' });
  const networkStore = new NetworkStore(db);
  const networks = new NetworkManager(
    networkStore,
    { dir: join(config.root, 'io.ctrd.networks.v1'), defaultBridge: config.network.default_bridge, defaultSubnet: config.network.default_subnet },
    networkLog,
  );
  networks.ensureDefault();
  const sandboxes = new ContainerNetworks(
    networkStore,
    networks,
    containers,
    new Cni({ binDirs: config.network.cni_bin_dirs, log: networkLog }),
    join(config.state, 'io.ctrd.networks.v1'),
    networkLog,
  );
  plugins.push({ type: 'io.ctrd.network.v1', id: 'cni', requires: ['io.containerd.metadata.v1'], exports: { conf: networks.confDir } });

  const shims = new ShimManager(
    {
      state: config.state,
      root: config.root,
      grpcAddress: config.grpc.address,
      publishBinary: join(projectRoot, 'bin', 'ctrd.js'),
      runtimes: config.runtimes,
      networking: sandboxes,
    },
    exchange,
    log.child({ component: 'tasks' }),
  );
  plugins.push({ type: 'io.containerd.runtime.v2', id: 'task', requires: ['io.containerd.event.v1', 'io.containerd.metadata.v1', 'io.ctrd.network.v1'] });
  sandboxes.useTasks({ exists: (ns, id) => shims.has(ns, id), pid: (ns, id) => (shims.has(ns, id) ? shims.get(ns, id).taskPid : undefined) });

  const streams = new StreamsManager(join(config.root, 'io.ctrd.logs'), logDefaultsOf(config.logs), containers, shims, log.child({ component: 'streams' }));
  streams.watchDeletes(exchange);
  streams.sweep();
  const containerEvents = containerEventsOn(exchange);
  const restarts = new RestartMonitor(namespaces, containers, containerEvents, snapshots, shims, exchange, log.child({ component: 'restart' }));
  plugins.push({ type: 'io.containerd.monitor.v1', id: 'restart', requires: ['io.containerd.runtime.v2', 'io.containerd.event.v1'] });

  const system = new SystemInfoReader(
    {
      root: config.root,
      state: config.state,
      runtimes: Object.keys(config.runtimes),
      defaultRuntime: 'io.containerd.runc.v2',
      snapshotters: snapshotters.map((s) => s.name),
      defaultSnapshotter: config.images.snapshotter,
    },
    containers,
    images,
    shims,
  );
  const volumesRoot = join(config.root, 'io.ctrd.volumes.v1');
  const volumes = new VolumeStore(
    db,
    volumesRoot,
    (ns) => mountUsersOf(containers.list(ns, [])),
    log.child({ component: 'volumes' }),
    (ns, id) => leases.exists(ns, id),
  );
  const copier = new VolumeCopier(volumes, join(config.state, 'volume-mounts'), log.child({ component: 'volumes' }));
  plugins.push({ type: 'io.ctrd.volume.v1', id: 'local', requires: ['io.containerd.metadata.v1'], exports: { root: volumesRoot } });

  const maker = new ImageMaker(content, images, leases, unpacker, gc, imageEvents, log.child({ component: 'new-image' }));
  const containerfs = new ContainerFilesystem(
    containers, snapshots, shims, images, imageManager, content, differ,
    maker,
    { mountRoot: join(config.state, 'containerfs-mounts'), spoolDir: join(config.root, 'io.ctrd.containerfs.v1', 'spool'), defaultSnapshotter: config.images.snapshotter },
    log.child({ component: 'containerfs' }),
  );

  const buildLog = log.child({ component: 'build' });
  const builder = new Builder(
    {
      content, snapshots, differ, unpacker, imageManager, puller, maker, leases, gc,
      steps: new StepContainers(containers, shims, join(config.state, 'io.ctrd.build.v1', 'fifos'), buildLog),
      cache: new BuildCache(db),
    },
    {
      workRoot: join(config.root, 'io.ctrd.build.v1', 'work'),
      mountRoot: join(config.state, 'io.ctrd.build.v1', 'mounts'),
      defaultSnapshotter: config.images.snapshotter,
      runtime: 'io.containerd.runc.v2',
    },
    buildLog,
  );
  plugins.push({ type: 'io.ctrd.build.v1', id: 'classic', requires: ['io.containerd.runtime.v2', 'io.containerd.differ.v1', 'io.containerd.metadata.v1'] });

  const uuid = db.serverUUID();
  const grpc: GrpcService[] = [
    versionService(h),
    introspectionService(() => plugins, uuid, h),
    namespacesService(namespaces, exchange, h),
    contentService(content, exchange, gc, h),
    leasesService(leases, gc, h),
    imagesService(images, imageEvents, gc, h),
    ctrdImagesService(imageManager, puller, h, pusher),
    archiveService(archives, h),
    diffService(differ, h),
    eventsService(exchange, h),
    ctrdEventsService(exchange, h),
    snapshotsService(snapshots, exchange, gc, h),
    containersService(containers, containerEvents, gc, h),
    tasksService(shims, containers, h),
    streamsService(streams, h),
    systemService(system, h),
    volumesService(volumes, copier, volumeEventsOn(exchange), h),
    containerfsService(containerfs, h),
    networksService(networks, sandboxes, exchange, h),
    buildService(builder, h),
  ];
  const grpcRequires: Record<string, string[]> = {
    version: [],
    introspection: [],
    namespaces: ['io.containerd.metadata.v1', 'io.containerd.event.v1'],
    content: ['io.containerd.content.v1', 'io.containerd.metadata.v1', 'io.containerd.event.v1'],
    leases: ['io.containerd.lease.v1'],
    images: ['io.containerd.metadata.v1', 'io.containerd.gc.v1'],
    diff: ['io.containerd.differ.v1'],
    events: ['io.containerd.event.v1'],
    snapshots: ['io.containerd.snapshotter.v1', 'io.containerd.metadata.v1', 'io.containerd.event.v1'],
    containers: ['io.containerd.metadata.v1', 'io.containerd.event.v1', 'io.containerd.gc.v1'],
    tasks: ['io.containerd.runtime.v2', 'io.containerd.metadata.v1'],
    'ctrd-streams': ['io.containerd.runtime.v2', 'io.containerd.metadata.v1', 'io.containerd.event.v1'],
    'ctrd-events': ['io.containerd.event.v1'],
    'ctrd-system': ['io.containerd.metadata.v1', 'io.containerd.runtime.v2'],
    'ctrd-volumes': ['io.ctrd.volume.v1', 'io.containerd.event.v1'],
    'ctrd-containerfs': ['io.containerd.metadata.v1', 'io.containerd.runtime.v2', 'io.containerd.differ.v1'],
    'ctrd-networks': ['io.ctrd.network.v1', 'io.containerd.runtime.v2', 'io.containerd.event.v1'],
    'ctrd-build': ['io.ctrd.build.v1'],
  };
  for (const [id, requires] of Object.entries(grpcRequires)) plugins.push({ type: 'io.containerd.grpc.v1', id, requires });

  return {
    db,
    exchange,
    leases,
    content,
    namespaces,
    snapshots,
    images,
    gc,
    shims,
    restarts,
    networks: sandboxes,
    recoverBuilds: () => builder.recover(namespaces.list().map((n) => n.name)),
    grpc,
    plugins,
    close: () => {
      streams.close();
      gc.close();
      db.close();
    },
  };
}

// ctrd.services.containerfs.v1.ContainerFilesystemService: docker's diff, cp, export, commit and import for any
// gRPC client, a thin handler over ContainerFilesystem.
import {
  ChangeKind,
  ContainerFilesystemServiceService,
  type ContainerFilesystemServiceServer,
  type CopyInHeader,
  type ImportHeader,
  type NewImage,
  type PathStat,
} from '../../gen/ctrd/services/containerfs/v1/containerfs.js';
import type { HandlerFactory } from '../../lib/grpc/handlers.js';
import { requireNamespace } from '../../lib/grpc/context.js';
import { headerThenData } from '../../lib/grpc/header-then-data.js';
import type { GrpcService } from '../grpc-service.js';
import type { PathInfo } from './archive.js';
import type { ContainerFilesystem, ChangeLetter } from './manager.js';
import type { NewImageResult } from './new-image.js';

const kinds: Record<ChangeLetter, ChangeKind> = {
  A: ChangeKind.CHANGE_KIND_ADDED,
  C: ChangeKind.CHANGE_KIND_MODIFIED,
  D: ChangeKind.CHANGE_KIND_DELETED,
};

const toPbStat = (s: PathInfo): PathStat => ({
  name: s.name,
  size: s.size,
  mode: s.mode,
  mtime: s.mtime,
  linkTarget: s.linkTarget,
  uid: s.uid,
  gid: s.gid,
});

const toPbImage = (r: NewImageResult): NewImage => ({ name: r.image.name, target: r.image.target, id: r.configDigest });

export function containerfsService(fs: ContainerFilesystem, h: HandlerFactory): GrpcService {
  const implementation: ContainerFilesystemServiceServer = {
    changes: h.unary('ContainerFilesystemService.Changes', async (req, ctx) => ({
      changes: (await fs.changes(requireNamespace(ctx), req.containerId)).map((c) => ({ path: c.path, kind: kinds[c.kind] })),
    })),
    stat: h.unary('ContainerFilesystemService.Stat', async (req, ctx) => ({
      stat: toPbStat(await fs.stat(requireNamespace(ctx), req.containerId, req.path)),
    })),
    copyOut: h.serverStream('ContainerFilesystemService.CopyOut', async (req, ctx, send) => {
      await fs.copyOut(
        requireNamespace(ctx),
        req.containerId,
        req.path,
        (part) => ('stat' in part ? send({ stat: toPbStat(part.stat) }) : send({ data: part.data })),
        ctx.signal,
      );
    }),
    copyIn: h.bidi('ContainerFilesystemService.CopyIn', async (requests, ctx, send) => {
      const ns = requireNamespace(ctx);
      const { header, data } = await headerThenData<{ header?: CopyInHeader; data?: Buffer }, CopyInHeader>(requests, (r) => r.header, 'CopyIn');
      const res = await fs.copyIn(
        ns,
        { id: header.containerId, path: header.path, allowOverwriteDirWithFile: header.allowOverwriteDirWithFile, copyUidGid: header.copyUidGid, signal: ctx.signal },
        data,
      );
      await send({ entries: res.entries, size: res.size });
    }),
    export: h.serverStream('ContainerFilesystemService.Export', async (req, ctx, send) => {
      await fs.export(requireNamespace(ctx), req.containerId, (data) => send({ data }), ctx.signal);
    }),
    commit: h.unary('ContainerFilesystemService.Commit', async (req, ctx) => ({
      image: toPbImage(
        await fs.commit(requireNamespace(ctx), {
          id: req.containerId,
          reference: req.reference,
          message: req.message,
          author: req.author,
          changes: req.changes,
          pause: req.pause,
          signal: ctx.signal,
        }),
      ),
    })),
    import: h.bidi('ContainerFilesystemService.Import', async (requests, ctx, send) => {
      const ns = requireNamespace(ctx);
      const { header, data } = await headerThenData<{ header?: ImportHeader; data?: Buffer }, ImportHeader>(requests, (r) => r.header, 'Import');
      const made = await fs.import(
        ns,
        { reference: header.reference, message: header.message, changes: header.changes, source: header.source, snapshotter: header.snapshotter, signal: ctx.signal },
        data,
      );
      await send({ image: toPbImage(made) });
    }),
  };
  return { definition: ContainerFilesystemServiceService, implementation };
}

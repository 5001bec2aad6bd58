// ctrd's own pull (ImageService.Pull) from a test, collecting the streamed progress and the final image.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ImageServiceClient, type PullResponse } from '../../gen/ctrd/services/images/v1/images.js';

export interface PullResult {
  messages: PullResponse[];
  error?: ServiceError;
}

export function pullImage(
  address: string,
  reference: string,
  opts: { snapshotter?: string; namespace?: string; platform?: string; username?: string; password?: string } = {},
): Promise<PullResult> {
  const client = new ImageServiceClient(`unix://${address}`, credentials.createInsecure());
  const md = new Metadata();
  md.set('containerd-namespace', opts.namespace ?? 'default');
  const auth = opts.username ? { username: opts.username, password: opts.password ?? '', token: '' } : undefined;
  const call = client.pull({ reference, platform: opts.platform ?? '', snapshotter: opts.snapshotter ?? '', auth }, md);
  const messages: PullResponse[] = [];
  return new Promise((resolve) => {
    call.on('data', (r: PullResponse) => messages.push(r));
    call.on('error', (error: ServiceError) => {
      client.close();
      resolve({ messages, error });
    });
    call.on('end', () => {
      client.close();
      resolve({ messages });
    });
  });
}

// An image record made by pull, load, commit or import: created, or an existing name pointed at the new target
// (the image it had may become garbage), with the event published after the change.
import { isAlreadyExists } from '../../lib/errdefs.js';
import type { ImageEvents } from './manager.js';
import type { ImageStore } from './store.js';
import type { Image } from './types.js';

export function recordImage(images: ImageStore, events: ImageEvents, ns: string, name: string, target: Image['target']): Image {
  try {
    const image = images.create(ns, { name, labels: {}, target });
    events.created(ns, image);
    return image;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const image = images.update(ns, { name, labels: {}, target }, ['target']);
    events.updated(ns, image);
    return image;
  }
}

// The build context on ctrctl's side, as docker's client prepares it: the directory checked (a symlink loop
// is refused before anything is sent), its .dockerignore read, and the tar of what it leaves (the Dockerfile
// and .dockerignore always go: the daemon reads them, then applies .dockerignore again).
import { readFile, realpath, stat } from 'node:fs/promises';
import { errnoCode, invalidArgument, notFound } from '../../lib/errdefs.js';
import { IgnoreMatcher } from '../../lib/build/dockerignore.js';
import { treeTar } from '../../services/containerfs/archive.js';

export async function openContext(dir: string): Promise<{ root: string; ignore: IgnoreMatcher }> {
  let root: string;
  try {
    root = await realpath(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw notFound(`unable to prepare context: path "${dir}" not found`);
    const why = code === 'ELOOP' ? `lstat ${dir}: too many levels of symbolic links` : (err as Error).message;
    throw invalidArgument(`unable to prepare context: unable to evaluate symlinks in context path: ${why}`);
  }
  if (!(await stat(root)).isDirectory()) throw invalidArgument(`unable to prepare context: context must be a directory: ${dir}`);
  let text = '';
  try {
    text = await readFile(`${root}/.dockerignore`, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  return { root, ignore: IgnoreMatcher.parse(text) };
}

export function contextTar(root: string, ignore: IgnoreMatcher, opts: { always: string[]; signal?: AbortSignal }): AsyncIterable<Buffer> {
  const always = new Set(opts.always.map((p) => p.replace(/^\.?\/+/, '')));
  return treeTar(root, '', {
    signal: opts.signal,
    filter: (name, isDir) => {
      if (always.has(name) || !ignore.excludes(name)) return 'take';
      const holdsAlways = [...always].some((a) => a.startsWith(`${name}/`));
      return isDir && (holdsAlways || ignore.mayIncludeBelow(name)) ? 'below' : 'skip';
    },
  });
}

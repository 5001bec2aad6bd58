// Tar headers for the layers ctrd writes: ustar, with a PAX extended header in front when a field does not
// fit (long or non-ASCII names, large ids or sizes) and for xattrs (SCHILY.xattr.<name>, values as raw
// bytes, as Go's archive/tar writes them). tar-stream's packer writes PAX values as UTF-8 text, which breaks
// binary xattrs such as security.capability, hence this small encoder. Reading stays with tar-stream.

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarEntry {
  /** Relative path, no leading "/"; directories are written with a trailing "/". */
  name: string;
  type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content: regular files only. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The target of a symlink, or the name of the entry a hardlink points to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer>;
}

const blockSize = 512;
export const endOfArchive = Buffer.alloc(2 * blockSize);

const typeflags: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** The zero bytes that pad size bytes of content to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % blockSize;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(blockSize - rest);
}

/** The header blocks of an entry: a PAX header and its records when needed, then the ustar header. */
export function encodeHeader(entry: TarEntry): Buffer {
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? entry.name + '/' : entry.name;
  const pax = new Map<string, Buffer>();

  let ustarName = name;
  let prefix = '';
  if (!isAscii(name)) {
    pax.set('path', Buffer.from(name));
    ustarName = asciiOnly(name).slice(0, 100);
  } else if (name.length > 100) {
    const split = splitUstarPath(name);
    if (split) [prefix, ustarName] = split;
    else {
      pax.set('path', Buffer.from(name));
      ustarName = name.slice(0, 100);
    }
  }

  let linkname = entry.linkname ?? '';
  if (!isAscii(linkname) || linkname.length > 100) {
    pax.set('linkpath', Buffer.from(linkname));
    linkname = asciiOnly(linkname).slice(0, 100);
  }

  const numeric = (key: string, value: number, width: number): number => {
    if (Number.isInteger(value) && value >= 0 && value < 8 ** (width - 1)) return value;
    pax.set(key, Buffer.from(String(value)));
    return 0;
  };
  const uid = numeric('uid', entry.uid, 8);
  const gid = numeric('gid', entry.gid, 8);
  const size = numeric('size', entry.type === 'file' ? entry.size : 0, 12);
  const mtime = numeric('mtime', Math.floor(entry.mtime), 12);

  for (const [key, value] of entry.xattrs ?? []) pax.set(`SCHILY.xattr.${key}`, value);

  const header = ustar({
    name: ustarName,
    prefix,
    mode: entry.mode & 0o7777,
    uid,
    gid,
    size,
    mtime,
    typeflag: typeflags[entry.type],
    linkname,
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  });
  if (pax.size === 0) return header;

  const records = encodePaxRecords(pax);
  const paxHeader = ustar({
    name: `PaxHeaders.0/${asciiOnly(name.replace(/\/$/, '').split('/').pop() ?? '')}`.slice(0, 100),
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, records, padding(records.length), header]);
}

/** PAX records, "<length> <key>=<value>\n" with the length counting itself; values are raw bytes. */
export function encodePaxRecords(records: ReadonlyMap<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const rest = Buffer.byteLength(key) + value.length + 3; // " ", "=" and "\n"
    let length = rest + String(rest).length;
    if (String(length).length + rest !== length) length = rest + String(length).length;
    parts.push(Buffer.from(`${length} ${key}=`), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function ustar(f: UstarFields): Buffer {
  const b = Buffer.alloc(blockSize);
  b.write(f.name, 0, 100, 'ascii');
  octal(b, 100, 8, f.mode);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b.write(f.typeflag, 156, 1, 'ascii');
  b.write(f.linkname, 157, 100, 'ascii');
  b.write('ustar\x0000', 257, 8, 'ascii');
  octal(b, 329, 8, f.devmajor);
  octal(b, 337, 8, f.devminor);
  b.write(f.prefix, 345, 155, 'ascii');
  // The checksum counts its own field as eight spaces.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

/** A number as zero-padded octal digits and a NUL, filling width bytes; values that do not fit go to PAX. */
function octal(b: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  b.write(digits.slice(-(width - 1)) + '\0', offset, width, 'ascii');
}

/** ustar's split of a long name into prefix (up to 155 bytes) and name (up to 100), at a "/". */
function splitUstarPath(name: string): [string, string] | undefined {
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length > 155) return undefined;
    if (rest.length <= 100 && rest !== '') return [prefix, rest];
  }
  return undefined;
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

function asciiOnly(s: string): string {
  return s.replace(/[^\x01-\x7f]/g, '_');
}

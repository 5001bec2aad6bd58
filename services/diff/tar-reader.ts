// Reading layer tars with tar-stream, plus what tar-stream leaves out: it decodes PAX records as UTF-8 text
// (a binary xattr such as security.capability comes out mangled) and ignores the PAX uid, gid and mtime.
// The raw records are kept next to tar-stream's own, and entryMeta reads an entry's header the way Go's
// archive/tar does (PAX over ustar).
import { extract, type Extract, type Header } from 'tar-stream';
import { internal } from '../../lib/errdefs.js';

const rawPax = Symbol('raw PAX records');

interface ExtractInternals {
  _decodeLongHeader?: (buf: Buffer) => void;
  _header: { type: string | null } | null;
  _pax: (Record<string, string> & { [rawPax]?: Map<string, Buffer> }) | null;
}

/** A tar-stream extractor whose entries' headers carry the raw bytes of their PAX records. */
export function tarExtractor(): Extract {
  const ex = extract();
  const internals = ex as unknown as ExtractInternals;
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') {
    throw internal('tar-stream has no _decodeLongHeader: the raw PAX hook needs updating for this version');
  }
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer) {
    decode.call(this, buf);
    if (this._header?.type === 'pax-header' && this._pax) {
      // tar-stream merges a global header into this object; the raw records of this header win.
      const merged = new Map(this._pax[rawPax] ?? []);
      for (const [k, v] of decodePaxRecords(buf)) merged.set(k, v);
      this._pax[rawPax] = merged;
    }
  };
  return ex;
}

/** PAX records: "<length> <key>=<value>\n", values as raw bytes. Stops at the first malformed record. */
export function decodePaxRecords(buf: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < buf.length) {
    const space = buf.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(buf.toString('ascii', offset, space), 10);
    if (!(length > 0) || offset + length > buf.length || space + 1 >= offset + length) break;
    const record = buf.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    offset += length;
  }
  return records;
}

const xattrPrefix = 'SCHILY.xattr.';

export interface EntryMeta {
  uid: number;
  gid: number;
  mode: number;
  /** Seconds since the epoch, maybe fractional. */
  mtime: number;
  atime: number;
  xattrs: Map<string, Buffer>;
}

/** An entry's owner, mode, times and xattrs, PAX records taking precedence over the ustar fields. */
export function entryMeta(header: Header): EntryMeta {
  const pax = (header.pax ?? null) as (Record<string, string> & { [rawPax]?: Map<string, Buffer> }) | null;
  const raw = pax?.[rawPax] ?? new Map<string, Buffer>();
  const text = (key: string): string | undefined => raw.get(key)?.toString('utf8') ?? pax?.[key];
  const int = (key: string, fallback: number): number => {
    const v = text(key);
    const n = v === undefined ? NaN : Number(v);
    return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
  };
  const seconds = (key: string, fallback: number): number => {
    const v = text(key);
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : fallback;
  };
  const mtime = seconds('mtime', header.mtime.getTime() / 1000);
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of raw) if (key.startsWith(xattrPrefix)) xattrs.set(key.slice(xattrPrefix.length), value);
  if (raw.size === 0 && pax) {
    for (const [key, value] of Object.entries(pax)) {
      if (key.startsWith(xattrPrefix)) xattrs.set(key.slice(xattrPrefix.length), Buffer.from(value));
    }
  }
  return {
    uid: int('uid', header.uid),
    gid: int('gid', header.gid),
    mode: header.mode & 0o7777,
    mtime,
    atime: seconds('atime', mtime),
    xattrs,
  };
}

// Users and groups as docker resolves them (USER[:GROUP], names through the image's /etc/passwd and
// /etc/group), for the runtime specs ctrctl makes and the steps the builder runs. Pure: files come in as strings.
import { invalidArgument } from '../errdefs.js';
import type { OciUser } from './spec.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const nonNegativeInt = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = nonNegativeInt(f[2]);
    const gid = nonNegativeInt(f[3]);
    if (!f[0] || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = nonNegativeInt(f[2]);
    if (!f[0] || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

/** Whether a user string needs the image's files: a name anywhere, or a uid without a group. */
export function userNeedsFiles(user: string): boolean {
  return user !== '' && !/^\d+:\d+$/.test(user);
}

/**
 * docker's user resolution (USER[:GROUP], each a name or a number): a name must be in /etc/passwd (or
 * /etc/group); a bare uid takes its passwd gid, or 0; the supplementary groups are the groups that list the
 * user by name. Files that are missing count as empty.
 */
export function resolveUser(user: string, passwdText = '', groupText = ''): OciUser {
  if (user === '') return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':', 2);
  if (userPart === '') throw invalidArgument(`invalid user "${user}"`);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const uidNum = nonNegativeInt(userPart);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (uidNum !== undefined) {
    uid = uidNum;
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (groupPart === '') throw invalidArgument(`invalid user "${user}"`);
    const gidNum = nonNegativeInt(groupPart);
    if (gidNum !== undefined) gid = gidNum;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additional = entry ? groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid) : [];
  return additional.length > 0 ? { uid, gid, additionalGids: [...new Set(additional)] } : { uid, gid };
}

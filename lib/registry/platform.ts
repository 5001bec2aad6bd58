// Platforms as containerd's platforms package has them: specifiers "<os>|<arch>|<os>/<arch>[/<variant>]",
// normalisation (x86_64 -> amd64, aarch64 -> arm64, arm -> arm/v7, arm64/v8 -> arm64), and the ordered
// matcher of platforms.Only (amd64 also runs 386, arm64 also runs arm v8..v5, arm/v7 also v6 and v5).
import { endianness as osEndianness } from 'node:os';
import { invalidArgument } from '../errdefs.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

const knownOS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd',
  'openbsd', 'plan9', 'solaris', 'windows', 'zos',
]);
const knownArch = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle',
  'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);
const specifierComponent = /^[A-Za-z0-9_.-]+$/;

/** Node's process.platform and process.arch in Go's (and OCI's) words. */
function hostOS(): string {
  const os = process.platform as string;
  return os === 'win32' ? 'windows' : os === 'sunos' ? 'solaris' : os;
}

function hostArch(): { architecture: string; variant?: string } {
  switch (process.arch) {
    case 'x64':
      return { architecture: 'amd64' };
    case 'ia32':
      return { architecture: '386' };
    case 'arm64':
      return { architecture: 'arm64' };
    case 'arm': {
      const v = (process.config.variables as Record<string, unknown>).arm_version;
      return { architecture: 'arm', variant: `v${typeof v === 'string' || typeof v === 'number' ? v : 7}` };
    }
    case 'ppc64':
      return { architecture: osEndianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    case 'loong64':
    case 'mips':
    case 'mipsel':
    case 'riscv64':
    case 's390x':
      return { architecture: process.arch === 'mipsel' ? 'mipsle' : process.arch };
    default:
      return { architecture: process.arch };
  }
}

/** The platform of this machine, as containerd's platforms.DefaultSpec(): linux/amd64 on a x86-64 Linux. */
export function defaultPlatform(): Platform {
  const { architecture, variant } = hostArch();
  return normalizePlatform({ os: hostOS(), architecture, ...(variant ? { variant } : {}) });
}

function normalizeOS(os: string): string {
  if (os === '') return hostOS();
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8') v = '';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: a, variant: v };
}

/** The canonical form of a platform (containerd's platforms.Normalize); os.version and os.features are kept. */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: normalizeOS(p.os), architecture };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']) out['os.features'] = p['os.features'];
  return out;
}

/** Parses a platform specifier ("linux/arm64", "linux/arm/v7", "arm64", "linux") into a normalised platform. */
export function parsePlatform(specifier: string): Platform {
  if (specifier.includes('*')) throw invalidArgument(`platform "${specifier}": wildcards not yet supported`);
  const parts = specifier.split('/');
  for (const part of parts) {
    if (!specifierComponent.test(part)) {
      throw invalidArgument(`platform "${specifier}": "${part}" is an invalid component: it must match ${specifierComponent.source}`);
    }
  }
  switch (parts.length) {
    case 1: {
      const os = normalizeOS(parts[0]!);
      if (knownOS.has(os)) {
        const host = hostArch();
        return normalizePlatform({ os, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) });
      }
      const { architecture, variant } = normalizeArch(parts[0]!, '');
      if (knownArch.has(architecture)) return normalizePlatform({ os: hostOS(), architecture, variant });
      throw invalidArgument(`platform "${specifier}": unknown operating system or architecture`);
    }
    case 2:
      return normalizePlatform({ os: parts[0]!, architecture: parts[1]! });
    case 3:
      return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2]! });
    default:
      throw invalidArgument(`platform "${specifier}": cannot parse platform specifier: want <os>|<arch>|<os>/<arch>[/<variant>]`);
  }
}

/** "linux/arm64", "linux/arm/v7"; "unknown" without an OS. */
export function formatPlatform(p: Platform): string {
  if (!p.os) return 'unknown';
  return [p.os, p.architecture, p.variant ?? ''].filter((s) => s !== '').join('/');
}

function samePlatform(want: Platform, have: Platform): boolean {
  const n = normalizePlatform(have);
  return want.os === n.os && want.architecture === n.architecture && (want.variant ?? '') === (n.variant ?? '');
}

/** platformVector: the platform, then the ones it can also run, best first. */
function platformVector(p: Platform): Platform[] {
  const vector: Platform[] = [p];
  const same = (variant: string): Platform => ({ ...p, variant });
  const version = (v: string | undefined) => Number.parseInt((v ?? '').replace(/^v/, ''), 10);
  switch (p.architecture) {
    case 'amd64': {
      const level = version(p.variant);
      if (level > 1) for (let l = level - 1; l >= 1; l--) vector.push(same(`v${l}`));
      vector.push({ os: p.os, architecture: '386' });
      break;
    }
    case 'arm': {
      const v = version(p.variant);
      if (v > 5) for (let l = v - 1; l >= 5; l--) vector.push(same(`v${l}`));
      break;
    }
    case 'arm64': {
      let variant = p.variant || 'v8';
      const [majorPart, minorPart] = variant.split('.', 2);
      let major = version(majorPart);
      if (major >= 8) {
        let minor = minorPart !== undefined && /^\d+$/.test(minorPart) ? Number(minorPart) : 0;
        const name = (maj: number, min: number) => (min === 0 ? `v${maj}` : `v${maj}.${min}`);
        if (major === 9) {
          for (let m = minor - 1; m >= 0; m--) vector.push(same(name(9, m)));
          // v9.x diverged from v8.(x+5)
          minor += 5;
          major = 8;
          vector.push(same(`v8.${minor}`));
        }
        for (let m = minor - 1; m >= 0; m--) vector.push(same(name(major, m)));
      }
      if (variant.startsWith('v8.') || variant.startsWith('v9.')) variant = 'v8';
      vector.push(...platformVector({ os: p.os, architecture: 'arm', variant }));
      break;
    }
  }
  return vector.map(normalizePlatform);
}

/** Matches and orders platforms: containerd's MatchComparer. */
export interface PlatformMatcher {
  /** The platform asked for, normalised. */
  readonly platform: Platform;
  match(p: Platform): boolean;
  /** Negative when a is preferred to b, as for Array.prototype.sort. */
  compare(a: Platform, b: Platform): number;
}

/** platforms.Only: the platform and those it can run, the exact one preferred. */
export function onlyPlatform(platform: Platform | string): PlatformMatcher {
  const want = normalizePlatform(typeof platform === 'string' ? parsePlatform(platform) : platform);
  const vector = platformVector(want);
  const rank = (p: Platform) => {
    const i = vector.findIndex((v) => samePlatform(v, p));
    return i === -1 ? vector.length : i;
  };
  return {
    platform: want,
    match: (p) => rank(p) < vector.length,
    compare: (a, b) => rank(a) - rank(b),
  };
}

/** platforms.OnlyStrict: that platform alone (arm/v7 does not take arm/v6, amd64 does not take 386). */
export function strictPlatform(platform: Platform | string): PlatformMatcher {
  const want = normalizePlatform(typeof platform === 'string' ? parsePlatform(platform) : platform);
  return { platform: want, match: (p) => samePlatform(want, p), compare: () => 0 };
}

// Image references as Docker and containerd read them (distribution/reference: regexp.go, normalize.go):
// "busybox" is docker.io/library/busybox:latest, "user/app" is docker.io/user/app:latest, a first component
// with a dot or a colon, or "localhost", is a registry host.
import { parseDigest, type Digest } from '../digest.js';
import { invalidArgument } from '../errdefs.js';

export interface Reference {
  /** The registry host as written, with its port: "docker.io", "127.0.0.1:5000", "[::1]:5000". */
  domain: string;
  /** The repository path inside the registry: "library/busybox", "test/busybox". */
  path: string;
  tag?: string;
  digest?: Digest;
}

export const defaultDomain = 'docker.io';
const legacyDefaultDomain = 'index.docker.io';
const officialRepoPrefix = 'library/';
const defaultTag = 'latest';
const nameTotalLengthMax = 255;

// The grammar of distribution/reference/regexp.go.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6Address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6Address})(?::[0-9]+)?`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const domainPattern = new RegExp(`^${domainAndPort}$`);
const remoteNamePattern = new RegExp(`^${remoteName}$`);
const identifierPattern = /^[a-f0-9]{64}$/;

/** splitDockerDomain: the host part, or docker.io when the first component cannot be a host. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = defaultDomain;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === legacyDefaultDomain) domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes('/')) remainder = officialRepoPrefix + remainder;
  return { domain, remainder };
}

/**
 * Parses and normalises a reference as `ctr pull` does (ParseDockerRef keeps the digest; ctrd also keeps a tag
 * given beside it). With neither tag nor digest, the tag is "latest". Throws InvalidArgument naming the input.
 */
export function parseReference(input: string): Reference {
  const bad = (why: string) => invalidArgument(`invalid reference "${input}": ${why}`);
  if (input === '') throw invalidArgument('invalid reference "": repository name must have at least one component');
  if (identifierPattern.test(input)) throw bad('cannot specify 64-byte hexadecimal strings as a repository name');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(d)) throw bad(`invalid digest "${d}"`);
    try {
      digest = parseDigest(d);
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  // A tag follows the last ':' after the last '/' (a ':' before it belongs to the host's port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw bad(`invalid tag "${tag}": a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'`);
  }
  if (rest === '') throw bad('repository name must have at least one component');

  const { domain, remainder } = splitDomain(rest);
  if (!domainPattern.test(domain)) throw bad(`invalid registry host "${domain}"`);
  if (remainder.toLowerCase() !== remainder) throw bad(`repository name "${remainder}" must be lowercase`);
  if (!remoteNamePattern.test(remainder)) {
    throw bad(`invalid repository name "${remainder}": components of [a-z0-9] joined by '.', '_', '__' or '-', separated by '/'`);
  }
  if (domain.length + 1 + remainder.length > nameTotalLengthMax) {
    throw bad(`repository name must not be more than ${nameTotalLengthMax} characters`);
  }
  const ref: Reference = { domain, path: remainder };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = defaultTag;
  return ref;
}

/** "docker.io/library/busybox" */
export const repositoryName = (ref: Reference) => `${ref.domain}/${ref.path}`;

/** The full normalised form: "docker.io/library/busybox:latest", "127.0.0.1:5000/x@sha256:...". */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The short form Docker shows: "busybox:latest", "user/app:1", "127.0.0.1:5000/test/busybox:latest". */
export function familiarString(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === defaultDomain) {
    name = ref.path;
    const parts = name.split('/');
    if (parts.length === 2 && parts[0] === 'library') name = parts[1]!;
  }
  return name + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** What a manifest request names: the digest when there is one, else the tag. */
export const referenceObject = (ref: Reference): string => ref.digest ?? ref.tag ?? defaultTag;

/** The reference pinned to a digest (the tag kept), as the image a resolve found. */
export const withDigest = (ref: Reference, digest: Digest): Reference => ({ ...ref, digest });

/** Accepts a reference already parsed, or parses a string. */
export const toReference = (ref: string | Reference): Reference => (typeof ref === 'string' ? parseReference(ref) : ref);

// The shim v2 command line as containerd's Go shims parse it (Go's flag package): single or double dash,
// `-flag value` or `-flag=value`, booleans without a value, flags stop at the first non-flag (the action).
import { invalidArgument } from '../lib/errdefs.js';

export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  /** 'start', 'delete', or '' for the long-lived server. */
  action: '' | 'start' | 'delete';
}

const stringFlags = { namespace: 'namespace', address: 'address', 'publish-binary': 'publishBinary', id: 'id', bundle: 'bundle' } as const;
const boolFlags = { debug: 'debug', v: 'version' } as const;

export function parseFlags(argv: readonly string[]): ShimFlags & { version: boolean } {
  const out = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', debug: false, version: false, action: '' as ShimFlags['action'] };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name in stringFlags) {
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw invalidArgument(`flag needs an argument: -${name}`);
        value = argv[++i]!;
      }
      out[stringFlags[name as keyof typeof stringFlags]] = value;
    } else if (name in boolFlags) {
      const value = eq < 0 ? 'true' : body.slice(eq + 1);
      if (!['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'].includes(value)) {
        throw invalidArgument(`invalid boolean value "${value}" for -${name}`);
      }
      out[boolFlags[name as keyof typeof boolFlags]] = ['true', '1', 't', 'TRUE', 'True'].includes(value);
    } else {
      throw invalidArgument(`flag provided but not defined: -${name}`);
    }
  }
  const rest = argv.slice(i);
  if (rest.length > 1) throw invalidArgument(`unexpected arguments: ${rest.slice(1).join(' ')}`);
  const action = rest[0] ?? '';
  if (action !== '' && action !== 'start' && action !== 'delete') throw invalidArgument(`unknown action "${action}"`);
  out.action = action;
  if (!out.version) {
    if (out.namespace === '') throw invalidArgument('shim namespace cannot be empty');
    if (out.id === '') throw invalidArgument('shim id cannot be empty');
  }
  return out;
}

/** The flags again, for the server copy of the shim (no action) and for error messages. */
export function formatFlags(f: ShimFlags): string[] {
  const args = ['-namespace', f.namespace, '-address', f.address, '-publish-binary', f.publishBinary, '-id', f.id];
  if (f.bundle) args.push('-bundle', f.bundle);
  if (f.debug) args.push('-debug');
  return args;
}

// Container IDs and names as docker makes them (64 random hex digits; "adjective_surname" when no --name is
// given), and finding a container by what a person typed: its full ID, its name, or a unique ID prefix.
import { randomBytes, randomInt } from 'node:crypto';
import { CtrdError, invalidArgument, notFound } from '../../lib/errdefs.js';
import { stateLabels } from '../../lib/container-labels.js';

/** The label ctrctl keeps a container's name in (containerd has no name field; nerdctl uses nerdctl/name). */
export const nameLabel = stateLabels.name;

/** docker's stringid.GenerateRandomID: 64 hex digits, never all decimal (a name could be taken for a number). */
export function newContainerId(): string {
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!/^\d+$/.test(id.slice(0, 12))) return id;
  }
}

// A part of docker's namesgenerator lists: enough for names to rarely clash, short enough to read.
const adjectives = [
  'admiring', 'adoring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'beautiful', 'blissful', 'bold',
  'boring', 'brave', 'busy', 'charming', 'clever', 'compassionate', 'competent', 'condescending', 'confident', 'cool',
  'cranky', 'crazy', 'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic', 'elastic', 'elated',
  'elegant', 'eloquent', 'epic', 'exciting', 'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty',
  'funny', 'gallant', 'gifted', 'goofy', 'gracious', 'great', 'happy', 'hardcore', 'heuristic', 'hopeful',
  'hungry', 'infallible', 'inspiring', 'intelligent', 'interesting', 'jolly', 'jovial', 'keen', 'kind', 'laughing',
  'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying', 'naughty', 'nervous', 'nice', 'nifty',
  'nostalgic', 'objective', 'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical',
  'recursing', 'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly', 'sleepy', 'stoic',
  'strange', 'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'unruffled', 'upbeat', 'vibrant',
  'vigilant', 'vigorous', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];

const surnames = [
  'agnesi', 'albattani', 'allen', 'archimedes', 'babbage', 'banach', 'bardeen', 'bartik', 'bell', 'blackwell',
  'bohr', 'booth', 'borg', 'bose', 'brahmagupta', 'brattain', 'brown', 'carson', 'cerf', 'chandrasekhar',
  'clarke', 'curie', 'darwin', 'diffie', 'dijkstra', 'easley', 'einstein', 'elion', 'engelbart', 'euclid',
  'euler', 'faraday', 'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg', 'goodall',
  'hamilton', 'hawking', 'heisenberg', 'hermann', 'hertz', 'hodgkin', 'hopper', 'hypatia', 'jackson', 'jennings',
  'johnson', 'kalam', 'keller', 'kepler', 'khorana', 'knuth', 'lamarr', 'lamport', 'leakey', 'lovelace',
  'lumiere', 'mayer', 'mccarthy', 'mcclintock', 'meitner', 'mendel', 'merkle', 'morse', 'napier', 'newton',
  'nobel', 'noether', 'pascal', 'pasteur', 'payne', 'perlman', 'pike', 'poincare', 'ramanujan', 'ride',
  'ritchie', 'rosalind', 'sammet', 'shannon', 'shockley', 'sinoussi', 'stonebraker', 'swanson', 'tesla', 'thompson',
  'torvalds', 'turing', 'varahamihira', 'villani', 'wescoff', 'wiles', 'williams', 'wilson', 'wing', 'wozniak',
  'wright', 'yalow', 'yonath',
];

/** docker's namesgenerator.GetRandomName: "adjective_surname", with a digit appended on a retry. */
export function randomName(retry = 0, pick: (n: number) => number = randomInt): string {
  const name = `${adjectives[pick(adjectives.length)]}_${surnames[pick(surnames.length)]}`;
  // Steve Wozniak is not boring (docker's own rule).
  if (name === 'boring_wozniak') return randomName(retry, pick);
  return retry > 0 ? `${name}${pick(10)}` : name;
}

/** docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading "/" is accepted and dropped). */
export function validateName(input: string): string {
  const name = input.startsWith('/') ? input.slice(1) : input;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name) || name.length > 253) {
    throw invalidArgument(`Invalid container name (${input}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name;
}

export interface Named {
  id: string;
  labels: Readonly<Record<string, string>>;
}

export const containerName = (c: Named): string => c.labels[nameLabel] ?? c.id.slice(0, 12);

/**
 * docker's lookup order: a full ID, then a name, then a unique ID prefix. Not found and ambiguous are both
 * "No such container" with what was typed, as docker says them (an ambiguous prefix says so).
 */
export function resolveContainer<C extends Named>(all: readonly C[], input: string): C {
  if (input === '') throw invalidArgument('container name or ID must not be empty');
  const byId = all.find((c) => c.id === input);
  if (byId) return byId;
  const name = input.startsWith('/') ? input.slice(1) : input;
  const byName = all.find((c) => c.labels[nameLabel] === name);
  if (byName) return byName;
  if (/^[0-9a-f]+$/.test(input)) {
    const matches = all.filter((c) => c.id.startsWith(input));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new CtrdError('failed-precondition', `multiple IDs found with provided prefix: ${input}`);
    }
  }
  throw notFound(`No such container: ${input}`);
}

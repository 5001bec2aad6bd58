// Option parsers the verbs share.

/** commander's parser for a repeatable flag (-e A -e B): every value, in order. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

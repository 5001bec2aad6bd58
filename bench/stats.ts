// Summaries of a benchmark's samples.

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** The p-th percentile: the median for 50, interpolating between the two nearest ranks otherwise (as numpy's default). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = ((s.length - 1) * p) / 100;
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** 0 1 1 0 1 0 0 1 ...: whether the i-th round turns its order over (Thue–Morse), so drift weighs on all sides alike. */
export function thueMorse(i: number): boolean {
  let bits = 0;
  for (let n = i; n > 0; n >>= 1) bits += n & 1;
  return bits % 2 === 1;
}

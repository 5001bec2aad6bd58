// The person's terminal during an attached session (ctrctl run -it, start -ai, attach, exec -it): raw mode
// while attached, as it was afterwards. The process's stdio itself goes through ctrd's Streams.Attach
// (attach.ts), never through FIFOs ctrctl holds.
/** Puts the terminal in raw mode for a -t session, and back as it was afterwards. */
export function rawTerminal(enable: boolean): () => void {
  const stdin = process.stdin;
  if (!enable || !stdin.isTTY) return () => undefined;
  const was = stdin.isRaw;
  stdin.setRawMode(true);
  return () => stdin.setRawMode(was);
}

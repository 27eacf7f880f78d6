/**
 * `npm run x` passes SIGTERM to the shell it started, which dies without passing it on. A tool
 * started with `node --import tsx` (not the `tsx` launcher, which would stay between them) sees its
 * parent go, and stops as if it had been signalled, so that it frees its ports.
 */
export function onParentGone(stop: () => void): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
}

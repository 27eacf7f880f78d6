import { ensureConsoleBuilt } from '../../tools/buildConsole.js';

/** Once before every test file: the console the runner serves is built from the current sources. */
export default async function setup(): Promise<void> {
  await ensureConsoleBuilt();
}

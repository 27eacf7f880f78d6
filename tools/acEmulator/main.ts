/** `npm run emulator`: the ActiveCampaign emulator on its own, for `npm start` sessions. */
import { onParentGone } from '../parentWatch.js';
import { EMULATOR_API_KEY, startActiveCampaignEmulator } from './server.js';

const emulator = await startActiveCampaignEmulator({
  port: Number(process.env.EMULATOR_PORT ?? 8081),
  requestsPerSecond: Number(process.env.EMULATOR_REQUESTS_PER_SECOND ?? 5),
  bulkImportsPerMinute: Number(process.env.EMULATOR_BULK_IMPORTS_PER_MINUTE ?? 100),
});
console.log(`ActiveCampaign emulator ready at ${emulator.url}`);
console.log(`  hostname: ${emulator.hostname}  (set ACTIVECAMPAIGN_INSECURE_HOSTS=${emulator.hostname} for the app)`);
console.log(`  API key:  ${EMULATOR_API_KEY}`);
console.log(`  lists:    ${emulator.options.lists.map((l) => `${l.id} (${l.name})`).join(', ')}`);
console.log(`  fields:   ${emulator.options.fields.map((f) => `${f.id} (${f.title}, ${f.type})`).join(', ')}`);
console.log(`  contacts: GET ${emulator.url}/__emulator/contacts?listid=1`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  // Connections are closed, not waited for: a keep-alive client must not hold the port.
  await emulator.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
onParentGone(() => void stop());

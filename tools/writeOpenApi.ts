/** `npm run openapi`: writes the API description to openapi.json (kept in the repository). */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openApiDocument } from '../shared/http/openApiDocument.js';

const file = join(resolve(import.meta.dirname, '..'), 'openapi.json');
writeFileSync(file, JSON.stringify(openApiDocument(), null, 2) + '\n');
console.log(`Wrote ${file}`);

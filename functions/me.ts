import { app } from '@azure/functions';
import { roleOf } from '../shared/auth/principal.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';

/** Who the server takes the caller for (the console shows it and offers only what the role allows). */
export const meHandler = authorized('signedIn', (_request, principal) =>
  json(200, { name: principal.name, role: roleOf(principal) }),
);

app.http('me', { methods: ['GET'], route: apiRoute('me'), authLevel: 'anonymous', handler: meHandler });

/** The app's HTTP API as the tools call it (demo, benchmark): JSON in and out, an error for any 4xx or 5xx. */
export function apiClient(base: string, principal: string) {
  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-ms-client-principal': principal },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json: unknown = await res.json().catch(() => undefined);
    if (res.status >= 400) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json as T;
  };
}

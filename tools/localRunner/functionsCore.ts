/**
 * Provides the module `@azure/functions-core` that the Functions host's worker normally provides.
 * `@azure/functions` looks it up on its first `app.*` call; with this in place the registrations
 * of functions/*.ts (binding metadata and handlers) arrive here instead of being skipped in
 * "test mode". Must be installed before any function module is imported.
 */
import Module from 'node:module';

export interface BindingInfo {
  type: string;
  direction: 'in' | 'out';
  [key: string]: unknown;
}

export interface Registration {
  name: string;
  bindings: Record<string, BindingInfo>;
  handler: (...args: unknown[]) => unknown;
}

export const registrations: Registration[] = [];

const VIRTUAL_PATH = '/__local-runner__/@azure/functions-core.js';
let installed = false;

class Disposable {
  #callback?: () => void;
  constructor(callback: () => void) {
    this.#callback = callback;
  }
  static from(...items: { dispose?: () => void }[]) {
    return new Disposable(() => items.forEach((i) => i.dispose?.()));
  }
  dispose() {
    this.#callback?.();
    this.#callback = undefined;
  }
}

export function installFunctionsCore(log: (m: string) => void = () => {}): void {
  if (installed) return;
  installed = true;
  let programmingModel: unknown;
  const coreApi = {
    version: 'local-runner',
    hostVersion: 'local-runner',
    Disposable,
    setProgrammingModel(model: unknown) {
      programmingModel = model;
    },
    getProgrammingModel() {
      return programmingModel;
    },
    registerFunction(
      metadata: { name: string; bindings: Record<string, BindingInfo> },
      handler: Registration['handler'],
    ) {
      registrations.push({ name: metadata.name, bindings: metadata.bindings, handler });
      return new Disposable(() =>
        registrations.splice(
          registrations.findIndex((r) => r.name === metadata.name),
          1,
        ),
      );
    },
    registerHook() {
      return new Disposable(() => {});
    },
    log(level: string, category: string, message: string) {
      log(`[${level}] ${category}: ${message}`);
    },
  };
  const M = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, unknown>;
  };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === '@azure/functions-core') return VIRTUAL_PATH;
    return original.call(this, request, ...rest);
  };
  const mod = new Module(VIRTUAL_PATH);
  mod.filename = VIRTUAL_PATH;
  mod.loaded = true;
  mod.exports = coreApi;
  M._cache[VIRTUAL_PATH] = mod;
}

/** The trigger binding of a registration. */
export function triggerOf(registration: Registration): BindingInfo {
  const trigger = Object.values(registration.bindings).find((b) => /trigger$/i.test(b.type));
  if (!trigger) throw new Error(`Function ${registration.name} has no trigger binding`);
  return trigger;
}

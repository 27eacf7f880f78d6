/**
 * Bicep cannot be compiled here. The name expressions of infra/main.bicep (its `nameLetters`,
 * `baseName`, `suffix` and `names` variables) use a handful of functions that JavaScript can run as
 * they are written: this evaluates them for a given environment name, so that a test can check the
 * names Azure would get.
 */
import { createHash } from 'node:crypto';

/** A stand-in for Bicep's uniqueString: 13 lower-case letters and digits, deterministic. */
function uniqueString(...values: string[]): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = createHash('sha256').update(values.join('-')).digest();
  return Array.from({ length: 13 }, (_, i) => alphabet[bytes[i] % 32]).join('');
}

/** `var <name> = <expression>` of the file (an object expression spans lines up to its closing brace). */
function variable(bicep: string, name: string): string {
  const start = bicep.search(new RegExp(`^var ${name} = `, 'm'));
  if (start < 0) throw new Error(`infra/main.bicep has no var ${name}`);
  const rest = bicep.slice(start + `var ${name} = `.length);
  if (!rest.startsWith('{')) return rest.slice(0, rest.indexOf('\n'));
  return rest.slice(0, rest.indexOf('\n}') + 2);
}

/**
 * Bicep expression text as JavaScript: comments go, interpolated strings become template literals, object members get
 * commas.
 */
function toJavaScript(expression: string): string {
  return expression
    .replace(/\n\s*\/\/[^\n]*/g, '')
    .replace(/'([^'\n]*\$\{[^'\n]*)'/g, '`$1`')
    .replace(/\n\s*(\w+): /g, ',\n$1: ')
    .replace(/^\{,/, '{');
}

export function bicepNames(
  bicep: string,
  environmentName: string,
  resourceGroupId = '/subscriptions/0000/resourceGroups/rg-test',
): Record<string, string> {
  const scope = {
    environmentName,
    toLower: (s: string) => s.toLowerCase(),
    replace: (s: string, from: string, to: string) => s.split(from).join(to),
    take: (s: string, n: number) => s.slice(0, n),
    empty: (s: string) => s.length === 0,
    uniqueString,
    resourceGroup: () => ({ id: resourceGroupId }),
  } as Record<string, unknown>;
  for (const name of ['nameLetters', 'baseName', 'suffix', 'names']) {
    // The Bicep expression, evaluated as JavaScript over the functions above (test code, over our own file).
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const fn = new Function(...Object.keys(scope), `return (${toJavaScript(variable(bicep, name))});`) as (
      ...args: unknown[]
    ) => unknown;
    scope[name] = fn(...Object.values(scope));
  }
  return scope.names as Record<string, string>;
}

/**
 * The rules the Azure Developer CLI applies to a JavaScript function service, as its source says
 * (Azure/azure-dev, cli/azd/pkg/project/service_target_functionapp.go, project_utils.go,
 * framework_service_node.go, service_manager.go and pkg/tools/node/detect.go), so that a test can
 * check azure.yaml and the staged package against what azd will do with them.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ignore from 'ignore';

export interface AzdService {
  project: string;
  language: string;
  host: string;
  remoteBuild?: boolean;
  hooks?: Record<
    string,
    { posix?: { shell: string; run: string }; windows?: { shell: string; run: string }; shell?: string; run?: string }
  >;
}

/**
 * resolveFunctionAppRemoteBuild for js/ts: no .funcignore means a remote build (node_modules left
 * out); with one, remoteBuild must agree with whether it leaves node_modules out, and unset follows it.
 */
export function remoteBuildOf(service: AzdService, funcignore: string | undefined): boolean {
  if (funcignore === undefined) return service.remoteBuild ?? true;
  const excludesNodeModules = ignore().add(funcignore).ignores('node_modules/');
  if (service.remoteBuild === undefined) return excludesNodeModules;
  if (service.remoteBuild && !excludesNodeModules)
    throw new Error("'remoteBuild: true' requires .funcignore to exclude node_modules");
  if (!service.remoteBuild && excludesNodeModules)
    throw new Error("'remoteBuild: false' cannot be used when .funcignore excludes node_modules");
  return service.remoteBuild;
}

/** IsDependenciesUpToDate for npm: azd's restore skips `npm install` when this holds. */
export function restoreIsSkipped(dir: string): boolean {
  try {
    const lock = statSync(join(dir, 'package-lock.json'));
    statSync(join(dir, 'node_modules'));
    const marker = statSync(join(dir, 'node_modules', '.package-lock.json'));
    return marker.mtimeMs >= lock.mtimeMs;
  } catch {
    return false;
  }
}

/**
 * The files createDeployableZip puts in the zip: .azure, the ignore file and local.settings.json left out, then the
 * ignore file's patterns.
 */
export function zippedFiles(dir: string, funcignore: string | undefined, service: AzdService): string[] {
  const ig = funcignore === undefined ? undefined : ignore().add(funcignore);
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const full = join(at, name);
      const isDir = statSync(full).isDirectory();
      const rel = relative(dir, full).split(sep).join('/');
      if (name === '.azure' && isDir) continue;
      if (name === '.funcignore' && !isDir) continue;
      if (name === 'local.settings.json' && !isDir) continue;
      if (ig ? ig.ignores(isDir ? `${rel}/` : rel) : name === 'node_modules' && isDir && service.remoteBuild !== false)
        continue;
      if (isDir) walk(full);
      else out.push(rel);
    }
  };
  walk(dir);
  return out;
}

/**
 * The service events of each command (service_manager.go: a package restores first; deploy and up
 * package unless given a package), in the order their hooks run.
 */
export const SERVICE_EVENTS: Record<'package' | 'deploy' | 'up', string[]> = {
  package: ['prerestore', 'postrestore', 'prepackage', 'postpackage'],
  deploy: ['prerestore', 'postrestore', 'prepackage', 'postpackage', 'predeploy', 'postdeploy'],
  up: ['prerestore', 'postrestore', 'prepackage', 'postpackage', 'predeploy', 'postdeploy'],
};

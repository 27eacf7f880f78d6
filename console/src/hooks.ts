import { useCallback, useEffect, useRef, useState } from 'react';
import { api, isTerminal, type AcList, type Connection, type Export, type RefreshOutlook, type Run } from './api';

/** Something the page loads from the API: its value, or the error that stopped it. */
export interface Loaded<T> {
  value?: T;
  error?: unknown;
  reload: () => Promise<void>;
}

/** Loads `load(key)`, again when the key changes or on `reload`; `load` must be stable (a module's function). */
export function useLoaded<K, T>(key: K, load: (key: K) => Promise<T>): Loaded<T> {
  const [state, setState] = useState<{ value?: T; error?: unknown }>({});
  // Only the newest load applies: an older answer that arrives late must not overwrite a newer one.
  const newest = useRef(0);
  const reload = useCallback(async () => {
    const call = ++newest.current;
    try {
      const value = await load(key);
      if (call === newest.current) setState({ value });
    } catch (error) {
      if (call === newest.current) setState((s) => ({ ...s, error }));
    }
  }, [key, load]);
  useEffect(() => void reload(), [reload]);
  return { ...state, reload };
}

const connectionsById = async () => new Map((await api.connections()).map((c) => [c.id, c]));

/** One export, with what the scheduled refresh will do next. */
export const useExport = (id: string) => useLoaded<string, Export & { refresh?: RefreshOutlook }>(id, api.getExport);

/** The connections the caller may use, by id. */
export const useConnections = () => useLoaded<undefined, Map<string, Connection>>(undefined, connectionsById);

/**
 * The account's lists, for naming a list ("Newsletter (ID 1)"). A courtesy: a page works without
 * ActiveCampaign answering, so a failure leaves it undefined.
 */
export function useLists(connectionId: string | undefined): AcList[] | undefined {
  const [lists, setLists] = useState<AcList[]>();
  useEffect(() => {
    setLists(undefined);
    if (!connectionId) return;
    let current = true;
    api.lists(connectionId).then(
      (l) => current && setLists(l),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [connectionId]);
  return lists;
}

/** "Newsletter (ID 1)"; a list ActiveCampaign no longer has says so (its runs would fail). */
export function listLabel(listId: number, lists: AcList[] | undefined): string {
  if (!lists) return `ID ${listId}`;
  const list = lists.find((l) => Number(l.id) === listId);
  return list ? `${list.name} (ID ${listId})` : `ID ${listId}: not found in ActiveCampaign (deleted?)`;
}

const PAGE = 10;

/** An export's runs, newest first, a page at a time; looked at again every two seconds while one is active. */
export function useRuns(exportId: string) {
  const [runs, setRuns] = useState<Run[]>([]);
  const [next, setNext] = useState<string>();
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>();

  const reload = useCallback(async () => {
    try {
      const page = await api.runs(exportId, { top: PAGE });
      // The newest page replaces what it covers; older pages the user opened stay.
      const oldest = Date.parse(page.value.at(-1)?.startedAt ?? '0');
      setRuns((current) => [
        ...page.value,
        ...current.filter((r) => !page.value.some((p) => p.runId === r.runId) && Date.parse(r.startedAt) < oldest),
      ]);
      setNext((n) => n ?? page.continuationToken);
      setLoaded(true);
    } catch (e) {
      setError(e);
    }
  }, [exportId]);
  useEffect(() => void reload(), [reload]);

  const active = runs.find((r) => !isTerminal(r));
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void reload(), 2_000);
    return () => clearInterval(timer);
  }, [active, reload]);

  const more = async () => {
    if (!next) return;
    const page = await api.runs(exportId, { top: PAGE, continuationToken: next });
    setRuns((r) => [...r, ...page.value]);
    setNext(page.continuationToken);
  };

  return { runs, loaded, error, active, lastReal: lastRealRun(runs), next, more, reload };
}

/** The newest run that is not a dry run: what the export's outcome is (a dry run sends nothing). */
export const lastRealRun = (runs: readonly Run[]) => runs.find((r) => !r.dryRun);

/** Whether a run was stopped by the removal guard, and so can be confirmed. */
export const stoppedAtGuard = (run: Run | undefined): run is Run & { removals: NonNullable<Run['removals']> } =>
  !!run && run.status === 'failed' && !!run.removals?.exceeded && !run.removals.confirmed;

import { useState } from 'react';
import { api, type StartRunBody } from '../../api';

/**
 * Starting, cancelling and deleting, as the export page does them: one at a time, with the last failure kept to show.
 */
export function useRunActions(exportId: string, afterEach: () => Promise<void>) {
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<unknown>();
  const act = async (label: string, action: () => Promise<unknown>, after = afterEach): Promise<boolean> => {
    setBusy(label);
    setError(undefined);
    try {
      await action();
      await after();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(undefined);
    }
  };
  return {
    busy,
    error,
    start: (label: string, body: StartRunBody) => act(label, () => api.startRun(exportId, body)),
    cancel: (runId: string) => act('cancel', () => api.cancelRun(exportId, runId)),
    remove: () =>
      act(
        'delete',
        () => api.deleteExport(exportId),
        () => Promise.resolve(),
      ),
  };
}

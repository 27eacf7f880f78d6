import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiFailure, type AcField, type AcList, type Connection, type Export, type Preview } from '../../api';
import { navigate } from '../../route';
import {
  bodyOf,
  changesOf,
  draftOf,
  EMPTY_DRAFT,
  FORM_FIELDS,
  formFieldOf,
  inputId,
  listOptionText,
  problemsOf,
  sentence,
  type Draft,
  type FormField,
} from './draft';

export type FieldErrors = Partial<Record<FormField, string>>;

/** Moves focus to the first field with a problem (and so scrolls it into view), after the form has re-rendered. */
function focusFirst(errors: FieldErrors): void {
  const first = FORM_FIELDS.find((f) => errors[f]);
  if (first) setTimeout(() => document.getElementById(inputId(first))?.focus(), 0);
}

/** The state of Add destination (or Edit): the draft, what the account offers, the preview, and saving. */
export function useExportForm(exportId?: string) {
  const [draft, setDraftState] = useState<Draft>(EMPTY_DRAFT);
  // What the person entered, as of their last keystroke or click: Save reads this, so a click on
  // Save right after a change never saves the render before it.
  const latest = useRef<Draft>(EMPTY_DRAFT);
  const setDraft = useCallback((next: Draft | ((d: Draft) => Draft)) => {
    latest.current = typeof next === 'function' ? next(latest.current) : next;
    setDraftState(latest.current);
  }, []);
  const [original, setOriginal] = useState<Export>();
  const [connections, setConnections] = useState<Connection[]>();
  const [lists, setLists] = useState<AcList[]>([]);
  const [fields, setFields] = useState<AcField[]>([]);
  const [accountError, setAccountError] = useState<unknown>();
  const [preview, setPreview] = useState<{ value?: Preview; error?: unknown; busy: boolean }>({ busy: false });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const set = (patch: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...patch }));
    // A field the person changes no longer shows its old problem.
    const touched = Object.keys(patch).map((k) => (k === 'listText' ? 'listId' : k === 'attributes' ? 'fields' : k));
    setErrors((e) =>
      touched.some((k) => k in e) ? Object.fromEntries(Object.entries(e).filter(([k]) => !touched.includes(k))) : e,
    );
  };

  // A load whose effect was cleaned up (another export, or React mounting twice in development)
  // applies nothing: a late answer must never overwrite what the person typed since.
  useEffect(() => {
    let current = true;
    void (async () => {
      try {
        const loaded = await api.connections();
        const e = exportId ? await api.getExport(exportId) : undefined;
        if (!current) return;
        setConnections(loaded);
        if (e) {
          setOriginal(e);
          setDraft(draftOf(e));
        }
      } catch (e) {
        if (current) setError(e);
      }
    })();
    return () => {
      current = false;
    };
  }, [exportId, setDraft]);

  // The account's lists and custom fields, for the pickers; an edited export's list is then named.
  useEffect(() => {
    if (!draft.connectionId) return;
    setAccountError(undefined);
    let current = true;
    void Promise.all([api.lists(draft.connectionId), api.fields(draft.connectionId)]).then(
      ([l, f]) => {
        if (!current) return;
        setLists(l);
        setFields(f);
        setDraft((d) =>
          original && d.listText === String(original.listId) ? { ...d, listText: draftOf(original, l).listText } : d,
        );
      },
      (e) => current && setAccountError(e),
    );
    return () => {
      current = false;
    };
  }, [draft.connectionId, original, setDraft]);

  const before = useMemo(() => (original ? bodyOf(draftOf(original), lists) : undefined), [original, lists]);

  const runPreview = async () => {
    setPreview({ busy: true });
    try {
      const { container, path, table } = latest.current;
      setPreview({
        busy: false,
        value: await api.preview({
          container: container.trim(),
          path: path.trim(),
          ...(table.trim() ? { table: table.trim() } : {}),
        }),
      });
    } catch (e) {
      setPreview({ busy: false, error: e });
    }
  };

  const save = async () => {
    setError(undefined);
    const draft = latest.current;
    const problems = problemsOf(draft);
    setErrors(problems);
    if (Object.keys(problems).length > 0) return focusFirst(problems);
    setSaving(true);
    try {
      const body = bodyOf(draft, lists);
      if (exportId && before) {
        const changes = changesOf(before, body);
        if (Object.keys(changes).length === 0) return navigate(`exports/${exportId}?saved=none`);
        await api.updateExport(exportId, changes);
        navigate(`exports/${exportId}?saved=1`);
      } else {
        navigate(`exports/${(await api.createExport(body)).id}?saved=1`);
      }
    } catch (e) {
      const field = e instanceof ApiFailure ? formFieldOf(e.field) : undefined;
      if (field && e instanceof ApiFailure) {
        const fieldErrors = { [field]: sentence(field, e.detail) };
        setErrors(fieldErrors);
        focusFirst(fieldErrors);
      } else {
        setError(e);
      }
    } finally {
      setSaving(false);
    }
  };

  return {
    draft,
    set,
    loaded: !!connections && (!exportId || !!original),
    connections: connections ?? [],
    lists,
    /** A list just created in the account: added to the picker and chosen. */
    addList: (list: AcList) => {
      setLists((now) => [...now, list]);
      set({ listText: listOptionText(list) });
    },
    fields,
    accountError,
    preview,
    runPreview,
    errors,
    error,
    saving,
    save,
  };
}

export type ExportFormState = ReturnType<typeof useExportForm>;

import { useEffect, useMemo, useState } from 'react';
import { api, ApiFailure, type AcField, type AcList, type Connection, type Export, type Preview } from '../../api';
import { navigate } from '../../route';
import { bodyOf, changesOf, draftOf, EMPTY_DRAFT, FORM_FIELDS, formFieldOf, inputId, problemsOf, sentence, type Draft, type FormField } from './draft';

export type FieldErrors = Partial<Record<FormField, string>>;

/** Moves focus to the first field with a problem (and so scrolls it into view), after the form has re-rendered. */
function focusFirst(errors: FieldErrors): void {
  const first = FORM_FIELDS.find((f) => errors[f]);
  if (first) setTimeout(() => document.getElementById(inputId(first))?.focus(), 0);
}

/** The state of Add destination (or Edit): the draft, what the account offers, the preview, and saving. */
export function useExportForm(exportId?: string) {
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
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
    setErrors((e) => (touched.some((k) => k in e) ? Object.fromEntries(Object.entries(e).filter(([k]) => !touched.includes(k))) : e));
  };

  useEffect(() => {
    void (async () => {
      try {
        setConnections(await api.connections());
        if (exportId) {
          const e = await api.getExport(exportId);
          setOriginal(e);
          setDraft(draftOf(e));
        }
      } catch (e) {
        setError(e);
      }
    })();
  }, [exportId]);

  // The account's lists and custom fields, for the pickers; an edited export's list is then named.
  useEffect(() => {
    if (!draft.connectionId) return;
    setAccountError(undefined);
    void Promise.all([api.lists(draft.connectionId), api.fields(draft.connectionId)]).then(([l, f]) => {
      setLists(l);
      setFields(f);
      setDraft((d) => (original && d.listText === String(original.listId) ? { ...d, listText: draftOf(original, l).listText } : d));
    }, setAccountError);
  }, [draft.connectionId, original]);

  const before = useMemo(() => (original ? bodyOf(draftOf(original), lists) : undefined), [original, lists]);

  const runPreview = async () => {
    setPreview({ busy: true });
    try {
      setPreview({ busy: false, value: await api.preview({ container: draft.container.trim(), path: draft.path.trim(), ...(draft.table.trim() ? { table: draft.table.trim() } : {}) }) });
    } catch (e) {
      setPreview({ busy: false, error: e });
    }
  };

  const save = async () => {
    setError(undefined);
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

  return { draft, set, loaded: !!connections && (!exportId || !!original), connections: connections ?? [], lists, fields, accountError, preview, runPreview, errors, error, saving, save };
}

export type ExportFormState = ReturnType<typeof useExportForm>;

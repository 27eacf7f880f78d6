import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Spinner,
  Text,
} from '@fluentui/react-components';
import { useState } from 'react';
import type { Export, Me, Run } from '../../api';
import { InfoBar, useCommonStyles } from '../../components/common';
import { stoppedAtGuard } from '../../hooks';
import { navigate } from '../../route';
import { ConfirmRemovalsDialog } from './ConfirmRemovalsDialog';
import type { useRunActions } from './useRunActions';

/**
 * Run now, dry run, full resync, edit, delete; and, when the export's last real run stopped at the
 * removal guard, the confirmation of those removals (administrators; a dry run since changes nothing).
 */
export function ExportActions({
  me,
  exp,
  list,
  lastReal,
  active,
  actions,
}: {
  me: Me;
  exp: Export;
  list: string;
  lastReal?: Run;
  active?: Run;
  actions: ReturnType<typeof useRunActions>;
}) {
  const common = useCommonStyles();
  const [dialog, setDialog] = useState<'delete' | 'confirm'>();
  const { busy } = actions;
  const idle = !busy && !active;
  const guarded = stoppedAtGuard(lastReal) ? lastReal : undefined;
  return (
    <>
      <div className={common.toolbar}>
        <Button appearance="primary" disabled={!idle} onClick={() => void actions.start('run', {})}>
          Run now
        </Button>
        <Button disabled={!idle} onClick={() => void actions.start('dry', { dryRun: true })}>
          Dry run
        </Button>
        <Button disabled={!idle} onClick={() => void actions.start('full', { fullSync: true })}>
          Full resync
        </Button>
        {guarded && me.role === 'admin' ? (
          <Button disabled={!idle} onClick={() => setDialog('confirm')}>
            Run and confirm removals
          </Button>
        ) : null}
        <Button disabled={!idle} onClick={() => navigate(`exports/${exp.id}/edit`)}>
          Edit
        </Button>
        <Button disabled={!!busy} onClick={() => setDialog('delete')}>
          Delete
        </Button>
        {busy ? <Spinner size="tiny" label="Working…" /> : null}
      </div>
      {guarded && me.role !== 'admin' ? (
        <InfoBar intent="warning">
          The last run stopped at the removal guard. An administrator can review and confirm its removals on this page.
        </InfoBar>
      ) : null}
      {dialog === 'confirm' && guarded ? (
        <ConfirmRemovalsDialog
          run={guarded}
          list={list}
          onClose={() => setDialog(undefined)}
          onConfirm={() => {
            setDialog(undefined);
            void actions.start('confirm', { confirmRemovals: guarded.runId });
          }}
        />
      ) : null}
      {dialog === 'delete' ? (
        <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && setDialog(undefined)}>
          <DialogSurface aria-label="Delete export">
            <DialogBody>
              <DialogTitle>Delete {exp.displayName}?</DialogTitle>
              <DialogContent>
                <Text>
                  Its schedule stops and an active run is cancelled at once; its state and its runs' files are deleted.
                  Contacts already in ActiveCampaign stay.
                </Text>
              </DialogContent>
              <DialogActions>
                <Button
                  appearance="primary"
                  onClick={() => void actions.remove().then((done) => done && navigate('exports'))}
                >
                  Delete
                </Button>
                <Button onClick={() => setDialog(undefined)}>Cancel</Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
    </>
  );
}

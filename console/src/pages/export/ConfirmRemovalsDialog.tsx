import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Text,
} from '@fluentui/react-components';
import type { Run } from '../../api';
import { formatDate } from '../../components/common';
import { removalsText } from './runText';

/**
 * What an administrator confirms, in numbers and by list, as Delete does: the confirmation covers
 * exactly the removals this stopped run showed. If the segment changed since, the run it starts
 * stops again with the new numbers.
 */
export function ConfirmRemovalsDialog({
  run,
  list,
  onConfirm,
  onClose,
}: {
  run: Run & { removals: NonNullable<Run['removals']> };
  list: string;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const r = run.removals;
  const until = new Date(Date.parse(run.finishedAt ?? run.startedAt) + 24 * 3_600_000).toISOString();
  return (
    <Dialog open modalType="alert" onOpenChange={(_, d) => !d.open && onClose()}>
      <DialogSurface aria-label="Confirm removals">
        <DialogBody>
          <DialogTitle>
            Unsubscribe {r.unsubscribes} contacts from {list}?
          </DialogTitle>
          <DialogContent>
            <Text as="p" block>
              The run of {formatDate(run.startedAt)} stopped before sending anything: it would unsubscribe{' '}
              {removalsText(r)} from {list}, more than the removal guard allows ({r.limitPercent}%: {r.allowed}).
              ActiveCampaign cannot re-subscribe them.
            </Text>
            <Text as="p" block>
              Confirm only if the segment really shrank (a snapshot written only in part shrinks it too). This confirms
              exactly these {r.unsubscribes} removals on this snapshot: if the segment changed since, the run stops
              again and shows the new numbers. The confirmation can be given until {formatDate(until)}.
            </Text>
          </DialogContent>
          <DialogActions>
            <Button appearance="primary" onClick={onConfirm}>
              Unsubscribe {r.unsubscribes} contacts
            </Button>
            <Button onClick={onClose}>Cancel</Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}

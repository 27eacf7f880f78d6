import { makeStyles, tokens } from '@fluentui/react-components';
import type { Run } from '../api';

const useStyles = makeStyles({
  chart: { display: 'block', margin: `${tokens.spacingVerticalS} 0` },
  caption: { color: tokens.colorNeutralForeground3 },
});

const WIDTH = 600;
const HEIGHT = 120;
const RUNS = 20;

/** Contacts sent (upserted and unsubscribed) by the latest runs, oldest on the left. */
export function RunChart({ runs }: { runs: Run[] }) {
  const styles = useStyles();
  const shown = runs
    .filter((r) => !r.dryRun)
    .slice(0, RUNS)
    .reverse();
  if (shown.length === 0) return null;
  const sent = shown.map((r) => r.counts.upserted + r.counts.unsubscribed);
  const max = Math.max(1, ...sent);
  const step = WIDTH / RUNS;
  const summary = `Contacts sent by the last ${shown.length} run(s), oldest first: ${sent.join(', ')}`;
  return (
    <figure>
      <svg
        className={styles.chart}
        width={WIDTH}
        height={HEIGHT + 20}
        viewBox={`0 0 ${WIDTH} ${HEIGHT + 20}`}
        role="img"
        aria-label={summary}
      >
        <line x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} stroke={tokens.colorNeutralStroke1} />
        {shown.map((r, i) => {
          const h = Math.round((sent[i] / max) * (HEIGHT - 10));
          const fill =
            r.status === 'failed'
              ? tokens.colorPaletteRedBackground3
              : r.status === 'completedWithErrors'
                ? tokens.colorPaletteMarigoldBackground3
                : tokens.colorBrandBackground;
          return (
            <rect key={r.runId} x={i * step + 4} y={HEIGHT - h} width={step - 8} height={Math.max(h, 1)} fill={fill}>
              <title>{`${new Date(r.startedAt).toLocaleString()}: ${sent[i]} sent (${r.status})`}</title>
            </rect>
          );
        })}
        <text x={0} y={HEIGHT + 15} fontSize={11} fill={tokens.colorNeutralForeground3}>
          {`max ${max}`}
        </text>
      </svg>
      <figcaption className={styles.caption}>Contacts sent per run</figcaption>
    </figure>
  );
}

import {
  Link,
  MessageBar,
  MessageBarBody,
  Spinner,
  Tab,
  TabList,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { useCallback, useEffect, useState } from 'react';
import { api, describeError, SignInNeeded, type Me } from './api';
import { ActivityPage } from './pages/ActivityPage';
import { ConnectionsPage } from './pages/ConnectionsPage';
import { ExportForm } from './pages/ExportForm';
import { ExportPage } from './pages/ExportPage';
import { ExportsPage } from './pages/ExportsPage';
import { WebhooksPage } from './pages/WebhooksPage';
import { navigate, useRoute } from './route';

const useStyles = makeStyles({
  header: {
    display: 'flex',
    alignItems: 'center',
    gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalM} ${tokens.spacingHorizontalXL}`,
    backgroundColor: tokens.colorBrandBackground,
    color: tokens.colorNeutralForegroundOnBrand,
  },
  title: { fontWeight: tokens.fontWeightSemibold, fontSize: tokens.fontSizeBase400, flexGrow: 1 },
  user: { color: tokens.colorNeutralForegroundOnBrand },
  signOut: { color: tokens.colorNeutralForegroundOnBrand },
  nav: { padding: `0 ${tokens.spacingHorizontalXL}`, borderBottom: `1px solid ${tokens.colorNeutralStroke2}` },
  main: { padding: tokens.spacingHorizontalXL, maxWidth: '1200px' },
  center: { padding: '4rem', maxWidth: '40rem' },
});

const ROLE_NAMES = { admin: 'Administrator', contributor: 'Contributor', none: 'No role' } as const;

export function App() {
  const styles = useStyles();
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [problem, setProblem] = useState<string>();

  const load = useCallback(async () => {
    try {
      setMe(await api.me());
    } catch (error) {
      if (error instanceof SignInNeeded) setMe(null);
      else setProblem(describeError(error));
    }
  }, []);
  useEffect(() => void load(), [load]);

  if (problem) {
    return (
      <main className={styles.center}>
        <MessageBar intent="error">
          <MessageBarBody>{problem}</MessageBarBody>
        </MessageBar>
      </main>
    );
  }
  if (me === undefined)
    return (
      <main className={styles.center}>
        <Spinner label="Loading…" />
      </main>
    );
  if (me === null) {
    return (
      <main className={styles.center}>
        <h1>Segment export to ActiveCampaign</h1>
        <Text as="p">Sign in to set up and watch the exports of your segments into ActiveCampaign lists.</Text>
        <p>
          <Link href="/.auth/login/aad?post_login_redirect_uri=/">Sign in</Link>
        </p>
      </main>
    );
  }
  if (me.role === 'none') {
    return (
      <main className={styles.center}>
        <h1>No access yet</h1>
        <Text as="p">
          You are signed in as {me.name}, but you have no role in this app. Ask an administrator to assign you the
          Exports.Admin or Exports.Contributor role of its app registration.
        </Text>
        <p>
          <Link href="/.auth/logout">Sign out</Link>
        </p>
      </main>
    );
  }

  const [section, id, action] = route;
  const isAdmin = me.role === 'admin';
  const adminSection = isAdmin && (section === 'webhooks' || section === 'activity') ? section : undefined;
  const tab = section === 'connections' ? 'connections' : (adminSection ?? 'exports');
  let page;
  if (section === 'connections') page = <ConnectionsPage me={me} />;
  else if (adminSection === 'webhooks') page = <WebhooksPage />;
  else if (adminSection === 'activity') page = <ActivityPage />;
  else if (id === 'new') page = <ExportForm me={me} />;
  else if (id && action === 'edit') page = <ExportForm me={me} exportId={id} />;
  else if (id) page = <ExportPage me={me} exportId={id} />;
  else page = <ExportsPage />;

  return (
    <>
      <header className={styles.header}>
        <span className={styles.title}>Segment export to ActiveCampaign</span>
        <span className={styles.user}>
          {me.name} · {ROLE_NAMES[me.role]}
        </span>
        <Link className={styles.signOut} href="/.auth/logout">
          Sign out
        </Link>
      </header>
      <nav className={styles.nav} aria-label="Sections">
        <TabList selectedValue={tab} onTabSelect={(_, d) => navigate(String(d.value))}>
          <Tab value="exports">Exports</Tab>
          <Tab value="connections">Connections</Tab>
          {isAdmin ? <Tab value="webhooks">Webhooks</Tab> : null}
          {isAdmin ? <Tab value="activity">Activity</Tab> : null}
        </TabList>
      </nav>
      <main className={styles.main}>{page}</main>
    </>
  );
}

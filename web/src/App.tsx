/**
 * Which view shows: a mailed link (verification, password reset, authenticator reset, unlock), register,
 * login, forgot password, or the trading page once signed in.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, type Tokens } from './api.js';
import { Session } from './session.js';
import { Trading, type PageConfig } from './store.js';
import { AccountPage, linkedView, type AccountView } from './views/Account.js';
import { LoginView, RegisterView, VerifyView } from './views/Auth.js';
import { TradeView } from './views/Trade.js';

type View =
  | { name: 'login'; notice?: string }
  | { name: 'register' }
  | { name: 'verify'; token: string }
  | { name: 'trade' }
  | AccountView;

/** Settings the api writes into the page's meta tags (index.html). */
export function pageConfig(doc: Document): PageConfig {
  const meta = (name: string) => doc.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
  const idle = Number(meta('brokerx:idle-timeout'));
  return {
    temporalUi: meta('brokerx:temporal-ui') || 'http://127.0.0.1:8233',
    temporalNamespace: meta('brokerx:temporal-namespace') || 'default',
    idleTimeoutSeconds: Number.isInteger(idle) && idle > 0 ? idle : undefined,
  };
}

function initialView(): View {
  const query = new URLSearchParams(location.search);
  const token = query.get('token');
  if (location.pathname === '/verify' && token) return { name: 'verify', token };
  return linkedView(location.pathname, query) ?? { name: 'login' };
}

export function App() {
  const config = useMemo(() => pageConfig(document), []);
  const session = useMemo(
    () => new Session({ activity: document, idleTimeoutSeconds: config.idleTimeoutSeconds }),
    [config],
  );
  // An access token the api refuses ends the session, at the api too (it may only have expired).
  const api = useMemo(() => {
    const a: Api = new Api(session.usableToken, () => void session.logout(a));
    return a;
  }, [session]);
  const [view, setView] = useState<View>(initialView);
  const [store, setStore] = useState<Trading | undefined>();

  useEffect(() => {
    session.onEnd = (reason) =>
      setView({
        name: 'login',
        notice:
          reason === 'idle'
            ? 'You were logged out after a while without activity. Log in again.'
            : 'Your session ended. Log in again.',
      });
    session.onToken = (token) => store?.feed.authenticate(token);
  }, [session, store]);

  useEffect(() => {
    if (view.name !== 'trade') {
      store?.stop();
      if (store) setStore(undefined);
    }
    document.title = view.name === 'trade' ? 'BrokerX: trading' : `BrokerX: ${view.name}`;
  }, [view]);

  const signedIn = (tokens: Tokens) => {
    session.start(tokens, api);
    const next = new Trading(api, session, config);
    next.start();
    setStore(next);
    setView({ name: 'trade' });
  };
  /** Leave a mailed link's address, so that a reload does not open the link again. */
  const show = (next: View) => {
    if (location.pathname !== '/') history.replaceState(null, '', '/');
    setView(next);
  };
  const toLogin = (notice?: string) => show({ name: 'login', notice });
  const toForgot = () => show({ name: 'forgot' });

  switch (view.name) {
    case 'verify':
      return <VerifyView api={api} token={view.token} onLogin={toLogin} />;
    case 'register':
      return <RegisterView api={api} onLogin={() => toLogin()} />;
    case 'forgot':
    case 'reset-password':
    case 'reset-authenticator':
    case 'unlock':
      return <AccountPage api={api} view={view} onLogin={toLogin} onForgot={toForgot} />;
    case 'trade':
      return store ? (
        <TradeView
          store={store}
          onLogout={() => {
            session.onEnd = () => {};
            void session.logout(api).then(() => toLogin('You are logged out.'));
          }}
        />
      ) : null;
    default:
      return (
        <LoginView
          api={api}
          notice={view.notice}
          onTokens={signedIn}
          onRegister={() => setView({ name: 'register' })}
          onForgot={toForgot}
        />
      );
  }
}

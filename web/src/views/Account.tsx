/**
 * Getting back into an account: the "forgot password" form, and the pages the api's mails link to
 * (`/reset-password`, `/reset-authenticator`, `/unlock`). Opening a link changes nothing: the page posts
 * its token only when the user presses the button, so a mail scanner that follows links spends none
 * (ADR 0008). Each page ends with the api's answer and a way back to the login. Signed in, the password
 * is changed in `ChangePasswordPanel`.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { useSubmission, type Submission } from '../forms.js';
import { Field, FormActions, FormMessage, Panel } from '../ui.js';
import { EmailField, PasswordField } from './Auth.js';

/** The views of this file, as App.tsx shows them. */
export type AccountView =
  | { name: 'forgot' }
  | { name: 'reset-password'; token: string }
  | { name: 'reset-authenticator'; token: string; cancel: boolean }
  | { name: 'unlock'; token: string };

/** The view a mailed link opens, or undefined when the address is not one (or lacks its token). */
export function linkedView(path: string, query: URLSearchParams): AccountView | undefined {
  const token = query.get('token');
  if (path === '/reset-password') return token ? { name: 'reset-password', token } : { name: 'forgot' };
  if (!token) return undefined;
  if (path === '/reset-authenticator')
    return { name: 'reset-authenticator', token, cancel: query.get('cancel') === '1' };
  if (path === '/unlock') return { name: 'unlock', token };
  return undefined;
}

interface Props {
  api: Api;
  /** Back to the login view, with a note for it. */
  onLogin: (notice?: string) => void;
  /** To the form that mails a new password-reset link. */
  onForgot: () => void;
}

export function AccountPage(p: Props & { view: AccountView }) {
  const { view } = p;
  switch (view.name) {
    case 'forgot':
      return <ForgotPasswordView {...p} />;
    case 'reset-password':
      return <ResetPasswordView {...p} token={view.token} />;
    case 'reset-authenticator':
      return <ResetAuthenticatorView {...p} token={view.token} cancel={view.cancel} />;
    case 'unlock':
      return <UnlockView {...p} token={view.token} />;
  }
}

function Page(p: { title: string; children: ComponentChildren }) {
  return (
    <main class="auth" id="main">
      <h1>{p.title}</h1>
      {p.children}
    </main>
  );
}

const BackToLogin = (p: { onLogin: () => void }) => (
  <button type="button" class="link" onClick={() => p.onLogin()}>
    Back to login
  </button>
);

/** Why a link's token was refused: used, expired or cancelled, or the api's own reason (e.g. 429). */
function linkFailure(submit: Submission): string | undefined {
  const token = submit.errors('token');
  if (token) return `${submit.problem!.message}: the link ${token.join('; ')}.`;
  return submit.general();
}

/** The same answer whether or not the address has an account (the api answers 202 either way). */
export const FORGOT_SENT =
  'If this address has an account, we mailed it a link to set a new password. The link works once, for a short time.';

function ForgotPasswordView(p: Props) {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const submit = useSubmission();
  return (
    <Page title="Forgot your password?">
      {sent ? (
        <FormMessage>{FORGOT_SENT}</FormMessage>
      ) : (
        <form
          aria-label="Forgot password"
          onSubmit={(e) => {
            e.preventDefault();
            void submit.run(async () => {
              await p.api.post('/api/v1/auth/password/forgot', { email }, { anonymous: true });
              setSent(true);
            });
          }}
        >
          <p>Enter the email address of your account: we mail it a link to set a new password.</p>
          <EmailField value={email} onInput={setEmail} errors={submit.errors('email')} />
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Mail me a link" busy={submit.busy}>
            <BackToLogin onLogin={p.onLogin} />
          </FormActions>
        </form>
      )}
      {sent && <BackToLogin onLogin={p.onLogin} />}
    </Page>
  );
}

/**
 * A new password typed twice: the api's messages show under the first input; two different entries are
 * caught here, before anything is sent, and said under the second.
 */
function useNewPassword(name: string) {
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [mismatch, setMismatch] = useState(false);
  return {
    password,
    /** Whether the two entries match (when not, the second input says so). */
    matches(): boolean {
      setMismatch(password !== again);
      return password === again;
    },
    clear() {
      setPassword('');
      setAgain('');
    },
    inputs: (errors: string[] | undefined) => (
      <>
        <PasswordField
          kind="new"
          label="New password"
          name={name}
          value={password}
          onInput={setPassword}
          errors={errors}
        />
        <Field
          label="New password again"
          name={`${name}_again`}
          type="password"
          value={again}
          onInput={setAgain}
          autoComplete="new-password"
          required
          errors={mismatch ? ['does not match the new password'] : undefined}
        />
      </>
    ),
  };
}

function ResetPasswordView(p: Props & { token: string }) {
  const next = useNewPassword('password');
  const submit = useSubmission();
  const failure = linkFailure(submit);
  return (
    <Page title="Set a new password">
      <form
        aria-label="New password"
        onSubmit={(e) => {
          e.preventDefault();
          submit.clear();
          if (!next.matches()) return;
          void submit.run(async () => {
            const res = await p.api.post<{ message: string }>(
              '/api/v1/auth/password/reset',
              { token: p.token, password: next.password },
              { anonymous: true },
            );
            p.onLogin(res.message);
          });
        }}
      >
        <p>Setting a new password ends every session of your account; you then log in with it.</p>
        {next.inputs(submit.errors('password'))}
        <FormMessage error>{failure}</FormMessage>
        <FormActions submit="Set password" busy={submit.busy}>
          {submit.errors('token') ? (
            <button type="button" class="link" onClick={p.onForgot}>
              Mail me a new link
            </button>
          ) : (
            <BackToLogin onLogin={p.onLogin} />
          )}
        </FormActions>
      </form>
    </Page>
  );
}

/**
 * Changing the password while signed in: the current one and a new one (POST
 * /api/v1/auth/password/change). The api keeps this session, ends the others and mails the owner; its
 * refusals show under the input they name (a new password that is too short or otherwise refused), or
 * above the button (a wrong current password, too many attempts).
 */
export function ChangePasswordPanel(p: { api: Api; onClose: () => void }) {
  const [current, setCurrent] = useState('');
  const next = useNewPassword('new_password');
  const [done, setDone] = useState<string | undefined>();
  const submit = useSubmission();
  return (
    <Panel
      title="Change password"
      id="change-password"
      focusTitle
      actions={
        <button type="button" onClick={p.onClose}>
          Close
        </button>
      }
    >
      <FormMessage>{done}</FormMessage>
      <form
        aria-label="Change password"
        class="narrow"
        onSubmit={(e) => {
          e.preventDefault();
          submit.clear();
          setDone(undefined);
          if (!next.matches()) return;
          void submit.run(async () => {
            const res = await p.api.post<{ message: string }>(
              '/api/v1/auth/password/change',
              { current_password: current, new_password: next.password },
              { checksPassword: true },
            );
            setCurrent('');
            next.clear();
            setDone(`${res.message}.`);
          });
        }}
      >
        <p>Your other sessions end (this one stays), and we mail you a notice of the change.</p>
        <PasswordField
          kind="current"
          label="Current password"
          name="current_password"
          value={current}
          onInput={setCurrent}
          errors={submit.errors('current_password')}
        />
        {next.inputs(submit.errors('new_password'))}
        <FormMessage error>{submit.general()}</FormMessage>
        <FormActions submit="Change password" busy={submit.busy} />
      </form>
    </Panel>
  );
}

/** What a link does and a button that posts its token; then the api's answer and the way to the login. */
function TokenAction(p: {
  label: string;
  button: string;
  /** Posts the token; what to show of the api's answer. */
  run: () => Promise<ComponentChildren>;
  onLogin: (notice?: string) => void;
  children: ComponentChildren;
}) {
  const [done, setDone] = useState<ComponentChildren>();
  const submit = useSubmission();
  return (
    <>
      {done ? (
        <>
          <FormMessage>{done}</FormMessage>
          <button type="button" onClick={() => p.onLogin()}>
            Go to login
          </button>
        </>
      ) : (
        <form
          aria-label={p.label}
          onSubmit={(e) => {
            e.preventDefault();
            void submit.run(async () => setDone(await p.run()));
          }}
        >
          {p.children}
          <FormMessage error>{linkFailure(submit)}</FormMessage>
          <FormActions submit={p.button} busy={submit.busy}>
            <BackToLogin onLogin={p.onLogin} />
          </FormActions>
        </form>
      )}
    </>
  );
}

interface Scheduled {
  /** When the app is removed, unless the reset is cancelled before. */
  effective_at: string;
}

/** The links of the authenticator-reset mails: confirm the reset, or (`cancel=1`) stop every pending one. */
function ResetAuthenticatorView(p: Props & { token: string; cancel: boolean }) {
  const post = <T,>(action: string) =>
    p.api.post<T>(`/api/v1/auth/mfa_reset/${action}`, { token: p.token }, { anonymous: true });
  if (p.cancel)
    return (
      <Page title="Cancel the authenticator reset">
        <TokenAction
          label="Cancel the authenticator reset"
          button="Cancel the reset"
          onLogin={p.onLogin}
          run={async () => (await post<{ message: string }>('cancel')).message}
        >
          <p>
            Cancelling stops every pending reset of the authenticator app on your account: the app keeps
            working as before. Cancel if you did not ask for the reset, and change your password then, since
            the reset needed it.
          </p>
        </TokenAction>
      </Page>
    );
  return (
    <Page title="Reset your authenticator app">
      <TokenAction
        label="Confirm the authenticator reset"
        button="Confirm the reset"
        onLogin={p.onLogin}
        run={async () => {
          const res = await post<Scheduled>('confirm');
          return (
            <>
              Confirmed: your authenticator app will be removed on{' '}
              <time dateTime={res.effective_at}>{new Date(res.effective_at).toLocaleString()}</time>. Until
              then logins still ask for it, and a login with it or the cancel link of the mail stops the
              reset.
            </>
          );
        }}
      >
        <p>
          Confirming removes the authenticator app from your account, but only after a waiting period: until
          then logins still ask for the app, and a login with it or a recovery code, a password change, or the
          cancel link of the mail stops the reset. After it, login codes come by mail again and every session
          of your account ends.
        </p>
        <p>If you did not ask for this, do not confirm: someone knows your password. Change it.</p>
      </TokenAction>
    </Page>
  );
}

/** The link of the mail sent when many wrong passwords were tried: lets this device log in again. */
function UnlockView(p: Props & { token: string }) {
  return (
    <Page title="Log in from this device">
      <TokenAction
        label="Unlock login"
        button="Unlock this device"
        onLogin={p.onLogin}
        run={async () =>
          (
            await p.api.post<{ message: string }>(
              '/api/v1/auth/unlock',
              { token: p.token },
              { anonymous: true },
            )
          ).message
        }
      >
        <p>
          Many wrong passwords were tried on your account, so logins from new places are slowed down. Press
          the button on the device you want to log in from, and it may log in right away.
        </p>
      </TokenAction>
    </Page>
  );
}

/**
 * Signing up, following the verification link, and logging in with the password and a second factor: a
 * code, or with an authenticator app one of its recovery codes (where a lost app's reset is asked for
 * too). Getting back in by mail, and changing the password: Account.tsx.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, LoginChallenge, Tokens } from '../api.js';
import { useSubmission } from '../forms.js';
import { CodeField, Field, FormActions, FormMessage, RecoveryCodeField } from '../ui.js';

/** The account's email address, its user name at login. */
export function EmailField(p: {
  value: string;
  onInput: (value: string) => void;
  errors?: string[];
  autoComplete?: 'username' | 'email';
}) {
  return (
    <Field
      label="Email"
      name="email"
      type="email"
      value={p.value}
      onInput={p.onInput}
      autoComplete={p.autoComplete ?? 'username'}
      required
      errors={p.errors}
    />
  );
}

/**
 * A password: the account's `current` one (at login, to confirm a change), or a `new` one being chosen,
 * with the api's rule as its hint. The browser's password manager tells the two apart.
 */
export function PasswordField(p: {
  kind: 'current' | 'new';
  label: string;
  /** The api's name for it. */
  name: string;
  value: string;
  onInput: (value: string) => void;
  errors?: string[];
}) {
  return (
    <Field
      label={p.label}
      name={p.name}
      type="password"
      value={p.value}
      onInput={p.onInput}
      autoComplete={`${p.kind}-password`}
      hint={p.kind === 'new' ? 'At least 8 characters' : undefined}
      required
      errors={p.errors}
    />
  );
}

/** What the recovery-code step says: where the codes come from, and that each is spent. */
export const RECOVERY_NOTE =
  'Enter one of the recovery codes shown when you set up your authenticator app. Each code works once.';

export function LoginView(p: {
  api: Api;
  notice?: string;
  onTokens: (tokens: Tokens) => void;
  onRegister: () => void;
  onForgot: () => void;
}) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [challenge, setChallenge] = useState<LoginChallenge | undefined>();
  const [code, setCode] = useState('');
  // With an authenticator app, one of its recovery codes may stand in for the app's code.
  const [recovery, setRecovery] = useState(false);
  const [recoveryCode, setRecoveryCode] = useState('');
  const submit = useSubmission();

  if (challenge) {
    const app = challenge.mfa_method === 'totp';
    const byRecovery = app && recovery;
    return (
      <main class="auth" id="main">
        <h1>Enter your login code</h1>
        <form
          aria-label="Login code"
          onSubmit={(e) => {
            e.preventDefault();
            void submit.run(async () => {
              const body = byRecovery ? { email, recovery_code: recoveryCode } : { email, code };
              p.onTokens(await p.api.post<Tokens>('/api/v1/auth/verify_mfa', body, { anonymous: true }));
            });
          }}
        >
          {byRecovery ? (
            <>
              <FormMessage>{RECOVERY_NOTE}</FormMessage>
              <RecoveryCodeField
                value={recoveryCode}
                onInput={setRecoveryCode}
                errors={submit.errors('recovery_code')}
              />
            </>
          ) : (
            <>
              <FormMessage>{challenge.message}</FormMessage>
              <CodeField app={app} value={code} onInput={setCode} errors={submit.errors('code')} />
            </>
          )}
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Log in" busy={submit.busy}>
            <button type="button" class="link" onClick={() => setChallenge(undefined)}>
              Start over
            </button>
          </FormActions>
          {app && (
            <div class="other-ways">
              <button
                type="button"
                class="link"
                onClick={() => {
                  submit.clear();
                  setRecovery(!recovery);
                }}
              >
                {recovery ? 'Use the code from your app' : 'Use a recovery code'}
              </button>
              <LostAuthenticator api={p.api} email={email} />
            </div>
          )}
        </form>
      </main>
    );
  }

  return (
    <main class="auth" id="main">
      <h1>Log in to BrokerX</h1>
      <FormMessage>{p.notice}</FormMessage>
      <form
        aria-label="Log in"
        onSubmit={(e) => {
          e.preventDefault();
          void submit.run(async () => {
            setChallenge(
              await p.api.post<LoginChallenge>(
                '/api/v1/auth/login',
                { email, password },
                { anonymous: true },
              ),
            );
            setCode('');
            setRecovery(false);
            setRecoveryCode('');
          });
        }}
      >
        <EmailField value={email} onInput={setEmail} errors={submit.errors('email')} />
        <PasswordField
          kind="current"
          label="Password"
          name="password"
          value={password}
          onInput={setPassword}
          errors={submit.errors('password')}
        />
        <FormMessage error>{submit.general()}</FormMessage>
        <FormActions submit="Continue" busy={submit.busy}>
          <button type="button" class="link" onClick={p.onRegister}>
            Open an account
          </button>
          <button type="button" class="link" onClick={p.onForgot}>
            Forgot password?
          </button>
        </FormActions>
      </form>
    </main>
  );
}

export function RegisterView(p: { api: Api; onLogin: () => void }) {
  const [form, setForm] = useState({
    email: '',
    first_name: '',
    last_name: '',
    password: '',
    date_of_birth: '',
  });
  const [done, setDone] = useState<string | undefined>();
  const submit = useSubmission();
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });

  return (
    <main class="auth" id="main">
      <h1>Open an account</h1>
      {done ? (
        <>
          <FormMessage>{done}</FormMessage>
          <button type="button" onClick={p.onLogin}>
            Back to login
          </button>
        </>
      ) : (
        <form
          aria-label="Open an account"
          onSubmit={(e) => {
            e.preventDefault();
            void submit.run(async () => {
              const client = { ...form, date_of_birth: form.date_of_birth || undefined };
              const res = await p.api.post<{ message: string }>(
                '/api/v1/clients/register',
                { client },
                { anonymous: true },
              );
              setDone(`${res.message}. Follow the link in that mail to activate your account.`);
            });
          }}
        >
          <EmailField
            value={form.email}
            onInput={set('email')}
            autoComplete="email"
            errors={submit.errors('email')}
          />
          <Field
            label="First name"
            name="first_name"
            value={form.first_name}
            onInput={set('first_name')}
            autoComplete="given-name"
            required
            errors={submit.errors('first_name')}
          />
          <Field
            label="Last name"
            name="last_name"
            value={form.last_name}
            onInput={set('last_name')}
            autoComplete="family-name"
            required
            errors={submit.errors('last_name')}
          />
          <PasswordField
            kind="new"
            label="Password"
            name="password"
            value={form.password}
            onInput={set('password')}
            errors={submit.errors('password')}
          />
          <Field
            label="Date of birth (optional)"
            name="date_of_birth"
            type="date"
            value={form.date_of_birth}
            onInput={set('date_of_birth')}
            autoComplete="bday"
            errors={submit.errors('date_of_birth')}
          />
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Open account" busy={submit.busy}>
            <button type="button" class="link" onClick={p.onLogin}>
              I already have an account
            </button>
          </FormActions>
        </form>
      )}
    </main>
  );
}

/** The verification link of the mail (/verify?token=...): activates the account, then offers the login. */
export function VerifyView(p: { api: Api; token: string; onLogin: (notice: string) => void }) {
  const [result, setResult] = useState<{ ok: boolean; message: string } | undefined>();
  useEffect(() => {
    p.api
      .get<{ message: string }>(`/api/v1/clients/verify?token=${encodeURIComponent(p.token)}`, {
        anonymous: true,
      })
      .then(
        (r) => setResult({ ok: true, message: r.message }),
        (err: Error) =>
          setResult({ ok: false, message: `${err.message}. The link may be used, expired or superseded.` }),
      );
  }, [p.token]);
  return (
    <main class="auth" id="main">
      <h1>Email verification</h1>
      {result ? (
        <FormMessage error={!result.ok}>{result.message}</FormMessage>
      ) : (
        <p role="status">Verifying…</p>
      )}
      {result && (
        <button type="button" onClick={() => p.onLogin(result.ok ? 'Your account is active. Log in.' : '')}>
          Go to login
        </button>
      )}
    </main>
  );
}

/**
 * At the login-code step of an account with an authenticator app: a lost app is reset by mail (the
 * password step just taken is what the api requires). Always the api's same answer.
 */
function LostAuthenticator(p: { api: Api; email: string }) {
  const [answer, setAnswer] = useState<string | undefined>();
  const submit = useSubmission();
  if (answer) return <FormMessage>{answer}</FormMessage>;
  return (
    <>
      <FormMessage error>{submit.general()}</FormMessage>
      <button
        type="button"
        class="link"
        disabled={submit.busy}
        onClick={() =>
          void submit.run(async () => {
            const res = await p.api.post<{ message: string }>(
              '/api/v1/auth/mfa_reset/request',
              { email: p.email },
              { anonymous: true },
            );
            setAnswer(res.message);
          })
        }
      >
        Lost your authenticator app?
      </button>
    </>
  );
}

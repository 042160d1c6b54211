/**
 * The second factor while signed in (ADR 0008): first a full re-authentication (POST
 * /api/v1/auth/reauthenticate: the password, then the app's code or one of its recovery codes, or the
 * code the api mails to an account without an app), then, for the few minutes it lasts, set up an
 * authenticator app (QR code, first code, the recovery codes shown once), replace it, or remove it (login
 * codes come by mail again). Each change mails the owner.
 */
import { useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { useSubmission } from '../forms.js';
import { CodeField, FormActions, FormMessage, Panel, RecoveryCodeField } from '../ui.js';
import { PasswordField, RECOVERY_NOTE } from './Auth.js';

type Method = 'email' | 'totp';
interface CodeRequired {
  mfa_method: Method;
  message: string;
}
interface Enrollment {
  secret: string;
  qr_code: string;
}

type Step =
  | { name: 'password' }
  | { name: 'code'; method: Method; message: string }
  | { name: 'ready'; method: Method }
  | { name: 'scan'; method: Method; enrollment: Enrollment }
  | { name: 'done'; message: string; recoveryCodes?: string[] };

export function AuthenticatorPanel(p: { api: Api; onClose: () => void }) {
  const [step, setStep] = useState<Step>({ name: 'password' });
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState(false);
  const submit = useSubmission();
  const go = (next: Step) => {
    submit.clear();
    setCode('');
    setRecovery(false);
    setStep(next);
  };

  /** The password alone (202: which second factor, mailed now if by mail), or with the code (200). */
  const reauthenticate = (factor: Record<string, string>) =>
    submit.run(async () => {
      const res = await p.api.post<Partial<CodeRequired> & { second_factor_required?: boolean }>(
        '/api/v1/auth/reauthenticate',
        { password, ...factor },
        { checksPassword: true },
      );
      const method = res.mfa_method ?? (step.name === 'code' ? step.method : 'email');
      if (res.second_factor_required) go({ name: 'code', method, message: res.message ?? '' });
      else {
        setPassword('');
        go({ name: 'ready', method });
      }
    });

  return (
    <Panel
      title="Authenticator app"
      id="authenticator"
      focusTitle
      actions={
        <button type="button" onClick={p.onClose}>
          Close
        </button>
      }
    >
      {step.name === 'password' && (
        <form
          aria-label="Confirm it is you"
          class="narrow"
          onSubmit={(e) => {
            e.preventDefault();
            void reauthenticate({});
          }}
        >
          <p>
            To set up, replace or remove an authenticator app, confirm it is you: your password, then your
            second factor.
          </p>
          <PasswordField
            kind="current"
            label="Password"
            name="password"
            value={password}
            onInput={setPassword}
            errors={submit.errors('password')}
          />
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Continue" busy={submit.busy} />
        </form>
      )}

      {step.name === 'code' && (
        <form
          aria-label="Confirm with your second factor"
          class="narrow"
          onSubmit={(e) => {
            e.preventDefault();
            void reauthenticate(recovery ? { recovery_code: code } : { code });
          }}
        >
          <FormMessage>{recovery ? RECOVERY_NOTE : step.message}</FormMessage>
          {recovery ? (
            <RecoveryCodeField value={code} onInput={setCode} errors={submit.errors('recovery_code')} />
          ) : (
            <CodeField
              app={step.method === 'totp'}
              value={code}
              onInput={setCode}
              errors={submit.errors('code')}
            />
          )}
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Confirm" busy={submit.busy}>
            {step.method === 'totp' && (
              <button type="button" class="link" onClick={() => setRecovery(!recovery)}>
                {recovery ? 'Use the app instead' : 'Use a recovery code'}
              </button>
            )}
          </FormActions>
        </form>
      )}

      {step.name === 'ready' && (
        <>
          <FormMessage>Confirmed: for the next few minutes you can change your second factor.</FormMessage>
          <p>
            {step.method === 'totp'
              ? 'Logins ask for the code of your authenticator app.'
              : 'Login codes come by mail. An authenticator app makes the codes yours alone.'}
          </p>
          <FormMessage error>{submit.general()}</FormMessage>
          <div class="actions">
            <button
              type="button"
              disabled={submit.busy}
              onClick={() =>
                void submit.run(async () => {
                  const enrollment = await p.api.post<Enrollment>('/api/v1/auth/mfa/totp/setup');
                  go({ name: 'scan', method: step.method, enrollment });
                })
              }
            >
              {step.method === 'totp' ? 'Replace the authenticator app' : 'Set up an authenticator app'}
            </button>
            {step.method === 'totp' && (
              <button
                type="button"
                disabled={submit.busy}
                onClick={() =>
                  void submit.run(async () => {
                    await p.api.delete('/api/v1/auth/mfa/totp');
                    go({
                      name: 'done',
                      message: 'Authenticator app removed: login codes come by mail again.',
                    });
                  })
                }
              >
                Remove the authenticator app
              </button>
            )}
          </div>
        </>
      )}

      {step.name === 'scan' && (
        <form
          aria-label="Activate the authenticator app"
          class="narrow"
          onSubmit={(e) => {
            e.preventDefault();
            void submit.run(async () => {
              const res = await p.api.post<{ message: string; recovery_codes: string[] }>(
                '/api/v1/auth/mfa/totp/activate',
                { code },
              );
              go({ name: 'done', message: res.message, recoveryCodes: res.recovery_codes });
            });
          }}
        >
          <p>Scan this with your authenticator app, or type the key into it; then enter the code it shows.</p>
          <img
            src={step.enrollment.qr_code}
            width={240}
            height={240}
            alt="QR code of the authenticator key"
          />
          <p>
            Key: <code data-testid="totp-secret">{step.enrollment.secret}</code>
          </p>
          <CodeField app value={code} onInput={setCode} errors={submit.errors('code')} />
          <FormMessage error>{submit.general()}</FormMessage>
          <FormActions submit="Activate" busy={submit.busy} />
        </form>
      )}

      {step.name === 'done' && (
        <>
          <FormMessage>{step.message}</FormMessage>
          {step.recoveryCodes && (
            <ul class="recovery-codes" data-testid="recovery-codes">
              {step.recoveryCodes.map((c) => (
                <li key={c}>
                  <code>{c}</code>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Panel>
  );
}

/**
 * The signed-in user's sessions (GET /api/v1/auth/sessions, ADR 0008): when each started and was last
 * used, from where (address and browser of the last use, and of the login when it differs), and an
 * "End" button for every session but this one (DELETE /api/v1/auth/sessions/{id}: its refresh token
 * stops working and its live feed closes at once). This one ends with "Log out".
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { useSubmission } from '../forms.js';
import { FormMessage, Panel, Table } from '../ui.js';

interface Source {
  ip: string | null;
  user_agent: string | null;
}
export interface UserSession {
  session_id: string;
  current: boolean;
  created_at: string;
  last_used_at: string;
  created_from: Source;
  last_used_from: Source;
}

const where = (s: Source) => [s.ip ?? 'unknown address', s.user_agent ?? 'unknown browser'].join(', ');
const when = (iso: string) => <time dateTime={iso}>{new Date(iso).toLocaleString()}</time>;

export function SessionsPanel(p: { api: Api; onClose: () => void }) {
  const [sessions, setSessions] = useState<UserSession[] | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const submit = useSubmission();
  const load = async () =>
    setSessions((await p.api.get<{ sessions: UserSession[] }>('/api/v1/auth/sessions')).sessions);
  useEffect(() => void submit.run(load), []);
  return (
    <Panel
      title="Sessions"
      id="sessions"
      focusTitle
      actions={
        <button type="button" onClick={p.onClose}>
          Close
        </button>
      }
    >
      <p>
        Where your account is logged in. End any session you do not recognise, and change your password if you
        did not log in there.
      </p>
      <FormMessage>{done}</FormMessage>
      <FormMessage error>{submit.general()}</FormMessage>
      {sessions && (
        <Table
          caption="Your sessions"
          hideCaption
          columns={[
            { label: 'Logged in' },
            { label: 'Last used' },
            { label: 'From' },
            { label: 'Action', hidden: true },
          ]}
          items={sessions}
          empty="No sessions."
          testId="sessions"
          row={(s) => {
            const login = where(s.created_from);
            const last = where(s.last_used_from);
            return (
              <tr key={s.session_id} data-session={s.session_id}>
                <td>{when(s.created_at)}</td>
                <td>{when(s.last_used_at)}</td>
                <td>
                  {last}
                  {login !== last && <> (logged in from {login})</>}
                </td>
                <td>
                  {s.current ? (
                    'This session'
                  ) : (
                    <button
                      type="button"
                      aria-label={`End the session last used ${new Date(s.last_used_at).toLocaleString()}`}
                      disabled={submit.busy}
                      onClick={() => {
                        setDone(undefined);
                        void submit.run(async () => {
                          try {
                            await p.api.delete(`/api/v1/auth/sessions/${s.session_id}`);
                            setDone('Session ended.');
                          } finally {
                            await load(); // also when it had ended meanwhile (404)
                          }
                        });
                      }}
                    >
                      End
                    </button>
                  )}
                </td>
              </tr>
            );
          }}
        />
      )}
    </Panel>
  );
}

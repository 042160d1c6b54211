/** Submitting a form to the api: busy while it runs, the refusal (with its per-field messages) after. */
import { useState } from 'preact/hooks';
import { ApiProblem } from './api.js';

export interface Submission {
  busy: boolean;
  problem: ApiProblem | undefined;
  /** Messages for one input, by the name the api uses for it. */
  errors(field: string): string[] | undefined;
  /** The refusal's text that no field carries (its headline, unless a field carries the reason). */
  general(): string | undefined;
  run(action: () => Promise<void>): Promise<void>;
  clear(): void;
}

export function useSubmission(): Submission {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | undefined>();
  return {
    busy,
    problem,
    errors: (field) => problem?.fields[field],
    general: () => problem?.formMessage(),
    async run(action) {
      setBusy(true);
      setProblem(undefined);
      try {
        await action();
      } catch (err) {
        setProblem(
          err instanceof ApiProblem
            ? err
            : new ApiProblem({ status: 0, code: 'error', message: String(err), errors: [] }),
        );
      } finally {
        setBusy(false);
      }
    },
    clear: () => setProblem(undefined),
  };
}

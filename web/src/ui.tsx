/** Small accessible building blocks: labelled fields with their errors, form-level errors. */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

export interface FieldProps {
  label: string;
  name: string;
  value: string;
  onInput: (value: string) => void;
  errors?: string[];
  type?: 'text' | 'email' | 'password' | 'date';
  inputMode?: 'text' | 'decimal' | 'numeric' | 'email';
  autoComplete?: string;
  required?: boolean;
  hint?: string;
}

interface ControlProps {
  id: string;
  invalid: boolean;
  /** aria attributes for the control: its hint and its errors describe it. */
  aria: { 'aria-invalid'?: 'true'; 'aria-describedby'?: string };
}

/** Label, control, hint and the api's messages for one input; the messages are announced with it. */
function FieldShell(p: {
  label: string;
  name: string;
  errors?: string[];
  hint?: string;
  control: (c: ControlProps) => ComponentChildren;
}) {
  const id = useId();
  const invalid = !!p.errors?.length;
  const describedBy = [p.hint ? `${id}-hint` : '', invalid ? `${id}-error` : ''].filter(Boolean).join(' ');
  const aria = {
    'aria-invalid': invalid ? ('true' as const) : undefined,
    'aria-describedby': describedBy || undefined,
  };
  return (
    <div class={`field${invalid ? ' invalid' : ''}`} data-field={p.name}>
      <label for={id}>{p.label}</label>
      {p.control({ id, invalid, aria })}
      {p.hint && (
        <small id={`${id}-hint`} class="hint">
          {p.hint}
        </small>
      )}
      {invalid && (
        <p id={`${id}-error`} class="field-error">
          {p.errors!.join('; ')}
        </p>
      )}
    </div>
  );
}

/** A labelled text input (the api validates; its messages for the field show under it). */
export function Field(p: FieldProps) {
  return (
    <FieldShell
      label={p.label}
      name={p.name}
      errors={p.errors}
      hint={p.hint}
      control={({ id, aria }) => (
        <input
          id={id}
          name={p.name}
          // Preact types each input type's attributes apart; one component serves them all.
          {...({ type: p.type ?? 'text' } as { type: 'text' })}
          inputMode={p.inputMode}
          autoComplete={p.autoComplete ?? 'off'}
          required={p.required}
          value={p.value}
          {...aria}
          onInput={(e) => p.onInput(e.currentTarget.value)}
        />
      )}
    />
  );
}

/** The one-time code of the second factor: from the authenticator app, or mailed. */
export function CodeField(p: {
  app: boolean;
  value: string;
  onInput: (v: string) => void;
  errors?: string[];
}) {
  return (
    <Field
      label={p.app ? 'Code from your authenticator app' : 'Code from the email we sent you'}
      name="code"
      value={p.value}
      onInput={p.onInput}
      inputMode="numeric"
      autoComplete="one-time-code"
      required
      errors={p.errors}
    />
  );
}

/** One of an authenticator app's recovery codes, standing in for the app's code (single use). */
export function RecoveryCodeField(p: { value: string; onInput: (v: string) => void; errors?: string[] }) {
  return (
    <Field
      label="Recovery code"
      name="recovery_code"
      value={p.value}
      onInput={p.onInput}
      hint="Like ABCDE-FGHIJ"
      required
      errors={p.errors}
    />
  );
}

export interface SelectProps<T extends string> {
  label: string;
  name: string;
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (value: T) => void;
  errors?: string[];
}

export function Select<T extends string>(p: SelectProps<T>) {
  return (
    <FieldShell
      label={p.label}
      name={p.name}
      errors={p.errors}
      control={({ id, aria }) => (
        <select
          id={id}
          name={p.name}
          value={p.value}
          {...aria}
          onChange={(e) => p.onChange(e.currentTarget.value as T)}
        >
          {p.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    />
  );
}

/** A form's buttons: its submit button (disabled while the form is busy), then its other actions. */
export function FormActions(p: { submit: string; busy: boolean; children?: ComponentChildren }) {
  return (
    <div class="actions">
      <button type="submit" disabled={p.busy}>
        {p.submit}
      </button>
      {p.children}
    </div>
  );
}

/** Messages that belong to the whole form (announced when they appear). */
export function FormMessage({ error, children }: { error?: boolean; children?: ComponentChildren }) {
  if (!children) return null;
  return (
    <p class={error ? 'form-error' : 'form-note'} role={error ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

export function Panel(p: {
  title: string;
  id: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
  /** Take the focus to the title when shown (a panel that opens on request, such as order details). */
  focusTitle?: boolean;
}) {
  const title = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (p.focusTitle) title.current?.focus();
  }, [p.focusTitle]);
  return (
    <section class="panel" aria-labelledby={`${p.id}-title`} id={p.id}>
      <header class="panel-head">
        <h2 id={`${p.id}-title`} ref={title} tabIndex={p.focusTitle ? -1 : undefined}>
          {p.title}
        </h2>
        {p.actions}
      </header>
      {p.children}
    </section>
  );
}

export interface Fact {
  label: string;
  value: ComponentChildren;
  testId?: string;
}

/** Label and value pairs (cash, quote, an order's facts). */
export function Facts({ items, class: cls }: { items: Fact[]; class: string }) {
  return (
    <dl class={cls}>
      {items.map((f) => (
        <div key={f.label}>
          <dt>{f.label}</dt>
          <dd data-testid={f.testId}>{f.value}</dd>
        </div>
      ))}
    </dl>
  );
}

export interface Column {
  label: string;
  /** Right-aligned numbers. */
  num?: boolean;
  /** Read by screen readers only. */
  hidden?: boolean;
}

/** A table with a caption, column heads, a line when empty, and one row (or more) per item. */
export function Table<T>(p: {
  caption: string;
  hideCaption?: boolean;
  class?: string;
  columns: Column[];
  items: T[];
  empty: string;
  row: (item: T) => ComponentChildren;
  testId?: string;
}) {
  return (
    <table class={p.class}>
      <caption class={p.hideCaption ? 'sr-only' : undefined}>{p.caption}</caption>
      <thead>
        <tr>
          {p.columns.map((c) => (
            <th key={c.label} scope="col" class={c.num ? 'num' : undefined}>
              {c.hidden ? <span class="sr-only">{c.label}</span> : c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody data-testid={p.testId}>
        {p.items.length === 0 && (
          <tr>
            <td colSpan={p.columns.length}>{p.empty}</td>
          </tr>
        )}
        {p.items.map(p.row)}
      </tbody>
    </table>
  );
}

/** Labelled form controls that show their validation message under the field. */
import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { ApiError } from '../api/client.ts';

interface FieldProps {
  label: string;
  hint?: ReactNode;
  error?: string;
}

function FieldFrame({ label, hint, error, id, children }: FieldProps & { id: string; children: ReactNode }) {
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && !error && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function TextField({ label, hint, error, ...input }: FieldProps & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <FieldFrame label={label} hint={hint} error={error} id={id}>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined} {...input} />
    </FieldFrame>
  );
}

export function SelectField({ label, hint, error, children, ...select }: FieldProps & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <FieldFrame label={label} hint={hint} error={error} id={id}>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined} {...select}>
        {children}
      </select>
    </FieldFrame>
  );
}

export function CheckField({ label, hint, ...input }: { label: string; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field check">
      <input id={id} type="checkbox" aria-describedby={hint ? `${id}-hint` : undefined} {...input} />
      <label htmlFor={id}>{label}</label>
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

/**
 * Splits a failed request into the message for one field and the rest: `forField('password')`
 * is the server's complaint about the password, `general` anything not tied to a shown field.
 */
export function fieldErrors(error: unknown, shownFields: string[]) {
  const e = error instanceof ApiError ? error : undefined;
  // `headers.X-Foo` or `sourceAddresses.2` belong to the field `headers` or `sourceAddresses`.
  const onField = e?.field ? shownFields.find((f) => e.field === f || e.field!.startsWith(`${f}.`)) : undefined;
  const message = (name: string) => {
    const m = e!.message;
    if (m.startsWith(`${name}: `)) return m.slice(name.length + 2);
    return m.startsWith(`${name}.`) ? m.slice(name.length + 1) : m;
  };
  return {
    forField: (name: string) => (onField === name ? message(name) : undefined),
    general: onField ? undefined : error,
  };
}

/** The shared frame of the login and sign-up pages. */
import { useEffect, useRef, type FormEvent, type ReactNode } from 'react';

export function AuthFrame({ title, children, footer, onSubmit }: { title: string; children: ReactNode; footer: ReactNode; onSubmit: (e: FormEvent) => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · sipswitch`;
    heading.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <main className="auth">
      <div className="auth-card">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={32} height={32} />
          <span>sipswitch</span>
        </div>
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        <form onSubmit={onSubmit} noValidate>
          {children}
        </form>
        <p className="auth-footer">{footer}</p>
      </div>
    </main>
  );
}

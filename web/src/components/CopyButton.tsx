import { useState } from 'react';

/** Copies `text` to the clipboard and says so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 1500);
    } catch {
      // Clipboard access refused (insecure origin or permissions): the text is selectable on the page.
    }
  };
  return (
    <button type="button" className="btn small ghost" onClick={copy} aria-label={`${label}: ${text}`}>
      {done ? 'Copied' : label}
    </button>
  );
}

/**
 * The editor's look, following the page's light or dark scheme: its chrome drawn with the
 * portal's own colours (CSS variables), and syntax colours readable on either background.
 * (@lezer/highlight comes with @codemirror/language; its tags name what gets a colour.)
 */
import { defaultHighlightStyle, HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { Compartment, type Extension } from '@codemirror/state';
import { EditorView, ViewPlugin } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

const darkHighlight = HighlightStyle.define([
  { tag: [t.keyword, t.moduleKeyword, t.controlKeyword, t.operatorKeyword], color: '#d49cf5' },
  { tag: [t.string, t.special(t.string)], color: '#a5d68a' },
  { tag: [t.number, t.bool, t.null, t.atom], color: '#f0b27a' },
  { tag: [t.comment, t.lineComment, t.blockComment], color: '#8b95a7', fontStyle: 'italic' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: '#7cb8ff' },
  { tag: t.definition(t.variableName), color: '#f2d38a' },
  { tag: t.propertyName, color: '#9ecbff' },
  { tag: [t.operator, t.regexp], color: '#7fd6d6' },
  { tag: [t.typeName, t.className], color: '#f2d38a' },
  { tag: t.invalid, color: '#ff7a6e' },
]);

const chrome = (dark: boolean) =>
  EditorView.theme(
    {
      '&': { backgroundColor: 'var(--surface)', color: 'var(--text)' },
      '.cm-gutters': { backgroundColor: 'var(--surface-2)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
      '.cm-activeLine': { backgroundColor: dark ? 'rgba(255, 255, 255, 0.04)' : 'rgba(36, 86, 214, 0.05)' },
      '.cm-activeLineGutter': { backgroundColor: dark ? 'rgba(255, 255, 255, 0.07)' : 'rgba(36, 86, 214, 0.09)' },
      '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
      '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground': {
        backgroundColor: dark ? '#2f4a7a' : '#cfdcf9',
      },
      '.cm-tooltip': { backgroundColor: 'var(--surface)', color: 'var(--text)', border: '1px solid var(--border)' },
      '.cm-tooltip-autocomplete > ul > li[aria-selected]': { backgroundColor: 'var(--accent)', color: 'var(--accent-text)' },
    },
    { dark },
  );

const scheme = window.matchMedia('(prefers-color-scheme: dark)');
const schemeExtensions = (dark: boolean): Extension => [chrome(dark), syntaxHighlighting(dark ? darkHighlight : defaultHighlightStyle)];

/** The theme for the current scheme, switched when the system's scheme changes. */
export function editorTheme(): Extension {
  const compartment = new Compartment();
  const follow = ViewPlugin.define((view) => {
    const onChange = () => view.dispatch({ effects: compartment.reconfigure(schemeExtensions(scheme.matches)) });
    scheme.addEventListener('change', onChange);
    return { destroy: () => scheme.removeEventListener('change', onChange) };
  });
  return [compartment.of(schemeExtensions(scheme.matches)), follow];
}

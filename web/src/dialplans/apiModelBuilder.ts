/**
 * The dialplan API as the editor knows it, read from its declaration file
 * (contract/dialplan-api.d.ts) with the TypeScript grammar CodeMirror already ships: the sandbox's
 * globals, their members, signatures and doc comments. Built from the file's text, so that Node
 * (the unit tests) can build it as well as the portal (apiModel.ts, which bundles the file).
 */
import { typescriptLanguage } from '@codemirror/lang-javascript';
import type { SyntaxNode } from '@lezer/common';

export interface ApiEntry {
  name: string;
  kind: 'function' | 'variable' | 'property' | 'method';
  /** The type, or `(params) => result` for functions and methods. */
  detail: string;
  doc?: string;
  /** What `name.` offers. */
  members(): ApiEntry[];
  /** What `name().` offers (a promise's value: `(await name()).`). */
  returns(): ApiEntry[];
}

export interface ApiModel {
  globals: ApiEntry[];
  global(name: string): ApiEntry | undefined;
}

export function buildApiModel(declarations: string): ApiModel {
  const text = (n: SyntaxNode | null | undefined) => (n ? declarations.slice(n.from, n.to) : '');

  /** A type as the completion list shows it: an object literal by its member names (`{ user, host, uri }`). */
  function typeText(n: SyntaxNode | null | undefined): string {
    if (n?.name !== 'ObjectType') return text(n);
    const names: string[] = [];
    for (let m = n.firstChild; m; m = m.nextSibling) {
      if (m.name === 'PropertyType' || m.name === 'MethodType')
        names.push(`${text(m.getChild('PropertyDefinition'))}${m.getChild('Optional') ? '?' : ''}${m.name === 'MethodType' ? '()' : ''}`);
      else if (m.name === 'IndexSignature') names.push('[name]');
    }
    return `{ ${names.join(', ')} }`;
  }

  function docBefore(node: SyntaxNode): string | undefined {
    const prev = node.prevSibling;
    if (prev?.name !== 'BlockComment') return undefined;
    const raw = text(prev);
    if (!raw.startsWith('/**')) return undefined;
    return raw
      .replace(/^\/\*\*\s*|\s*\*\/$/g, '')
      .split('\n')
      .map((l) => l.replace(/^\s*\* ?/, ''))
      .join('\n')
      .trim();
  }

  const tree = typescriptLanguage.parser.parse(declarations);
  const named = new Map<string, SyntaxNode>();
  const ambient: SyntaxNode[] = [];
  for (let n = tree.topNode.firstChild; n; n = n.nextSibling) {
    if (n.name === 'InterfaceDeclaration') {
      const body = n.getChild('ObjectType');
      if (body) named.set(text(n.getChild('TypeDefinition')), body);
    } else if (n.name === 'TypeAliasDeclaration') {
      const def = n.getChild('TypeDefinition');
      const value = def?.nextSibling?.nextSibling;
      if (value?.name === 'ObjectType') named.set(text(def), value);
    } else if (n.name === 'AmbientDeclaration') ambient.push(n);
  }

  /** Members of a type: an object type literal, a named interface, or a Promise of one of those. */
  const membersOf = (type: SyntaxNode | null | undefined): ApiEntry[] => {
    if (!type) return [];
    if (type.name === 'ObjectType') {
      const out: ApiEntry[] = [];
      for (let m = type.firstChild; m; m = m.nextSibling) {
        if (m.name === 'PropertyType') {
          const ann = m.getChild('TypeAnnotation');
          const t = ann?.lastChild;
          out.push(entry(text(m.getChild('PropertyDefinition')), 'property', `${typeText(t)}${m.getChild('Optional') ? ' | undefined' : ''}`, docBefore(m), t, null));
        } else if (m.name === 'MethodType') {
          const ret = m.getChild('TypeAnnotation')?.lastChild;
          out.push(entry(text(m.getChild('PropertyDefinition')), 'method', `${text(m.getChild('ParamList'))} => ${text(ret)}`, docBefore(m), null, ret));
        }
      }
      return out;
    }
    if (type.name === 'TypeName') return membersOf(named.get(text(type)));
    if (type.name === 'ParameterizedType' && text(type.getChild('TypeName')) === 'Promise') {
      return membersOf(type.getChild('TypeArgList')?.firstChild?.nextSibling);
    }
    return [];
  };

  const entry = (
    name: string,
    kind: ApiEntry['kind'],
    detail: string,
    doc: string | undefined,
    type: SyntaxNode | null | undefined,
    ret: SyntaxNode | null | undefined,
  ): ApiEntry => ({
    name,
    kind,
    detail: detail.replace(/\s+/g, ' '),
    doc,
    members: () => membersOf(type),
    returns: () => membersOf(ret),
  });

  const globals: ApiEntry[] = [];
  for (const n of ambient) {
    const doc = docBefore(n);
    const v = n.getChild('VariableDeclaration');
    const f = n.getChild('AmbientFunctionDeclaration');
    if (v) {
      const t = v.getChild('TypeAnnotation')?.lastChild;
      const typeName = t?.name === 'TypeName' ? text(t) : undefined;
      const typeDoc = typeName ? docBefore(named.get(typeName)?.parent ?? n) : undefined;
      globals.push(entry(text(v.getChild('VariableDefinition')), 'variable', typeText(t), doc ?? typeDoc, t, null));
    } else if (f) {
      const ret = f.getChild('TypeAnnotation')?.lastChild;
      globals.push(entry(text(f.getChild('VariableDefinition')), 'function', `${text(f.getChild('ParamList'))} => ${text(ret)}`, doc, null, ret));
    }
  }
  const byName = new Map(globals.map((g) => [g.name, g]));
  return { globals, global: (name) => byName.get(name) };
}

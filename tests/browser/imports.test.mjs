// The front-end's modules import in one direction: no module of static/ reaches itself
// through its imports. Reads the files only (no server, no browser); an import of a file, or
// of a name, that does not exist fails here too, rather than as an error in some page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const staticDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static');

/** `import … from '…'`, `export … from '…'` and bare `import '…'`, over several lines too. */
const IMPORT = /^\s*(?:import|export)\s(?:[^'"`;]*?\sfrom\s)?\s*['"]([^'"]+)['"]/gm;

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

/** `import { a, b as c } from '…'`: the names asked for, and from where. */
const NAMED_IMPORT = /^\s*import\s*\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/gm;
/** `export function f`, `export const x`, `export class C`, `export { a, b as c }`. */
const DECLARED_EXPORT = /^\s*export\s+(?:async\s+)?(?:function\*?|class|const|let|var)\s+([\w$]+)/gm;
const LISTED_EXPORT = /^\s*export\s*\{([^}]*)\}/gm;

const resolveFrom = (file, specifier) => (specifier.startsWith('/')
  ? join(staticDir, specifier)
  : resolve(dirname(file), specifier));

const names = (list) => list.split(',').map((item) => item.trim()).filter(Boolean);

/** File → the files it imports; `/x.js` is served from static/, `./x.js` is relative. */
function importGraph() {
  const graph = new Map();
  for (const file of jsFiles(staticDir)) {
    const source = readFileSync(file, 'utf8');
    graph.set(file, [...source.matchAll(IMPORT)].map(([, specifier]) => resolveFrom(file, specifier)));
  }
  return graph;
}

function exportedNames(file) {
  const source = readFileSync(file, 'utf8');
  return new Set([
    ...[...source.matchAll(DECLARED_EXPORT)].map(([, name]) => name),
    ...[...source.matchAll(LISTED_EXPORT)].flatMap(([, list]) => names(list).map((item) => item.split(/\s+as\s+/).pop())),
  ]);
}

/** Every cycle found by a depth-first walk, each as the files along it (first = last). */
function cycles(graph) {
  const found = [];
  const done = new Set();
  const path = [];
  const onPath = new Set();
  const visit = (file) => {
    path.push(file);
    onPath.add(file);
    for (const next of graph.get(file) ?? []) {
      if (onPath.has(next)) found.push([...path.slice(path.indexOf(next)), next]);
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    onPath.delete(file);
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) if (!done.has(file)) visit(file);
  return found;
}

const name = (file) => `/${relative(staticDir, file)}`;

test('every import in static/ names a file that exists', () => {
  const missing = [];
  for (const [file, targets] of importGraph()) {
    for (const target of targets) if (!existsSync(target)) missing.push(`${name(file)} → ${name(target)}`);
  }
  assert.deepEqual(missing, []);
});

test('every name imported in static/ is exported by its module', () => {
  const unknown = [];
  for (const file of jsFiles(staticDir)) {
    for (const [, list, specifier] of readFileSync(file, 'utf8').matchAll(NAMED_IMPORT)) {
      const target = resolveFrom(file, specifier);
      if (!existsSync(target)) continue; // reported above
      const exported = exportedNames(target);
      for (const item of names(list)) {
        const imported = item.split(/\s+as\s+/)[0];
        if (!exported.has(imported)) unknown.push(`${name(file)}: ${imported} from ${name(target)}`);
      }
    }
  }
  assert.deepEqual(unknown, []);
});

test('no module in static/ imports itself, directly or through others', () => {
  const graph = importGraph();
  assert.ok(graph.size > 10, `found ${graph.size} modules in ${staticDir}`);
  const loops = cycles(graph).map((cycle) => cycle.map(name).join(' → '));
  assert.deepEqual(loops, [], `import cycles:\n  ${loops.join('\n  ')}`);
});

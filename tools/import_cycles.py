#!/usr/bin/env python3
"""Import cycles among the server's source files (src/; the load generator is a package of its own, load/).

A file depends on the files whose items it names (`use crate::…`, `crate::…` paths) and on the
modules it declares (`mod x;`). Prints every strongly connected group of two or more files and
exits 1 if there is one; tests/architecture.rs runs it. Comments and `#[cfg(test)]` tails are
left out: tests may reach anywhere.

    python3 tools/import_cycles.py [src]
"""
import re, os, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
files = {}
for dp, dn, fn in os.walk(root):
    for f in fn:
        if f.endswith('.rs'):
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == 'mod': parts = parts[:-1]
            if parts == ['lib'] or parts == ['main']: parts = ['crate']
            files['::'.join(parts)] = open(p).read()
mods = set(files)
def resolve(path):
    # longest module prefix of path
    segs = path.split('::')
    for n in range(len(segs), 0, -1):
        cand = '::'.join(segs[:n])
        if cand in mods: return cand
    return None
edges = {m: set() for m in mods}
for m, src in files.items():
    # strip comments and tests
    src = re.sub(r'//.*', '', src)
    src = src.split('#[cfg(test)]')[0]
    # expand use crate::{a, b::{c}} roughly
    for use in re.findall(r'use crate::(\{[^;]*\}|[^;]*);', src, re.S):
        body = use.strip()
        def expand(prefix, b):
            b = b.strip()
            if b.startswith('{') and b.endswith('}'):
                depth=0; cur=''; items=[]
                for ch in b[1:-1]:
                    if ch=='{': depth+=1
                    if ch=='}': depth-=1
                    if ch==',' and depth==0: items.append(cur); cur=''
                    else: cur+=ch
                items.append(cur)
                out=[]
                for it in items:
                    it=it.strip()
                    if not it: continue
                    if '::' in it and not it.startswith('{'):
                        head, rest = it.split('::',1)
                        out += expand(prefix+[head], rest)
                    else:
                        out += expand(prefix, it) if it.startswith('{') else [prefix+[it.split(' as ')[0]]]
                return out
            if '::' in b:
                head, rest = b.split('::',1)
                return expand(prefix+[head], rest)
            return [prefix+[b.split(' as ')[0]]]
        for p in expand([], body):
            t = resolve('::'.join(p))
            if t and t != m: edges[m].add(t)
    for p in re.findall(r'crate::((?:[a-z_]+::)*[a-z_A-Z]+)', src):
        t = resolve(p)
        if t and t != m: edges[m].add(t)
    # a module depends on the modules it declares (and so re-exports from)
    for child in re.findall(r'^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;', src, re.M):
        t = (m + '::' + child) if m != 'crate' else child
        if t in mods: edges[m].add(t)
# Tarjan SCC
index={}; low={}; st=[]; on=set(); sccs=[]; i=[0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v]=low[v]=i[0]; i[0]+=1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in index: sc(w); low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        comp=[]
        while True:
            w=st.pop(); on.discard(w); comp.append(w)
            if w==v: break
        if len(comp)>1: sccs.append(sorted(comp))
for v in mods:
    if v not in index: sc(v)
for c in sccs:
    print(len(c), c)
    for a in c:
        print('   ', a, '->', sorted(e for e in edges[a] if e in c))
sys.exit(1 if sccs else 0)

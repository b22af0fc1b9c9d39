"""The documentation site, built locally and read in a real browser; and the GitHub workflows, checked statically.

`cgankd.docs.build_docs` runs nbdev's docs processing over the saved notebooks (nothing is re-executed beyond what nbdev
itself runs for `show_doc`) and renders every page with nbconvert. `check_site` then opens each page in Chromium
(Playwright, headless, every request outside the local server refused) and reports:

- a page that does not load, or logs a console error, a page error or a failed request;
- an exported name (`cgankd/_modidx.py` `syms`) without its show_doc block on its module's page;
- a plotly output that is not a plotly graph div with data (a figure saved as JSON only, which Quarto cannot show);
- a widget output without a static snapshot (an image, a table or a figure) in its cell or the next code cell;
- an internal link to a page or anchor that does not exist.

A deliberately broken fixture site shows that each of the first checks fails when it should. Screenshots of the home
page, one API page and one tutorial go to `test-artifacts/`.

Run alone: `python -m pytest -x -q tests/test_docs.py`. The processed notebooks are kept in `_docs_local/_proc/` between
runs (nbdev's own cache rule: a notebook is processed again when it, the library or settings.ini changed)."""
import json, shutil, subprocess, sys, threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from conftest import ROOT
pytestmark = pytest.mark.xdist_group('docs')  # one worker builds this file's shared run (pytest -n: --dist loadgroup)

CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run']
ARTIFACTS = ROOT/'test-artifacts'
PLOTLY_MIME = 'application/vnd.plotly.v1+json'

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def public_syms(syms:dict) -> dict:
    "The names nbdev gives a show_doc block on their own: top-level, public, from `_modidx.py`'s `syms` -> {name: doc url}."
    res = {}
    for mod, names in syms.items():
        for name, (url, _) in names.items():
            q = name[len(mod) + 1:]
            if '.' not in q and not q.startswith('_'): res[name] = url
    return res

def plotly_outputs(proc_nb:Path) -> int:
    "Plotly figures among a processed notebook's saved outputs (counted from the notebook, not from the built page)."
    n = 0
    for c in json.loads(proc_nb.read_text())['cells']:
        for o in c.get('outputs', []):
            d = o.get('data', {})
            h = ''.join(d.get('text/html', ''))
            if PLOTLY_MIME in d or 'plotly-graph-div' in h: n += 1
    return n

_PAGE_JS = """() => {
  const hs = 'h1,h2,h3,h4,h5,h6';
  const q = (sel, root) => [...(root || document).querySelectorAll(sel)];
  return {
    ids: q('[id]').map(e => e.id),
    showdoc: q('.celltag_showdoc').flatMap(b => q(hs, b).map(h => h.textContent.trim())),
    links: q('a[href]').map(a => a.href),
    plotly: q('.cgankd-plotly').map(w => { const g = w.querySelector('.plotly-graph-div');
      return {div: !!g, traces: g && g._fullData ? g._fullData.length : 0, svg: !!(g && g.querySelector('.main-svg'))}; }),
    widgets: q('.cgankd-widget').map(w => { const cell = w.closest('.jp-Cell'); const cands = [cell];
      let n = cell && cell.nextElementSibling; while (n && !n.classList.contains('jp-CodeCell')) n = n.nextElementSibling;
      if (n) cands.push(n);
      return cands.some(c => c && c.querySelector('.jp-OutputArea img, .jp-OutputArea table, .jp-OutputArea .main-svg')); }),
  };
}"""

def check_site(site:Path, syms:dict, proc:Path, shots:dict|None=None) -> dict:
    "Open every built page of `site` in Chromium; return {'problems': [...], 'pages': {html: what the page showed}}."
    from playwright.sync_api import sync_playwright
    man = json.loads((site/'_manifest.json').read_text())
    problems = [f"nbdev's processing failed: {e.splitlines()[0]}" for e in man['errors']]
    problems += [f"in the navigation but not built: {m}" for m in man['missing']]
    srv = ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base, seen = f'http://127.0.0.1:{srv.server_address[1]}/', {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
                ctx.route('**/*', lambda r: r.continue_() if r.request.url.startswith((base, 'data:')) else r.abort())
                for p in man['pages']:
                    page, errs = ctx.new_page(), []
                    page.on('console', lambda m, errs=errs: m.type == 'error' and errs.append(f'console: {m.text}'))
                    page.on('pageerror', lambda e, errs=errs: errs.append(f'page error: {e}'))
                    page.on('requestfailed', lambda r, errs=errs: errs.append(f'request failed: {r.url[:120]}'))
                    resp = page.goto(base + p['html'], wait_until='load')
                    if resp is None or resp.status != 200: problems.append(f"{p['html']}: does not load"); page.close(); continue
                    if p['plotly']:
                        try: page.wait_for_function("() => [...document.querySelectorAll('.cgankd-plotly .plotly-graph-div')]"
                                                    ".every(g => g.querySelector('.main-svg'))", timeout=20_000)
                        except Exception: pass  # reported below, figure by figure
                    info = seen[p['html']] = page.evaluate(_PAGE_JS)
                    problems += [f"{p['html']}: {e}" for e in errs]
                    n = plotly_outputs(proc/p['src']) if (proc/p['src']).suffix == '.ipynb' else 0
                    if len(info['plotly']) != n: problems.append(f"{p['html']}: {n} plotly outputs saved, {len(info['plotly'])} on the page")
                    for i, f in enumerate(info['plotly']):
                        if not (f['div'] and f['traces'] and f['svg']):
                            problems.append(f"{p['html']}: plotly figure {i + 1} does not render (a graph div with data): {f}")
                    for i, ok in enumerate(info['widgets']):
                        if not ok: problems.append(f"{p['html']}: widget {i + 1} has no snapshot (image, table or figure) beside it")
                    for key, path in (shots or {}).items():
                        if path and key == p['html']:
                            if info['plotly']: page.locator('.cgankd-plotly').first.scroll_into_view_if_needed()
                            page.screenshot(path=str(path))
                    page.close()
            finally: browser.close()
    finally: srv.shutdown(); srv.server_close()
    for name, url in public_syms(syms).items():
        html, q = url.partition('#')[0], name.rsplit('.', 1)[-1]
        if html not in seen: problems.append(f"{name}: its module's page {html} was not built")
        elif q not in seen[html]['showdoc']: problems.append(f"{name}: no show_doc block for {q} on {html}")
    broken = {}
    for html, info in seen.items():
        for href in info['links']:
            if not href.startswith(base): continue
            path, _, frag = href[len(base):].partition('#')
            path = path.split('?')[0] or 'index.html'
            if path.endswith('/'): path += 'index.html'
            if not (site/path).is_file(): key = (html, path)
            elif frag and path in seen and frag not in seen[path]['ids']: key = (html, f'{path}#{frag}')
            else: continue
            broken[key] = broken.get(key, 0) + 1
    problems += [f"{h}: broken link to {t}" + (f" ({n} links)" if n > 1 else '') for (h, t), n in broken.items()]
    return dict(problems=problems, pages=seen, manifest=man)

# ---- the real site -------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def real_site(tmp_path_factory):
    from cgankd.docs import build_docs
    site = tmp_path_factory.mktemp('site')
    r = build_docs(ROOT/'nbs', site, n_workers=2, proc=ROOT/'_docs_local'/'_proc')
    return site, r

def test_real_site(real_site):
    from cgankd._modidx import d
    site, r = real_site
    pages = r['pages']
    assert pages[0]['html'] == 'index.html' and len(pages) >= 20
    api = next(p['html'] for p in pages if p['html'] == 'readers.html')
    tut = next((p['html'] for p in pages if p['html'].startswith('tutorials/') and p['plotly']),
               next(p['html'] for p in pages if p['html'].startswith('tutorials/')))
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {'index.html': ARTIFACTS/'docs_home.png', api: ARTIFACTS/'docs_api.png', tut: ARTIFACTS/'docs_tutorial.png'}
    res = check_site(site, d['syms'], ROOT/'_docs_local'/'_proc', shots)
    for s in shots.values(): print(f'screenshot: {s}')
    slow = sorted(r['processed'], key=lambda x: -x['seconds'])[:3]
    print('slowest to process:', [(Path(x['src']).name, x['seconds']) for x in slow])
    # what the checks looked at, so that a pass means something
    assert sum(len(i['showdoc']) for i in res['pages'].values()) > 200 and len(public_syms(d['syms'])) > 200
    assert sum(len(i['plotly']) for i in res['pages'].values()) >= 1 and all(s.exists() for s in shots.values())
    (ARTIFACTS/'docs_problems.txt').write_text('\n'.join(res['problems']) + '\n')
    assert not res['problems'], f"{len(res['problems'])} problems (also in {ARTIFACTS/'docs_problems.txt'}):\n" + '\n'.join(res['problems'])

# ---- a deliberately broken site: each check must fail --------------------------------------------------------------

def _nb(*cells):
    import nbformat
    return nbformat.v4.new_notebook(cells=list(cells), metadata={'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}})

def write_fixture(root:Path) -> dict:
    "A two-page notebooks folder with a missing show_doc block, a plotly figure saved as JSON only, a widget without snapshot and a broken link; returns its syms."
    import nbformat, plotly.graph_objects as go
    from nbformat.v4 import new_markdown_cell as md, new_code_cell as code, new_output as out
    root.mkdir(parents=True)
    fig = go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2]))
    fig_json = json.loads(fig.to_json())
    good_fig = out('display_data', data={PLOTLY_MIME: fig_json, 'text/html': fig.to_html(full_html=False, include_plotlyjs=False)})
    nbformat.write(_nb(md('# Fixture\n\n> A site with known defects.'),
                       md('See [the module](01_fixmod.ipynb#good), and [a page that does not exist](nothere.ipynb).')),
                   root/'index.ipynb')
    nbformat.write(_nb(md('# fixmod\n\n> Two exported functions, one documented.'), code('#| default_exp fixmod'),
                       code('#| export\ndef good(x:int # a number\n        ) -> int:\n    "Documented: nbdev adds its show_doc block."\n    return x'),
                       code('#| export\n#| hide\ndef missing():\n    "Exported from a hidden cell: no show_doc block."'),
                       code('fig', outputs=[good_fig]),
                       code('fig_json_only', outputs=[out('display_data', data={PLOTLY_MIME: fig_json, 'text/plain': 'Figure()'})]),
                       code('widget', outputs=[out('display_data', data={'application/vnd.jupyter.widget-view+json':
                           {'model_id': 'abc', 'version_major': 2, 'version_minor': 0}, 'text/plain': 'Widget'})]),
                       md('No snapshot follows the widget.')),
                   root/'01_fixmod.ipynb')
    return {'fixmod': {'fixmod.good': ('fixmod.html#good', 'fixmod.py'), 'fixmod.missing': ('fixmod.html#missing', 'fixmod.py')}}

def test_broken_fixture_is_reported(tmp_path):
    from cgankd.docs import build_docs
    syms = write_fixture(tmp_path/'nbs')
    r = build_docs(tmp_path/'nbs', tmp_path/'site', n_workers=0)
    assert not r['errors'] and [p['html'] for p in r['pages']] == ['index.html', 'fixmod.html']
    res = check_site(tmp_path/'site', syms, tmp_path/'site'/'_proc')
    probs = res['problems']
    print('\n'.join(probs))
    assert any('fixmod.missing: no show_doc block for missing on fixmod.html' in p for p in probs)
    assert not any('fixmod.good' in p for p in probs)                 # the documented one passes
    assert any('fixmod.html: plotly figure 2 does not render' in p for p in probs)
    assert not any('plotly figure 1 ' in p for p in probs)            # the figure saved with HTML renders
    assert any('fixmod.html: widget 1 has no snapshot' in p for p in probs)
    assert any('index.html: broken link to nothere.html' in p for p in probs)
    assert not any('fixmod.html#good' in p for p in probs)            # the good link resolves, anchor included
    assert len(probs) == 4, probs

# ---- the workflows --------------------------------------------------------------------------------------------------

def _lint(*files):
    return subprocess.run([sys.executable, '-m', 'check_jsonschema', '--builtin-schema', 'vendor.github-workflows', *map(str, files)],
                          capture_output=True, text=True, timeout=120)

def test_workflows_lint(tmp_path):
    "The deploy and test workflows against the GitHub workflow schema (SchemaStore's, shipped inside check-jsonschema)."
    files = [ROOT/'.github'/'workflows'/f for f in ('deploy.yaml', 'test.yaml')]
    p = _lint(*files)
    assert p.returncode == 0, p.stdout + p.stderr
    bad = tmp_path/'bad.yaml'
    bad.write_text((ROOT/'.github'/'workflows'/'deploy.yaml').read_text().replace('runs-on:', 'runs_on:'))
    p = _lint(bad)
    assert p.returncode != 0 and 'jobs.deploy' in p.stdout, p.stdout

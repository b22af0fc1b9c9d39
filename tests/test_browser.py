"""The widgets in a real browser: JupyterLab (a real server subprocess) driven through Chromium with Playwright; and
`cgankd run --selection NAME` on a selection saved the way the widgets' Apply saves it.

Run alone: `python -m pytest tests/test_browser.py -x`. The screenshots land in `test-artifacts/` (gitignored).
`python tests/test_browser.py` additionally copies the widget screenshots into `nbs/images/` (the pictures of
nbs/09_widgets.ipynb)."""
import json, os, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, run_cli

CHROMIUM = '/usr/bin/chromium'
ARTIFACTS = ROOT/'test-artifacts'
TUTORIAL = 'widgets_classification.ipynb'

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

class Lab:
    "A headless JupyterLab server on a free local port serving a copy of nbs/tutorials; always shut down by `close`."
    def __init__(self, tmp:Path):
        self.root, self.tok, self.port = tmp/'nbs', secrets.token_hex(16), _free_port()
        shutil.copytree(ROOT/'nbs'/'tutorials', self.root)
        settings = tmp/'lab-settings'/'@jupyterlab'/'apputils-extension'
        settings.mkdir(parents=True)
        (settings/'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
                   OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', JUPYTER_RUNTIME_DIR=str(tmp/'runtime'))
        self.log = open(tmp/'lab.log', 'w')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--ip=127.0.0.1', f'--port={self.port}',
             f'--IdentityProvider.token={self.tok}', f'--ServerApp.root_dir={self.root}', '--ServerApp.port_retries=0',
             '--allow-root', '--LabApp.extension_manager=readonly',
             '--ServerApp.terminals_enabled=False', f'--LabApp.user_settings_dir={tmp/"lab-settings"}',
             f'--LabApp.workspaces_dir={tmp/"lab-workspaces"}'],
            cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f'http://127.0.0.1:{self.port}'
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(f'{self.url}/api/status?token={self.tok}', timeout=2); break
            except OSError:
                if self.proc.poll() is not None or time.time() - t0 > 90:
                    self.close(); raise RuntimeError(f"JupyterLab did not start:\n{(tmp/'lab.log').read_text()[-3000:]}")
                time.sleep(0.3)

    def close(self):
        "Stop the server and its kernels (the whole process group)."
        if self.proc.poll() is None:
            try: os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError: pass
            try: self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL); self.proc.wait(5)
        self.log.close()

def _run_all_cells(page):
    page.get_by_role('menuitem', name='Run', exact=True).click()
    page.get_by_role('menuitem', name='Run All Cells', exact=True).click()

def _wait_idle(page, timeout_s=240):
    "Wait until every code cell has an execution number and the kernel is idle."
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim());
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t)) && ind && ind.getAttribute('data-status') === 'idle';
        }""", timeout=timeout_s * 1000, polling=500)

def _interact(page, lab, seen):
    page.goto(f'{lab.url}/lab/tree/{TUTORIAL}?token={lab.tok}')
    page.locator('.jp-Notebook .jp-Cell').first.wait_for(timeout=90_000)
    page.locator('#jp-main-statusbar').get_by_text('| Idle').wait_for(timeout=90_000)  # kernel connected
    _run_all_cells(page)
    kept = page.locator('.cgankd-label-viewer .cgankd-rho-kept .cgankd-kept-count')
    kept.wait_for(timeout=240_000)
    _wait_idle(page)
    printed = page.locator('.jp-OutputArea-output').filter(has_text='run directory:').first.text_content()
    seen['run_dir'] = printed.split('run directory:')[1].splitlines()[0].strip()
    seen['kept_before'] = int(kept.inner_text())
    viewer = page.locator('.cgankd-label-viewer')
    viewer.scroll_into_view_if_needed()
    handle = viewer.locator('.cgankd-rho .noUi-handle')
    handle.focus()
    for _ in range(3): handle.press('ArrowLeft')
    readout = viewer.locator('.cgankd-rho .widget-readout')
    page.wait_for_function("(el) => el.textContent.trim() !== '0.90'", arg=readout.element_handle(), timeout=30_000)
    seen['rho'] = float(readout.inner_text())
    # the kept count follows the slider once the kernel has answered
    page.wait_for_function("(a) => a[0].textContent.includes(a[1])",
                           arg=[viewer.locator('.cgankd-rho-kept').element_handle(), f"rho = {seen['rho']:.2f}"], timeout=60_000)
    seen['kept'] = int(kept.inner_text())
    viewer.locator('.cgankd-name input').fill('browser_pick')
    viewer.locator('.cgankd-apply').click()
    viewer.locator('.cgankd-saved').wait_for(timeout=60_000)
    seen['sel_dir'] = viewer.locator('.cgankd-sel-dir').inner_text()
    seen['status'] = viewer.locator('.cgankd-saved').inner_text()

PNG_STATS_JS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data, counts = new Map();
  for (let i = 0; i < d.length; i += 4) { const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2]; counts.set(k, (counts.get(k) || 0) + 1); }
  const top = Math.max(...counts.values());
  return {width: c.width, height: c.height, colors: counts.size, background_share: top / (c.width * c.height)};
}"""

def png_stats(browser, path) -> dict:
    "Decode the PNG screenshot (in Chromium, on a blank page): its size, number of distinct colours, share of the commonest."
    import base64
    pg = browser.new_page()
    try: return pg.evaluate(PNG_STATS_JS, 'data:image/png;base64,' + base64.b64encode(Path(path).read_bytes()).decode())
    finally: pg.close()

def drive_tutorial(tmp:Path, pictures:Path|None=None) -> dict:
    "Open the tutorial in JupyterLab, run it, move the rho slider, press Apply; return what the page showed."
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    lab, seen = Lab(tmp), {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox'])
            try:
                page = browser.new_page(viewport={'width': 1500, 'height': 1100})
                try: _interact(page, lab, seen)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS/'browser_failure.png'))
                    print(f"failure screenshot: {ARTIFACTS/'browser_failure.png'}"); raise
                shot = ARTIFACTS/'browser_widgets.png'
                page.screenshot(path=str(shot))
                seen['screenshot'] = str(shot)
                seen['shot_stats'] = png_stats(browser, shot)
                print(f"screenshot: {shot}")
                if pictures is not None:
                    pictures.mkdir(parents=True, exist_ok=True)
                    for css, name in [('cgankd-sample-browser', 'sample_browser'), ('cgankd-ratio-filter', 'density_ratio_filter'),
                                      ('cgankd-label-viewer', 'label_adjustment_viewer')]:
                        el = page.locator(f'.{css}').first
                        el.scroll_into_view_if_needed(); el.screenshot(path=str(pictures/f'{name}.png'))
            finally: browser.close()
    finally: lab.close()
    return seen

def test_tutorial_in_jupyterlab(tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium chromium-driver (the README's test command does)"
    from cgankd.widgets import RunView, kept_count, rho_kept
    from cgankd.bank import Selection
    seen = drive_tutorial(tmp_path)
    st = seen['shot_stats']  # the decoded screenshot is the whole viewport and shows a rendered page, not a blank one
    assert (st['width'], st['height']) == (1500, 1100), st
    assert st['colors'] > 200 and st['background_share'] < 0.95, st
    view = RunView(seen['run_dir'])
    base = view.selection('subsampling').indices
    assert seen['rho'] == pytest.approx(0.87)  # three steps of 0.01 down from the run's rho = 0.9
    assert seen['kept'] == kept_count(view.table, base, seen['rho'], view.num_groups)
    assert seen['kept_before'] == kept_count(view.table, base, 0.9, view.num_groups)
    # Apply saved the library's selection for that rho into the run directory
    assert Path(seen['sel_dir']) == view.sel_dir
    assert (view.sel_dir/'browser_pick.npz').exists() and (view.sel_dir/'browser_pick.json').exists()
    sel = Selection.load(view.sel_dir, 'browser_pick')
    ref, thr = rho_kept(view.table, base, seen['rho'], view.num_groups)
    np.testing.assert_array_equal(sel.indices, ref)
    np.testing.assert_array_equal(sel.labels, view.table['label'][view.rows(ref)])
    assert sel.params['rho'] == pytest.approx(0.87) and sel.params['base'] == 'subsampling' and sel.params['replace'] is False
    assert sel.params['networks'] == view.meta['networks'] and len(sel) == seen['kept']
    assert f"({seen['kept']} fakes)" in seen['status']
    run_tmp = Path(seen['run_dir']).parent  # the tutorial's tempfile.mkdtemp()
    if run_tmp.parent == Path(tempfile.gettempdir()): shutil.rmtree(run_tmp, ignore_errors=True)

def test_cli_selection_flag(tmp_path):
    "`cgankd run --selection NAME` trains the students on a selection saved by a widget's Apply, and records it."
    from cgankd.widgets import RunView, adjustment_selection
    out = tmp_path/'run'
    args = ['run', '--out', out, '--preset', 'smoke', '--quiet', '--set', 'student.archs=["mlp"]', '--set', 'student.steps=30']
    run_cli(*args)
    view = RunView(out)
    sel = adjustment_selection(view, 'rho60', rho=0.6, replace=True)
    p = run_cli(*args, '--selection', 'rho60')
    rep = json.loads((out/'report.json').read_text())
    assert rep['selection']['name'] == 'rho60' and rep['selection']['saved'] is True and rep['selection']['n'] == len(sel)
    assert rep['selection']['params']['rho'] == 0.6 and rep['selection']['params']['replace'] is True
    st = json.loads((out/'students'/'mlp'/'selection_rho60'/'done.json').read_text())['result']
    assert rep['students'][0]['cgankd'] == st['test_metric']
    assert '[student] mlp / rho60' in p.stdout and '[teacher] done, reusing' in p.stdout
    bad = run_cli(*args, '--selection', 'nope', check=False)
    assert bad.returncode == 2 and "no selection named 'nope'" in bad.stderr and 'rho60' in bad.stderr and 'Traceback' not in bad.stderr

if __name__ == '__main__':
    print(drive_tutorial(Path(tempfile.mkdtemp()), pictures=ROOT/'nbs'/'images'))

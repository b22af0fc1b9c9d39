"""Regenerate the docs' widget pictures (`nbs/images/sample_browser.png`, `density_ratio_filter.png`,
`label_adjustment_viewer.png`) from a finished run directory — a default-preset run, so the pictures show what a user
sees — by opening the three widgets in a headless JupyterLab and photographing them with Chromium through Playwright
(the way `tests/test_browser.py` drives the tutorial).

    python bench/doc_pictures.py RUN_DIR [--group 3] [--out nbs/images]

Prints what the density-ratio histogram holds (the spread of log r over the bank), so a picture of a pile at the floor
is noticed before it is committed.
"""
import argparse, json, shutil, sys, tempfile
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from test_browser import CHROMIUM, Lab, _run_all_cells, _wait_idle  # the JupyterLab server the browser test uses

PICTURES = [('cgankd-sample-browser', 'sample_browser'), ('cgankd-ratio-filter', 'density_ratio_filter'),
            ('cgankd-label-viewer', 'label_adjustment_viewer')]

def widgets_notebook(run_dir:Path, group:int) -> dict:
    "A notebook that opens the three widgets on `run_dir`, as the tutorials do."
    import nbformat
    src = [f"from pathlib import Path\nfrom cgankd.widgets import SampleBrowser, DensityRatioFilter, LabelAdjustmentViewer\nout = Path({str(run_dir)!r})",
           f"browser = SampleBrowser.from_run(out, per_page=30)\nbrowser.order.value = 'log r ascending'\nbrowser.group.value = {group}\nbrowser",
           "ratio = DensityRatioFilter.from_run(out, pct=20)\nratio",
           "viewer = LabelAdjustmentViewer.from_run(out)\nviewer"]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in src],
                                    metadata={'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}})

def log_r_spread(run_dir:Path) -> dict:
    "What the density-ratio histogram will show: quantiles of log r over the bank and the share at the floor."
    from cgankd.widgets import RunView
    v = np.asarray(RunView(run_dir).table['log_ratio'], dtype=float)
    q = np.quantile(v, [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1])
    return {'n': int(v.size), 'quantiles_0_5_25_50_75_95_100': [round(float(x), 2) for x in q],
            'at_floor': round(float(np.mean(v <= v.min() + 1e-3)), 3), 'distinct_0.1': int(np.unique(np.round(v, 1)).size)}

def take(run_dir:Path, out:Path, group:int=3) -> dict:
    "Open the widgets on the run in JupyterLab and save the three pictures into `out`."
    import nbformat
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp())
    try:
        lab = Lab(tmp)  # serves a copy of nbs/tutorials; the pictures notebook is added to it
        try:
            nbformat.write(widgets_notebook(run_dir, group), lab.root/'doc_pictures.ipynb')
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox'])
                try:
                    page = browser.new_page(viewport={'width': 1500, 'height': 1100})
                    page.goto(f'{lab.url}/lab/tree/doc_pictures.ipynb?token={lab.tok}')
                    page.locator('.jp-Notebook .jp-Cell').first.wait_for(timeout=90_000)
                    page.locator('#jp-main-statusbar').get_by_text('| Idle').wait_for(timeout=90_000)
                    _run_all_cells(page)
                    page.locator('.cgankd-label-viewer .cgankd-rho-kept .cgankd-kept-count').wait_for(timeout=300_000)
                    _wait_idle(page, 300)
                    out.mkdir(parents=True, exist_ok=True)
                    for css, name in PICTURES:
                        el = page.locator(f'.{css}').first
                        el.scroll_into_view_if_needed(); el.screenshot(path=str(out/f'{name}.png'))
                finally: browser.close()
        finally: lab.close()
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return {name: str(out/f'{name}.png') for _, name in PICTURES}

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('run_dir', help='a finished run directory (default preset)')
    p.add_argument('--group', type=int, default=3, help="the class the SampleBrowser shows")
    p.add_argument('--out', default=str(ROOT/'nbs'/'images'))
    a = p.parse_args()
    run_dir = Path(a.run_dir).resolve()
    if not (run_dir/'report.json').exists(): raise SystemExit(f"{run_dir}: no report.json; the run has not finished")
    cfg = json.loads((run_dir/'config.json').read_text())
    print('run:', run_dir, '| bank.n_fake', cfg['bank']['n_fake'], '| gan', cfg['gan'].get('name'))
    print('log r over the bank:', log_r_spread(run_dir))
    print(take(run_dir, Path(a.out), a.group))

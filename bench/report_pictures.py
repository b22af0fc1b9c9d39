"""Screenshots of finished runs' reports: re-render each run's `report.html` with the installed report code (from its
`report.json`, so an older run gets today's page), open it in headless Chromium through Playwright with every outside
request refused, wait until every plotly chart has drawn, and save a full-page screenshot.

    python bench/report_pictures.py RUN_DIR [RUN_DIR ...] [--out nbs/images]

Writes `report_default_<task>.png` per run into `--out` and prints, per run, the page size, the number of charts and
the headline, so what the picture shows can be quoted next to it.
"""
import argparse, json, shutil, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = '/usr/bin/chromium'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

def render(run_dir:Path, page_path:Path) -> dict:
    "Write the report page of `run_dir` to `page_path` with the current report code, from the run's bank, saved selections and real data, as the pipeline does; return the report dict."
    from cgankd.report.page import write_html_report
    from cgankd.widgets import RunView
    report, view = json.loads((run_dir/'report.json').read_text()), RunView(run_dir)
    sels = {n: view.selection(n) for n in view.selection_names()}
    write_html_report(report, page_path, run_dir=run_dir, bank=view.bank, selections=sels, real=view.real)
    return report

def shoot(page_path:Path, png:Path, width:int=1280) -> dict:
    "Open `page_path` offline in Chromium, wait for every chart, save a full-page screenshot; return what the page showed."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={'width': width, 'height': 900})
            errors, outside = [], []
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.route('**/*', lambda r: r.continue_() if r.request.url.startswith(('file://', 'data:')) else (outside.append(r.request.url), r.abort()))
            page.goto(page_path.as_uri())
            n = int(page.get_attribute('body', 'data-figures'))
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {n}", timeout=60_000)
            head = page.locator('#headline').inner_text()
            page.screenshot(path=str(png), full_page=True)
            if errors or outside: raise RuntimeError(f"{page_path}: page errors {errors}, outside requests {outside}")
            return {'charts': n, 'headline': ' '.join(head.split())}
        finally: browser.close()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('runs', nargs='+', type=Path, help='finished run directories (each with report.json)')
    ap.add_argument('--out', type=Path, default=ROOT/'nbs'/'images', help='where the screenshots go')
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    for run in a.runs:
        with tempfile.TemporaryDirectory() as d:
            page = Path(d)/'report.html'
            report = render(run, page)
            png = a.out/f"report_default_{report['task']}.png"
            info = shoot(page, png)
            print(json.dumps({'run': str(run), 'task': report['task'], 'page_bytes': page.stat().st_size,
                              'png': str(png), 'png_bytes': png.stat().st_size, **info}))

if __name__ == '__main__': main()

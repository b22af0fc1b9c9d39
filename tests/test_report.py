"""The run report in a real browser: Chromium (Playwright, headless, offline) opens a smoke run's `report.html`, finds the
headline with its interval and verdict, and checks that every plotly chart rendered with data.

Run alone: `python -m pytest tests/test_report.py -x`. The screenshot lands in `test-artifacts/report_smoke.png` (gitignored)."""
import re
from pathlib import Path
import pytest
from conftest import ROOT

CHROMIUM = '/usr/bin/chromium'
ARTIFACTS = ROOT/'test-artifacts'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

def test_report_in_browser(smoke_run):
    pw_api = pytest.importorskip('playwright.sync_api')
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium"
    from cgankd.report import verdict
    out, report, _ = smoke_run
    page_path = out/'report.html'
    size = page_path.stat().st_size
    assert size < 5_000_000, f"report.html is {size} bytes"  # plotly.js alone is ~4.8 MB
    ARTIFACTS.mkdir(exist_ok=True)
    with pw_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            errors, outside = [], []
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.on('console', lambda m: m.type == 'error' and errors.append(m.text))
            def route(r):  # the page must work offline: anything but the file itself is refused and recorded
                if r.request.url.startswith('file://') or r.request.url.startswith('data:'): r.continue_()
                else: outside.append(r.request.url); r.abort()
            page.route('**/*', route)
            page.goto(page_path.as_uri())
            n_fig = int(page.get_attribute('body', 'data-figures'))
            assert n_fig >= 5  # students, ablation, log r, acceptance per class, error bound
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {n_fig}", timeout=30_000)
            traces = page.evaluate("""[...document.querySelectorAll('.js-plotly-plot')].map(d => ({
                title: (d.layout && d.layout.title && d.layout.title.text) || '',
                n: d.data.length, points: d.querySelectorAll('.point').length}))  // bars and markers drawn in the SVG""")
            assert len(traces) == n_fig == page.locator('.plotly-graph-div').count()
            for t in traces: assert t['n'] > 0 and t['points'] > 0, t
            assert any('Students' in t['title'] for t in traces) and any('Ablation' in t['title'] for t in traces)
            head = page.locator('#headline').inner_text()
            m = re.search(r'\[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]', head)
            assert m and float(m.group(1)) <= float(m.group(2)), head
            e = report['effect']
            assert abs(float(m.group(1)) - e['lo']) < 0.006 and abs(float(m.group(2)) - e['hi']) < 0.006
            v = page.locator('#headline .verdict').inner_text()
            assert v == verdict(e) and v in ('helped', 'hurt', 'no measurable effect')
            assert page.locator('#headline').bounding_box()['y'] < page.locator('.js-plotly-plot').first.bounding_box()['y']
            assert page.locator('table.fk img').count() > 100  # fakes per arm, real images, dropped and kept
            assert page.locator('details summary', has_text='Resolved config').count() == 1
            page.screenshot(path=str(ARTIFACTS/'report_smoke.png'), full_page=True)
            assert not errors, errors
            assert not outside, outside
        finally: browser.close()

"""Write the benchmark summary the Results page reads: every finished run under ROOT/*/seed*/ (the run directories
`bench/digits_seeds.py --out ROOT/cls` and `--task regression --out ROOT/reg` leave), read by
`cgankd.bench_results.collect_results`, into a JSON file committed with the docs (default `bench/results/digits_default.json`).
Also prints the tables as the page shows them.

    python bench/write_results.py [--root /work/bench_runs] [--out bench/results/digits_default.json]
"""
import argparse, json, time
from pathlib import Path
from cgankd.bench_results import collect_results, results_markdown

p = argparse.ArgumentParser()
p.add_argument('--root', default='bench/runs', help='folder holding one folder per benchmark, each with seed*/ run directories')
p.add_argument('--pattern', default='*/seed*', help='run directories under --root')
p.add_argument('--out', default=str(Path(__file__).parent/'results'/'digits_default.json'))
a = p.parse_args()
res = collect_results(a.root, a.pattern)
if not res['tasks']: raise SystemExit(f"no finished run (report.json) under {a.root}/{a.pattern}")
res['written'] = time.strftime('%Y-%m-%d')
res['command'] = 'python bench/write_results.py ' + ' '.join(f'--{k} {v}' for k, v in vars(a).items() if k != 'out')
Path(a.out).parent.mkdir(parents=True, exist_ok=True)
Path(a.out).write_text(json.dumps(res, indent=1))
print(results_markdown(res))
print(f"\nwritten: {a.out} ({sum(map(len, res['tasks'].values()))} runs)")

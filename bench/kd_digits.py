"""Benchmark: NOKD, a classic KD method alone, cGAN-KD, and cGAN-KD + that method on the bundled digits, over seeds.

One default pipeline run per seed with `student.compare_kd` on, restricted to the first (default) student to save
time; the teacher, cGAN, density-ratio model and bank are the default run's. Prints per-seed rows and mean +- std
(test accuracy %, 500 test images). Runs are cached in --out, so a rerun only reprints (and finishes missing seeds);
`call_s` is the time this invocation spent on a seed (near 0 when it was cached).

    OMP_NUM_THREADS=1 python bench/kd_digits.py [--kd blkd] [--seeds 0 1 2] [--out bench/runs/kd_digits] [--set KEY=VALUE ...]
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from cgankd.pipeline import run
from cgankd.config import parse_set, make_config
from cgankd.kd import parse_kd_specs, kd_label

p = argparse.ArgumentParser()
p.add_argument('--kd', default='blkd', help="KD method(s), e.g. 'blkd' or 'crd:0.8,blkd'")
p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
p.add_argument('--out', default='bench/runs/kd_digits')
p.add_argument('--set', dest='sets', action='append', default=[])
a = p.parse_args()
specs = [[n, w] + ([hp] if hp else []) for n, w, hp in parse_kd_specs(a.kd)]
label = kd_label(specs).upper()
arch = make_config('default')['student']['archs'][0]
rows = []
for s in a.seeds:
    over = parse_set(a.sets); over['seed'] = s
    over.setdefault('student', {}).update({'archs': [arch], 'kd': specs, 'compare_kd': True})
    t0 = time.time()
    rep = run(Path(a.out)/f'seed{s}', overrides=over, progress=False, log=lambda m: print(f"  seed {s}: {m}", flush=True))
    rows.append((s, rep, time.time() - t0))
    print(f"seed {s} done in {time.time() - t0:.0f} s", flush=True)

cols = [('nokd', 'NOKD'), ('kd', label), ('cgankd', 'cGAN-KD'), ('cgankd+kd', f'cGAN-KD + {label}')]
rep0 = rows[0][1]
print(f"\ndata: {rep0['data']['name']}; teacher: {rep0['teacher']['arch']}; student: {arch}; KD: {rep0['kd']['methods']}; "
      f"cGAN-KD method: {rep0['method']}; metric: test {rep0['metric']} (%)")
print('| seed | teacher | ' + ' | '.join(c for _, c in cols) + ' | call_s |')
print('|---' * (len(cols) + 3) + '|')
for s, rep, secs in rows:
    st = rep['students'][0]
    print(f"| {s} | {rep['teacher']['test_metric']:.2f} | " + ' | '.join(f"{st[k]:.2f}" for k, _ in cols) + f" | {secs:.0f} |")
vals = {k: np.array([r[1]['students'][0][k] for r in rows]) for k, _ in cols}
tv = np.array([r[1]['teacher']['test_metric'] for r in rows])
print(f"| mean +- std | {tv.mean():.2f} +- {tv.std(ddof=1) if len(tv) > 1 else 0:.2f} | "
      + ' | '.join(f"{vals[k].mean():.2f} +- {vals[k].std(ddof=1) if len(rows) > 1 else 0:.2f}" for k, _ in cols) + ' | |')
print(json.dumps({'seeds': a.seeds, 'kd': specs, **{k: round(float(v.mean()), 2) for k, v in vals.items()}}))

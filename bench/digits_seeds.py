"""Benchmark: the default cGAN-KD configuration on the bundled digits for several seeds.

Prints a per-seed table for the default student (NOKD, each ablation step, cGAN-KD) and the mean gain of cGAN-KD
over NOKD, which issue 2 asks to be at least 2.0 points. Runs are cached in --out, so a rerun only reprints.

    python bench/digits_seeds.py [--seeds 0 1 2] [--out bench/runs] [--set KEY=VALUE ...]
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from cgankd.pipeline import run, parse_set

p = argparse.ArgumentParser()
p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
p.add_argument('--out', default='bench/runs/digits')
p.add_argument('--set', dest='sets', action='append', default=[])
a = p.parse_args()
rows = []
for s in a.seeds:
    t0 = time.time()
    over = parse_set(a.sets); over['seed'] = s
    rep = run(Path(a.out)/f'seed{s}', overrides=over, progress=False, log=lambda *_: None)
    rows.append((s, rep, time.time() - t0))
cols = ['nokd', 'unprocessed', 'subsampling', 'subsampling+filtering', 'subsampling+filtering+replacement']
arch = rows[0][1]['ablation']['arch']
print(f"default student: {arch}; teacher: {rows[0][1]['teacher']['arch']}; metric: test accuracy (%)")
hdr = ['seed', 'teacher'] + cols + ['cgankd', 'gain', 'run_s']
print(' | '.join(hdr))
gains = []
for s, rep, secs in rows:
    ab, st = rep['ablation'], rep['students'][0]
    gains.append(st['cgankd'] - st['nokd'])
    print(' | '.join([str(s), f"{rep['teacher']['test_metric']:.2f}"] + [f"{ab[c]:.2f}" for c in cols]
                     + [f"{st['cgankd']:.2f}", f"{gains[-1]:+.2f}", f"{rep['timings_s']['total']:.0f}"]))
mean = lambda k: np.mean([r[1]['students'][0][k] for r in rows])
print(' | '.join(['mean', f"{np.mean([r[1]['teacher']['test_metric'] for r in rows]):.2f}"]
                 + [f"{np.mean([r[1]['ablation'][c] for r in rows]):.2f}" for c in cols]
                 + [f"{mean('cgankd'):.2f}", f"{np.mean(gains):+.2f}", '']))
for s, rep, _ in rows[:1]:
    for st in rep['students'][1:]: print(f"other student {st['arch']} (seed {s}): NOKD {st['nokd']:.2f} -> cGAN-KD {st['cgankd']:.2f}")
print(json.dumps({'mean_nokd': round(mean('nokd'), 2), 'mean_cgankd': round(mean('cgankd'), 2),
                  'mean_gain': round(float(np.mean(gains)), 2), 'bar_met': bool(np.mean(gains) >= 2.0)}))

"""Benchmark: cGAN vs conditional diffusion fakes through the same cGAN-KD pipeline, side by side (issue 16).

For each task and generator (digits classification: biggan vs ddpm; digits-angle regression: ccgan vs ccdm) and each
seed, one full run with the same teacher, DRE, selection and student settings (only `gan.name` differs; the teacher,
evaluation network, DRE feature network and label embedding do not depend on the generator and are trained once per
task and seed, then copied). Reported per generator (means over seeds): generator training time, sampling throughput
(the sampler alone, and the bank's fused pass: sample + features + ratio + teacher), fake quality in the evaluation
network's feature space before cleaning (unprocessed arm) and after (the cGAN-KD arm), cDR-RS acceptance, and the
default student's NOKD -> cGAN-KD. Prints one table, then a JSON line. Runs are cached in --out, so a rerun only reprints.

    python bench/generators.py [--tasks classification regression] [--seeds 0 1 2] [--out DIR] [--set KEY=VALUE ...]
                               [--reduced]   # a shorter schedule for every generator alike (see REDUCED)
"""
import argparse, json, shutil, time
from pathlib import Path
import numpy as np
import torch
from cgankd.pipeline import run, _stage_gan
from cgankd.config import parse_set, extend
from cgankd.tasks import RunEnv
from cgankd.bank import counter_normals, prepare_for_inference

PAIRS = {'classification': ('biggan', 'ddpm'), 'regression': ('ccgan', 'ccdm')}
SHARED = ('teacher', 'eval', 'dre/feature', 'gan/y2h') # stages that do not depend on the generator
REDUCED = {'teacher': {'steps': 400}, 'eval': {'steps': 300}, 'dre': {'feature_steps': 300, 'steps': 300},
           'bank': {'n_fake': 2000, 'max_samples': 30000}, 'student': {'steps': 800},
           'gan': {'steps': 600, 'sample_steps': 8}}
REDUCED_TASK = {'classification': {}, 'regression': {'bank': {'n_fake': 1000}, 'gan': {'unet_ch': 16, 'embed_steps': 300, 'y2h_steps': 300}}}

p = argparse.ArgumentParser()
p.add_argument('--tasks', nargs='+', default=['classification', 'regression'], choices=list(PAIRS))
p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
p.add_argument('--out', default='bench/runs/generators')
p.add_argument('--set', dest='sets', action='append', default=[])
p.add_argument('--reduced', action='store_true', help='shorter schedules for every generator alike (REDUCED)')
a = p.parse_args()
out = Path(a.out)

@torch.inference_mode()
def sampler_rate(d:Path, n:int=2048) -> float:
    "Fakes per second of the run's trained generator alone (its inference copy, batches of 1024), labels cycling over groups."
    x = RunEnv(json.loads((d/'config.json').read_text()), d, progress=False, log=lambda *_: None)
    G, _, _ = _stage_gan(x)
    G, = prepare_for_inference(G)
    z = counter_normals(12345, torch.arange(n), G.dim_z)
    y = torch.arange(n) % 10 if x.task.name == 'classification' else (torch.arange(n) % 50).float() / 49
    G(z[:64], y[:64])  # warm-up
    t0 = time.time()
    for i in range(0, n, 1024): G(z[i:i + 1024], y[i:i + 1024])
    return n / (time.time() - t0)

rows = []
for task in a.tasks:
    for s in a.seeds:
        first = None
        for gen in PAIRS[task]:
            d = out/task/gen/f'seed{s}'
            over = extend(extend(REDUCED, REDUCED_TASK[task]) if a.reduced else {}, parse_set(a.sets))
            over = extend(over, {'task': task, 'seed': s, 'gan': {'name': gen}})
            if first is not None and not d.exists():  # the generator-independent stages of the first generator's run
                for st in SHARED:
                    if (first/st/'done.json').exists(): shutil.copytree(first/st, d/st)
            t0 = time.time()
            rep = run(d, overrides=over, progress=False, log=lambda *_: None)
            wall = time.time() - t0
            first = first or d
            tm, bank, diag = rep['timings_s'], rep['bank'], rep['diagnostics']
            st = rep['students'][0]
            rows.append({'task': task, 'generator': gen, 'seed': s, 'train_s': tm['gan'], 'dre_s': tm['dre'], 'bank_s': tm['bank'],
                         'total_s': tm['total'], 'wall_s': round(wall, 1),
                         'sampler_per_s': sampler_rate(d), 'fused_per_s': bank['generated'] / max(tm['bank'], 1e-9),
                         'acceptance': bank['accepted_subsampling'] / bank['generated'], 'generated': bank['generated'],
                         'fid_before': diag['unprocessed']['fid'], 'fid_after': diag[rep['method']]['fid'],
                         'kid_before': diag['unprocessed']['kid'], 'kid_after': diag[rep['method']]['kid'],
                         'label_before': diag['unprocessed']['label_score'], 'label_after': diag[rep['method']]['label_score'],
                         'precision_after': diag[rep['method']]['precision'], 'recall_after': diag[rep['method']]['recall'],
                         'student': st['arch'], 'metric': rep['metric'], 'nokd': st['nokd'], 'cgankd': st['cgankd'],
                         'dre_check_ok': (rep.get('dre_check') or {}).get('ok'), 'method': rep['method']})

cols = [('train_s', '.0f'), ('dre_s', '.0f'), ('bank_s', '.0f'), ('sampler_per_s', '.0f'), ('fused_per_s', '.0f'), ('acceptance', '.3f'),
        ('fid_before', '.2f'), ('fid_after', '.2f'), ('kid_before', '.3f'), ('kid_after', '.3f'), ('label_before', '.1f'),
        ('label_after', '.1f'), ('nokd', '.2f'), ('cgankd', '.2f')]
print(f"seeds {a.seeds}; schedule: {'reduced (REDUCED)' if a.reduced else 'default'}{'; --set ' + ' '.join(a.sets) if a.sets else ''}; "
      f"fake quality in the evaluation network's feature space, before cleaning = unprocessed arm, after = the cGAN-KD arm; "
      f"label = label score (classification: eval-net accuracy on fakes %, regression: its MAE on fakes); "
      f"train_s of the first generator of a regression pair includes the y2h label embedding, which the second reuses")
print(' | '.join(['task', 'generator', 'student'] + [c for c, _ in cols] + ['gain']))
summary = {}
for task in a.tasks:
    for gen in PAIRS[task]:
        rs = [r for r in rows if r['task'] == task and r['generator'] == gen]
        m = {c: float(np.mean([r[c] for r in rs])) for c, _ in cols}
        gain = m['cgankd'] - m['nokd']
        m['gain'] = gain if rs[0]['metric'] != 'mae' else -gain  # positive = cGAN-KD better
        summary[f'{task}/{gen}'] = {**{k: round(v, 4) for k, v in m.items()}, 'student': rs[0]['student'], 'metric': rs[0]['metric'], 'n_seeds': len(rs)}
        print(' | '.join([task, gen, rs[0]['student']] + [format(m[c], f) for c, f in cols] + [f"{m['gain']:+.2f}"]))
verdict = {}
for task in a.tasks:
    g, dm = (summary[f'{task}/{n}'] for n in PAIRS[task])
    verdict[task] = {'diffusion_beats_gan_for_student': dm['gain'] > g['gain'], 'gain_gan': g['gain'], 'gain_diffusion': dm['gain'],
                     'sampling_cost_ratio': round(g['sampler_per_s'] / max(dm['sampler_per_s'], 1e-9), 1)}
print(json.dumps({'seeds': a.seeds, 'reduced': a.reduced, 'sets': a.sets, 'summary': summary, 'verdict': verdict, 'runs': rows}))

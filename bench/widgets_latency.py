"""Slider-move latency of the widgets on a bank of 100,000 fakes.

The bank is written as real `FakeBank` shards (8x8 images: the bundled digits with noise) in a run directory with a
real `config.json`. Its scores are RANDOM DRAWS, not a network's (log ratio ~ N(per-class offset, 1), teacher right
80% of the time, teacher loss ~ Exp(1)): the widgets only query the table, so the latency does not depend on where the
scores came from. A move is timed from setting the slider's value to the return of the widget's observer: the table
query, the plotly FigureWidget update and the image-grid HTML. Without a browser attached, the widget messages are
serialised but not sent, so add a browser's render time (tens of ms) for what a person sees.

    PYTHONPATH=. python bench/widgets_latency.py [--n 100000] [--task classification|regression]
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np

def build_run(out:Path, n:int, task:str, shard_size:int=10_000, seed:int=0):
    "A run directory with `config.json` and a bank of `n` fakes with random-draw scores."
    from sklearn.datasets import load_digits
    from cgankd.core import save_json
    from cgankd.bank import FakeBank, bank_meta, make_selection, rejection_sample
    from cgankd.config import make_config
    cfg = make_config('default', {'task': task}); save_json(cfg, out/'config.json')
    reg = task == 'regression'
    K = cfg['bank']['n_grid'] if reg else 10
    meta = bank_meta(task, K, (1, 8, 8), shard_size, seed, label_range=(-45.0, 45.0) if reg else None, networks='random-draws')
    bank = FakeBank(out/'bank', meta)
    digits = (load_digits().images * (255 / 16)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    for k in range(-(-n // shard_size)):
        idx = np.arange(k * shard_size, min(n, (k + 1) * shard_size)); m = len(idx)
        g = idx % K
        label = (-45 + 90 * g / (K - 1)).astype(np.float32) if reg else g.astype(np.int64)
        if reg: pred = (label + rng.normal(0, 8, m)).astype(np.float32); loss = np.abs(pred - label).astype(np.float32)
        else:
            pred = np.where(rng.random(m) < 0.8, g, rng.integers(0, K, m)).astype(np.int64)
            loss = rng.exponential(1, m).astype(np.float32)
        img = np.clip(digits[rng.integers(0, len(digits), m)].astype(np.int16) + rng.integers(-20, 21, (m, 8, 8)), 0, 255).astype(np.uint8)[:, None]
        bank.write_shard(k, dict(images=img, index=idx, group=g, label=label, teacher_pred=pred, teacher_loss=loss,
                                 log_ratio=(rng.normal(0, 1, m) + 0.1 * (g % 5)).astype(np.float32)))
    t = bank.table()
    # the evaluation features the pipeline stores for the live KID/precision/recall (random draws too: fakes ~ N(0.2, 1))
    m = min(n, cfg["eval"]["widget_fakes"]); d = 128  # cnn_medium's feature width
    np.savez(out/'features.tmp.npz', index=np.sort(rng.choice(n, m, replace=False)), fake=(rng.normal(0.2, 1, (m, d))).astype(np.float32),
             real=rng.normal(0, 1, (1597, d)).astype(np.float32))
    (out/'diagnostics').mkdir(exist_ok=True); (out/'features.tmp.npz').rename(out/'diagnostics'/'features.npz')
    rs, _ = rejection_sample(t, n // K // 4, K, 100, seed, warn=False)
    make_selection(t, 'subsampling', rs).save(out/'selections')
    return out

def time_moves(widget, control, values, label):
    "Set `control.value` to each value in turn; return (label, per-move seconds)."
    ts = []
    for v in values:
        t0 = time.perf_counter(); control.value = v; ts.append(time.perf_counter() - t0)
    return label, ts

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=100_000); ap.add_argument('--task', default='classification')
    ap.add_argument('--out', default=None, help='run directory to build (default: a temporary one)')
    a = ap.parse_args(argv)
    from cgankd.widgets import RunView, SampleBrowser, DensityRatioFilter, LabelAdjustmentViewer
    out = Path(a.out or tempfile.mkdtemp()); out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter(); build_run(out, a.n, a.task); t_build = time.perf_counter() - t0
    t0 = time.perf_counter(); view = RunView(out); t_load = time.perf_counter() - t0
    print(f"bank: {len(view.table['index'])} fakes ({a.task}, random-draw scores) in {len(view.bank.shards())} shards; "
          f"written in {t_build:.1f}s, table read in {t_load:.2f}s")
    rows, built = [], {}
    for cls in (SampleBrowser, DensityRatioFilter, LabelAdjustmentViewer):
        t0 = time.perf_counter(); built[cls.__name__] = cls(view); print(f"{cls.__name__}: built in {time.perf_counter() - t0:.2f}s")
    sb, drf, lav = built['SampleBrowser'], built['DensityRatioFilter'], built['LabelAdjustmentViewer']
    if view.reg: rows.append(time_moves(sb, sb.group, [(-45 + i, -35 + i) for i in range(0, 40, 4)], 'SampleBrowser: label range'))
    else: rows.append(time_moves(sb, sb.group, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0], 'SampleBrowser: class'))
    rows.append(time_moves(sb, sb.order, ['log r ascending', 'log r descending'] * 5, 'SampleBrowser: order by log r'))
    rows.append(time_moves(drf, drf.pct, [5, 10, 20, 30, 40, 50, 60, 70, 80, 90], 'DensityRatioFilter: percentile'))
    rows.append(time_moves(drf, drf.label, [1, 2, 3, -1] * 2, 'DensityRatioFilter: shown label'))
    drf.mode.value = 'cdr-rs'
    rows.append(time_moves(drf, drf.per_group, [10, 50, 100, 200, 400, 800, 1200, 1600, 2000, 2400], 'DensityRatioFilter: cDR-RS per label'))
    rows.append(time_moves(lav, lav.rho, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.85, 0.75, 0.65, 0.55], 'LabelAdjustmentViewer: rho (cDR-RS base)'))
    lav.base.value = -1  # the whole bank
    rows.append(time_moves(lav, lav.rho, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.85, 0.75, 0.65, 0.55], 'LabelAdjustmentViewer: rho (whole bank)'))
    print(f"\n{'widget: control':46s} {'moves':>5s} {'median ms':>10s} {'max ms':>8s}")
    allts = []
    for label, ts in rows:
        allts += ts
        print(f"{label:46s} {len(ts):5d} {1000 * statistics.median(ts):10.1f} {1000 * max(ts):8.1f}")
    print(f"\nall {len(allts)} slider moves: median {1000 * statistics.median(allts):.1f} ms, max {1000 * max(allts):.1f} ms "
          f"(target: under 100 ms on a 100,000-fake bank, the kept set's KID and precision/recall included)")

if __name__ == '__main__': sys.exit(main())

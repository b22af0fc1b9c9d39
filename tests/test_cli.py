"End-to-end tests of the `cgankd run` command on real files, in real subprocesses."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, run_cli, comparable, TINY, stopped, default_sigint

REPORT_KEYS = {'task', 'metric', 'data', 'seed', 'teacher', 'students', 'ablation', 'bank', 'timings_s'}
ABLATION_KEYS = {'arch', 'nokd', 'unprocessed', 'subsampling', 'subsampling+filtering', 'subsampling+filtering+replacement'}

def test_report_contract(smoke_run):
    out, rep, _ = smoke_run
    assert REPORT_KEYS <= set(rep)
    assert rep['task'] == 'classification' and rep['metric'] == 'accuracy'
    assert rep['data'] == {'name': 'digits', 'n_train': 200, 'n_test': 1597, 'image_shape': [1, 8, 8]}
    assert rep['teacher']['arch'] == 'cnn_large' and 0 <= rep['teacher']['test_metric'] <= 100
    assert [s['arch'] for s in rep['students']] == ['cnn_small', 'mlp']  # default student first
    assert set(rep['ablation']) == ABLATION_KEYS and rep['ablation']['arch'] == 'cnn_small'
    assert rep['students'][0]['nokd'] == rep['ablation']['nokd']
    assert rep['students'][0]['cgankd'] == rep['ablation'][rep['method']]
    b = rep['bank']
    assert b['generated'] >= b['accepted_subsampling'] >= b['kept_filtering'] > 0
    assert 0 <= b['labels_replaced'] <= b['kept_filtering']
    assert {'teacher', 'gan', 'dre', 'bank', 'students'} <= set(rep['timings_s'])
    html = (out/'report.html').read_text()
    assert 'Plotly.newPlot' in html and '<script src=' not in html.replace('"', '') and len(html) > 1_000_000  # offline: plotly.js embedded
    for sel in ['unprocessed', 'subsampling', 'subsampling+filtering', 'subsampling+filtering+replacement']:
        meta = json.loads((out/'selections'/f'{sel}.json').read_text())
        assert meta['params']['rho'] == 0.9 and meta['n'] > 0

def test_checkpoints_load_safely(smoke_run):
    import torch
    out, _, _ = smoke_run
    for f in ['teacher/model.pt', 'gan/G_ema.pt', 'dre/ratio.pt', 'students/cnn_small/nokd/model.pt']:
        sd = torch.load(out/f, map_location='cpu', weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in sd.values())

def test_tensorboard_has_every_loop_and_the_report(smoke_run):
    "`--tensorboard`: each training loop's losses at the logging interval, and the report's numbers, read back with TensorBoard's reader."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out, rep, _ = smoke_run
    ea = EventAccumulator(str(out/'tb'), size_guidance={'scalars': 0, 'images': 0}); ea.Reload()
    tags = set(ea.Tags()['scalars'])
    cfg = json.loads((out/'config.json').read_text())
    loops = {'teacher': cfg['teacher']['steps'], 'gan': cfg['gan']['steps'], 'dre': cfg['dre']['steps'],
             'dre-features': cfg['dre']['feature_steps'], 'eval-network': cfg['eval']['steps'],
             **{f"{s['arch']}/{v}": cfg['student']['steps'] for s in rep['students'] for v in ('nokd', rep['method'])},
             **{f"{rep['ablation']['arch']}/{a}": cfg['student']['steps'] for a in rep['ablation'] if a not in ('arch', 'nokd')}}
    for loop, steps in loops.items():
        name = f'{loop}/d_loss' if loop == 'gan' else f'{loop}/loss'
        assert name in tags, (name, sorted(tags))
        got = [e.step for e in ea.Scalars(name)]
        assert got == sorted(set(list(range(0, steps, 10)) + [steps - 1])), (name, got)  # every 10 steps and the last one
    first, last = (ea.Scalars('teacher/loss')[i].value for i in (0, -1))
    assert last < 0.7 * first, (first, last)  # it is the training loss, not a constant
    assert {'dre/val_loss', 'gan/g_loss', 'dre/r_real', 'dre/r_fake', 'teacher/lr'} <= tags
    lr = [e.value for e in ea.Scalars('teacher/lr')]
    assert max(lr) == pytest.approx(cfg['teacher']['lr'], rel=0.2) and lr[-1] < 0.1 * max(lr)  # warm-up, then cosine decay
    grids = ea.Images('gan/samples')
    assert [g.step for g in grids] == [0, cfg['gan']['steps'] - 1] and grids[-1].width > 0  # every 100 steps and the last
    assert ea.Scalars('report/teacher/test_metric')[0].value == pytest.approx(rep['teacher']['test_metric'])
    for s in rep['students']:
        for k in ('nokd', 'cgankd'): assert ea.Scalars(f"report/students/{s['arch']}/{k}")[0].value == pytest.approx(s[k])
    assert ea.Scalars('report/bank/generated')[0].value == rep['bank']['generated']
    assert any(t.startswith('report/diagnostics/subsampling/') for t in tags)

def test_rerun_skips_finished_stages(smoke_run):
    out, rep, _ = smoke_run
    p = run_cli('run', '--data', 'digits', '--task', 'classification', '--out', out, '--preset', 'smoke', '--quiet')
    assert '[teacher] done, reusing' in p.stdout and '[gan] done, reusing' in p.stdout and '[student]' not in p.stdout
    assert comparable(json.loads((out/'report.json').read_text())) == comparable(rep)

def _wait_for(path, proc, timeout=300):
    t0 = time.time()
    while not Path(path).exists():
        assert proc.poll() is None, f"run ended before {path} appeared"
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.01)

# ---- resume after a real SIGKILL in every stage (and a SIGINT), both tasks -----------------------------------------
EVERY, STEPS, AT = 5, 40, 13  # checkpoints every 5 steps; each stage is interrupted after step 13, its last checkpoint at
# step 10: three steps of work are lost and redone, and a restart from 0 would show (a checkpoint at step 5)
RESUME = {
    'classification': ['--data', 'digits', '--task', 'classification', '--seed', '3', '--set', 'teacher.arch="cnn_small"',
                       '--set', 'dre.feature_steps=10'],
    'regression': ['--data', 'digits-angle', '--task', 'regression', '--seed', '3', '--set', 'teacher.arch="cnn_small"',
                   '--set', 'gan.embed_steps=10', '--set', 'gan.y2h_steps=20', '--set', 'dre.feature_steps=10'],
}
COMMON = ['--preset', 'smoke', '--quiet', '--set', f'checkpoint_every={EVERY}', '--set', f'teacher.steps={STEPS}',
          '--set', f'gan.steps={STEPS}', '--set', f'dre.steps={STEPS}', '--set', f'student.steps={STEPS}',
          '--set', 'student.archs=["cnn_small"]', '--set', 'bank.shard_size=25']
ENV = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')

def _ckpt_step(f):
    "The step counter of a training checkpoint (-1 while there is none)."
    import torch
    try: return int(torch.load(f, map_location='cpu', weights_only=True)['step'])
    except Exception: return -1  # absent (or, never with atomic writes, half written)

class _Watch:
    "Poll a checkpoint's step counter while a process runs: every value seen (a resumed stage never goes back)."
    def __init__(self, f): self.f, self.seen, self.stop = f, [], False
    def run(self):
        while not self.stop:
            s = _ckpt_step(self.f)
            if s >= 0 and (not self.seen or self.seen[-1] != s): self.seen.append(s)
            time.sleep(0.005)

def _interrupt(cmd, stop, sig, tmp, watch=None, timeout=300):
    """Start the CLI with `CGANKD_STOP_AT=stop` (`cgankd.core.stop_point`: it stops itself with SIGSTOP there, however fast
    or slow the machine is), then send the real `sig` and SIGCONT; return its exit code and stdout lines."""
    import threading
    log = tmp/f'{len(list(tmp.glob("log*")))}.log'
    with open(log, 'w') as f:
        p = subprocess.Popen(cmd, cwd=ROOT, env={**ENV, 'CGANKD_STOP_AT': stop}, stdout=f, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=default_sigint)
    th = threading.Thread(target=watch.run, daemon=True) if watch else None
    if th: th.start()
    t0 = time.time()
    try:
        while not stopped(p.pid):
            assert p.poll() is None, f"the run ended without reaching {stop}: {log.read_text()[-3000:]}"
            assert time.time() - t0 < timeout, f"{stop} not reached in {timeout} s"
            time.sleep(0.005)
        p.send_signal(sig); os.kill(p.pid, signal.SIGCONT)
        p.wait(timeout=120)
    finally:
        if p.poll() is None: p.kill(); p.wait()
        if th: watch.stop = True; th.join()
    return p.returncode, log.read_text().splitlines()

def _pt_files(d): return sorted(str(f.relative_to(d)) for f in Path(d).rglob('*.pt'))

def _assert_same_weights(a, b):
    "Every checkpoint of run `b` (networks and training checkpoints) holds exactly the tensors of run `a`'s."
    import torch
    fa = _pt_files(a); assert fa == _pt_files(b) and len(fa) >= 8, (fa, _pt_files(b))
    def flat(o, p=''):
        if isinstance(o, dict): return {k2: v2 for k, v in o.items() for k2, v2 in flat(v, f'{p}/{k}').items()}
        if isinstance(o, (list, tuple)): return {k2: v2 for i, v in enumerate(o) for k2, v2 in flat(v, f'{p}/{i}').items()}
        return {p: o}
    for f in fa:
        x, y = (flat(torch.load(Path(r)/f, map_location='cpu', weights_only=True)) for r in (a, b))
        assert x.keys() == y.keys(), f
        for k in x:
            if isinstance(x[k], torch.Tensor): assert torch.equal(x[k], y[k]), f'{f}:{k}'
            else: assert x[k] == y[k], f'{f}:{k}'
    for s in sorted(Path(a, 'bank').glob('shard_*.npz')):
        with np.load(s) as za, np.load(Path(b, 'bank', s.name)) as zb:
            for k in za.files: np.testing.assert_array_equal(za[k], zb[k], err_msg=f'{s.name}:{k}')

@pytest.mark.parametrize('task', ['classification', 'regression'])
def test_kill_every_stage_and_resume_equals_uninterrupted(tmp_path, task):
    args = [*RESUME[task], *COMMON]
    ref, out = tmp_path/'ref', (tmp_path/'killed').resolve()
    run_cli('run', '--out', ref, *args)
    args = [*args, '--tensorboard'] if task == 'classification' else args  # (logging must not change what a run trains)
    cmd = [sys.executable, '-m', 'cgankd.cli', 'run', '--out', str(out), *args]
    st = lambda *p: out.joinpath(*p)
    stu = 'students/cnn_small/subsampling'
    # (the stage's line, its training checkpoint (None: the bank), the signal); each stage stops after step AT (the
    # bank after its third shard), is sent the signal there, and the next invocation resumes it
    plan = [('[teacher] training', st('teacher', 'ckpt.pt'), signal.SIGKILL if task == 'classification' else signal.SIGINT),
            ('[gan] training', st('gan', 'ckpt.pt'), signal.SIGKILL),
            ('[dre] training ratio model', st('dre', 'ckpt.pt'), signal.SIGINT if task == 'classification' else signal.SIGKILL),
            ('[bank] generating', None, signal.SIGKILL),
            ('[student] cnn_small / subsampling ', st(*stu.split('/'), 'ckpt.pt'), signal.SIGKILL)]
    watch, prev = None, None
    for line, ck, sig in plan:
        rc, lines = _interrupt(cmd, f"{ck}@{AT}" if ck else f"{st('bank')}@2", sig, tmp_path, watch)
        assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL), (line, rc, lines[-5:])
        assert any(l.startswith(line) for l in lines), (line, lines)  # the signal landed in this stage
        if watch:  # the stage interrupted last time resumed from its checkpoint: its step counter never went back
            assert watch.seen and min(watch.seen) >= prev, (line, watch.seen, prev)
        if ck:
            prev = _ckpt_step(ck); assert prev == AT // EVERY * EVERY, (line, prev)  # the last checkpoint before the signal
            assert not ck.parent.joinpath('done.json').exists()
        else: assert len(list(st('bank').glob('shard_*.npz'))) == 3
        watch = _Watch(ck) if ck else None
        assert not st('report.json').exists()
    assert st('dre', 'done.json').exists()
    w = _Watch(st(*stu.split('/'), 'ckpt.pt')); import threading; th = threading.Thread(target=w.run, daemon=True); th.start()
    done = run_cli('run', '--out', out, *args)
    w.stop = True; th.join()
    assert w.seen and min(w.seen) >= prev, (w.seen, prev)
    assert '[dre] done, reusing' in done.stdout and 'cnn_small / nokd' not in done.stdout
    assert comparable(json.loads(st('report.json').read_text())) == comparable(json.loads((ref/'report.json').read_text()))
    _assert_same_weights(ref, out)
    if task == 'classification': assert list(st('tb').glob('events.out.tfevents.*')), 'no TensorBoard events'

def _digits28(path):
    "A real 28x28 grayscale digits set in the .npz contract (sklearn's digits upsampled), written to `path`."
    import torch, torch.nn.functional as F
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images[:, None] * (255 / 16), dtype=torch.float32)
    x = F.interpolate(x, size=(28, 28), mode='bilinear', align_corners=False).round().clamp(0, 255).to(torch.uint8).numpy()
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(1); perm = rng.permutation(len(y))
    tr = np.concatenate([perm[y[perm] == c][:15] for c in range(10)]); te = np.concatenate([perm[y[perm] == c][15:45] for c in range(10)])
    np.savez(path, images=x[tr, 0], labels=y[tr], images_test=x[te, 0], labels_test=y[te])
    return path

def test_npz_dataset_runs_unchanged(tmp_path):
    f = _digits28(tmp_path/'digits28.npz')
    out = tmp_path/'run'
    run_cli('run', '--data', f, '--task', 'classification', '--out', out, '--preset', 'smoke', '--quiet', *TINY)
    rep = json.loads((out/'report.json').read_text())
    assert rep['data'] == {'name': 'digits28.npz', 'n_train': 150, 'n_test': 300, 'image_shape': [1, 32, 32]}
    assert any('28x28 to 32x32' in n for n in rep['notes'])
    assert '28x28 to 32x32' in (out/'report.html').read_text()

@pytest.mark.parametrize('bad,field', [
    (dict(drop='labels_test'), "missing key 'labels_test'"),
    (dict(images=np.zeros((20, 8, 8), np.float32)), "field 'images' has dtype float32"),
    (dict(images=np.zeros((20, 8, 10), np.uint8)), "expected square images"),
    (dict(labels=np.array([np.nan] + [0.0, 1.0] * 9 + [1.0])), "NaN"),
    (dict(labels=np.array([0, 2] * 10)), "no training images for class 1"),
    (dict(images_test=np.zeros((6, 16, 16), np.uint8)), "'images_test'"),
])
def test_bad_npz_gives_clear_cli_error(tmp_path, bad, field):
    arrays = dict(images=np.zeros((20, 8, 8), np.uint8), labels=np.array([0, 1] * 10),
                  images_test=np.zeros((6, 8, 8), np.uint8), labels_test=np.array([0, 1] * 3))
    drop = bad.pop('drop', None)
    arrays.update(bad)
    if drop: arrays.pop(drop)
    f = tmp_path/'bad.npz'; np.savez(f, **arrays)
    p = run_cli('run', '--data', f, '--out', tmp_path/'run', '--preset', 'smoke', '--quiet', check=False)
    assert p.returncode == 2, p.stderr
    assert 'bad.npz' in p.stderr and field in p.stderr and 'Traceback' not in p.stderr

def test_unknown_dataset_lists_known(tmp_path):
    p = run_cli('run', '--data', 'mnist', '--out', tmp_path/'r', check=False)
    assert p.returncode == 2 and 'digits' in p.stderr

"End-to-end tests of the `cgankd run` command on real files, in real subprocesses."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, run_cli, comparable, TINY

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

def test_kill_and_resume_equals_uninterrupted(tmp_path):
    args = ['--preset', 'smoke', '--quiet', '--set', 'gan.steps=120', '--set', 'student.steps=120', '--seed', '5']
    ref = tmp_path/'ref'
    run_cli('run', '--out', ref, *args)
    out = tmp_path/'killed'
    cmd = [sys.executable, '-m', 'cgankd.cli', 'run', '--out', str(out), *args]
    # first kill: in the middle of GAN training, right after its first checkpoint
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(out/'gan'/'ckpt.pt', p); p.send_signal(signal.SIGKILL); p.wait()
    assert not (out/'gan'/'done.json').exists() and (out/'teacher'/'done.json').exists()
    # second kill: in the middle of a student's training
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(out/'students'/'cnn_small'/'unprocessed'/'ckpt.pt', p); p.send_signal(signal.SIGKILL); p.wait()
    assert not (out/'students'/'cnn_small'/'unprocessed'/'done.json').exists()
    done = run_cli('run', '--out', out, *args)
    assert '[gan] done, reusing' in done.stdout and 'cnn_small / nokd' not in done.stdout
    assert comparable(json.loads((out/'report.json').read_text())) == comparable(json.loads((ref/'report.json').read_text()))

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

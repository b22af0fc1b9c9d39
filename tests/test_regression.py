"End-to-end tests of `cgankd run --task regression` on real files, in real subprocesses."
import json
import numpy as np
import pytest
from conftest import run_cli, TINY
pytestmark = pytest.mark.xdist_group('regression')  # one worker builds this file's shared run (pytest -n: --dist loadgroup)

ABLATION_KEYS = {'arch', 'nokd', 'unprocessed', 'subsampling', 'subsampling+filtering', 'subsampling+filtering+replacement'}

@pytest.fixture(scope='module')
def reg_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('reg')
    run_cli('run', '--data', 'digits-angle', '--task', 'regression', '--out', out, '--preset', 'smoke', '--quiet')
    return out, json.loads((out/'report.json').read_text())

def test_regression_report(reg_run):
    out, rep = reg_run
    assert rep['task'] == 'regression' and rep['metric'] == 'mae'
    assert rep['data']['name'] == 'digits-angle' and rep['data']['image_shape'] == [1, 16, 16]
    assert set(rep['ablation']) == ABLATION_KEYS
    assert rep['method'] == 'subsampling+filtering+replacement'  # replacement is on by default for regression
    # MAE in degrees: every student, and the teacher, must beat the best constant predictor (the test labels' median,
    # an oracle: no net that ignores the images can do better)
    from cgankd.data import load_dataset
    ds = load_dataset('digits-angle', task='regression')
    yt = np.asarray(ds.labels_test, np.float64); base = float(np.abs(yt - np.median(yt)).mean())
    assert 5 < base < 90, base
    assert 0 <= rep['teacher']['test_metric'] < base, (rep['teacher'], base)
    for s in rep['students']: assert 0 <= s['nokd'] < base and 0 <= s['cgankd'] < base, (s, base)
    gan = json.loads((out/'gan'/'done.json').read_text())['result']
    assert gan['vicinal']['nu'] == pytest.approx(1 / gan['vicinal']['kappa'] ** 2)

def test_replacement_changes_the_labels_students_see(reg_run):
    from cgankd.bank import FakeBank, Selection
    out, rep = reg_run
    t = FakeBank(out/'bank').table()
    filt = Selection.load(out/'selections', 'subsampling+filtering')
    repl = Selection.load(out/'selections', 'subsampling+filtering+replacement')
    np.testing.assert_array_equal(filt.indices, repl.indices)
    pos = np.searchsorted(t['index'], repl.indices)
    np.testing.assert_array_equal(filt.labels, t['label'][pos])        # assigned grid labels
    np.testing.assert_array_equal(repl.labels, t['teacher_pred'][pos])  # the teacher's predictions
    assert np.abs(repl.labels - filt.labels).mean() > 0.1
    assert rep['bank']['labels_replaced'] == int((repl.labels != filt.labels).sum()) > 0
    # filtering kept the fakes whose teacher error is at most the global rho-quantile (rho = 0.7)
    thr = json.loads((out/'selections'/'subsampling+filtering.json').read_text())['stats']['thresholds']['all']
    assert (t['teacher_loss'][pos] <= thr + 1e-6).all()

def _rotated28(path, labels_override=None):
    "Rotated 28x28 digits with the angle (degrees) as label, in the .npz contract."
    import torch, torch.nn.functional as F
    from sklearn.datasets import load_digits
    d = load_digits(); rng = np.random.default_rng(0)
    x = torch.tensor(d.images[:450, None] * (255 / 16), dtype=torch.float32)
    x = F.interpolate(x, size=(28, 28), mode='bilinear', align_corners=False)
    ang = rng.uniform(-30, 30, len(x)).astype(np.float32)
    th = torch.tensor(np.deg2rad(ang))
    theta = torch.stack([torch.stack([th.cos(), -th.sin(), torch.zeros_like(th)], 1), torch.stack([th.sin(), th.cos(), torch.zeros_like(th)], 1)], 1).float()
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    y = ang if labels_override is None else labels_override
    np.savez(path, images=x[:150], labels=y[:150], images_test=x[150:], labels_test=ang[150:])
    return path

def test_regression_npz_runs_unchanged(tmp_path):
    f = _rotated28(tmp_path/'rot28.npz')
    out = tmp_path/'run'
    run_cli('run', '--data', f, '--task', 'regression', '--out', out, '--preset', 'smoke', '--quiet', *TINY,
            '--set', 'gan.embed_steps=20', '--set', 'gan.y2h_steps=50', '--set', 'bank.max_samples=4000')  # (the data's flow, not the bank's fill)
    rep = json.loads((out/'report.json').read_text())
    assert rep['metric'] == 'mae' and rep['data']['image_shape'] == [1, 32, 32] and rep['data']['n_test'] == 300
    assert any('28x28 to 32x32' in n for n in rep['notes'])

@pytest.mark.parametrize('labels,msg', [
    (np.full(150, 3.0), "is constant"),
    (np.array([0, 1] * 75), "only 2 distinct values"),
    (np.r_[np.inf, np.linspace(-30, 30, 149)], "NaN or infinite"),
])
def test_bad_regression_labels(tmp_path, labels, msg):
    f = _rotated28(tmp_path/'bad.npz', labels_override=labels)
    p = run_cli('run', '--data', f, '--task', 'regression', '--out', tmp_path/'run', '--preset', 'smoke', '--quiet', check=False)
    assert p.returncode == 2 and 'bad.npz' in p.stderr and msg in p.stderr and 'Traceback' not in p.stderr, p.stderr

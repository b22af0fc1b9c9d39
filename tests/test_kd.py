"cGAN-KD + each classic KD method on the bundled digits, with a smoke run's teacher and processed fakes; the CLI's --kd."
import json, math, shutil
import numpy as np
import pytest
import torch
from conftest import run_cli
from cgankd.core import load_checkpoint, CgankdError
from cgankd.data import load_dataset, fit_to_sizes
from cgankd.gan import GAN_SIZES
from cgankd.bank import FakeBank, Selection
from cgankd.models import create_model
from cgankd.train import train_classifier
from cgankd.kd import list_kd_losses, make_distiller, kd_defaults

SPATIAL = {'at', 'ft', 'nst', 'kdsvd'}  # refuse vector (MLP) features by design

@pytest.fixture(scope='module')
def parts(smoke_run):
    "The smoke run's trained cnn_large teacher, the real digits (200 train images) and 100 of its processed fakes."
    out = smoke_run[0]
    torch.set_num_threads(1)
    ds = fit_to_sizes(load_dataset('digits'), GAN_SIZES)
    teacher = create_model('cnn_large', img_size=ds.size)
    teacher.load_state_dict(load_checkpoint(out/'teacher'/'model.pt'))
    sel = Selection.load(out/'selections', 'subsampling+filtering')
    fakes = (FakeBank(out/'bank').images(sel.indices[:100]), np.asarray(sel.labels[:100]))
    return teacher.eval(), ds, fakes

def _one_epoch(teacher, student, ds, fakes, kd, task='classification', labels=None):
    labels = ds.labels if labels is None else labels
    bs, n = 64, len(ds.images) + len(fakes[0])
    steps = math.ceil(n / bs)  # one pass over real + fakes
    t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
    s0 = [p.detach().clone() for p in student.parameters()]
    with make_distiller(kd, teacher, student, ds.images, labels, fakes, task=task, steps=steps) as d:
        train_classifier(student, ds.images, labels, steps, batch_size=bs, seed=0, fakes=fakes, fake_fraction=0.5,
                         task=task, kd=d, progress=False)  # raises if the total loss is ever non-finite
        assert int(d.step) == steps
        assert all(np.isfinite(v) for v in d.last.values()) and set(d.last) == {n for n, _ in kd}
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in t0.items()), "the teacher changed"
    assert any(not torch.equal(p, q) for p, q in zip(student.parameters(), s0)), "the student did not move"
    return d

@pytest.mark.parametrize('method', list_kd_losses())
def test_cgankd_plus_method_one_epoch(parts, method):
    teacher, ds, fakes = parts
    torch.manual_seed(0)
    _one_epoch(teacher, create_model('cnn_small', img_size=ds.size), ds, fakes, [(method, None)])
    if method in SPATIAL:
        with pytest.raises(CgankdError, match='single position'):
            make_distiller([(method, None)], teacher, create_model('mlp', img_size=ds.size), ds.images, ds.labels, fakes)
    else:  # a CNN teacher and an MLP student (vector features)
        _one_epoch(teacher, create_model('mlp', img_size=ds.size), ds, fakes, [(method, None)])

def test_regression_feature_methods(parts):
    "Feature methods work for scalar regression (heads with one output); CRD draws uniform negatives."
    _, ds, fakes = parts
    torch.manual_seed(0)
    y = (ds.labels / 9.).astype(np.float32)
    fk = (fakes[0], (fakes[1] / 9.).astype(np.float32))
    teacher = create_model('cnn_medium', img_size=ds.size, task='regression')
    train_classifier(teacher, ds.images, y, 10, batch_size=64, task='regression', progress=False)
    d = _one_epoch(teacher, create_model('mlp', img_size=ds.size, task='regression'), ds, fk,
                   [('crd', None), ('fitnet', None), ('rkd', None)], task='regression', labels=y)
    assert d.losses['crd'].labels is None

def test_cli_kd_compare(smoke_run, tmp_path):
    out0, rep0, _ = smoke_run
    out = tmp_path/'run'; shutil.copytree(out0, out)  # reuse the finished stages: only the KD students train
    p = run_cli('run', '--out', out, '--preset', 'smoke', '--quiet', '--kd', 'blkd:1', '--compare-kd')
    n = json.loads((out/'selections'/'subsampling+filtering.json').read_text())['n']
    trained = [l for l in p.stdout.splitlines() if l.startswith('[student]')]
    assert trained == ['[student] cnn_small / kd-blkd', f'[student] cnn_small / cgankd+kd-blkd ({n} fakes)',
                       '[student] mlp / kd-blkd', f'[student] mlp / cgankd+kd-blkd ({n} fakes)'], trained
    rep = json.loads((out/'report.json').read_text())
    assert rep['kd'] == {'label': 'blkd', 'methods': [['blkd', 1.0]]}
    assert [s['arch'] for s in rep['students']] == ['cnn_small', 'mlp']
    for s, s0 in zip(rep['students'], rep0['students']):
        assert set(s) == {'arch', 'nokd', 'kd', 'cgankd', 'cgankd+kd'}
        assert s['nokd'] == s0['nokd'] and s['cgankd'] == s0['cgankd'] and 0 < s['kd'] <= 100 and 0 < s['cgankd+kd'] <= 100
        assert f"{s['arch']}: NOKD {s['nokd']:.2f}, blkd {s['kd']:.2f}, cGAN-KD {s['cgankd']:.2f}, cGAN-KD + blkd {s['cgankd+kd']:.2f}" in p.stdout
    assert (out/'students'/'mlp'/'cgankd_kd-blkd'/'model.pt').exists()
    assert rep['ablation'] == rep0['ablation']

@pytest.mark.parametrize('args,msg', [(['--task', 'regression', '--kd', 'blkd'], 'do not apply to regression'),
                                      (['--kd', 'crd,dkd:2', '--task', 'regression'], 'dkd distil class probabilities'),
                                      (['--kd', 'hint:100'], 'known KD methods: ab, at, blkd'),
                                      (['--compare-kd'], 'needs KD methods')])
def test_cli_kd_refusals(tmp_path, args, msg):
    p = run_cli('run', '--out', tmp_path/'r', '--preset', 'smoke', '--quiet', *args, check=False)
    assert p.returncode == 2 and msg in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path/'r').exists()  # refused before any work

"cGAN-KD + each classic KD method on the bundled digits, with a smoke run's teacher and processed fakes; the CLI's --kd."
import json, math, shutil, subprocess, sys
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
        assert all(np.isfinite(v) for v in d.last.values()) and set(d.last) == {k[0] for k in kd}
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in t0.items()), "the teacher changed"
    assert any(not torch.equal(p, q) for p, q in zip(student.parameters(), s0)), "the student did not move"
    return d

@pytest.mark.parametrize('method', [m for m in list_kd_losses() if m not in {'reviewkd', 'ofd', 'sskd'}])  # the issue-18 methods: test_new_methods_zoo_pairs_32
def test_cgankd_plus_method_one_epoch(parts, method):
    teacher, ds, fakes = parts
    torch.manual_seed(0)
    _one_epoch(teacher, create_model('cnn_small', img_size=ds.size), ds, fakes, [(method, None)])
    if method in SPATIAL:
        with pytest.raises(CgankdError, match='single position'):
            make_distiller([(method, None)], teacher, create_model('mlp', img_size=ds.size), ds.images, ds.labels, fakes)
    else:  # a CNN teacher and an MLP student (vector features)
        _one_epoch(teacher, create_model('mlp', img_size=ds.size), ds, fakes, [(method, None)])

NEW = [('reviewkd', None), ('ofd', None), ('sskd', None, {'head_steps': 10})]  # issue 18; SSKD's head briefly trained here

@pytest.mark.parametrize('spec', NEW, ids=[s[0] for s in NEW])
def test_new_methods_zoo_pairs_32(parts, spec):
    "cGAN-KD + ReviewKD / OFD / SSKD for one epoch on two zoo pairs of different families at 32x32 (digits and fakes upsampled x4)."
    _, ds, fakes = parts
    up = lambda a: torch.as_tensor(np.asarray(a)).repeat_interleave(4, -1).repeat_interleave(4, -2).numpy()
    assert ds.size == 8
    ds32 = type('DS', (), {'images': up(ds.images), 'labels': ds.labels, 'size': 32})()
    fk32 = (up(fakes[0]), fakes[1])
    for t_arch, s_arch in (('resnet32x4', 'shufflenetv1'), ('vgg13', 'mobilenetv2')):
        torch.manual_seed(0)
        teacher = create_model(t_arch, img_size=32, width_mult=0.25).eval()
        student = create_model(s_arch, img_size=32, width_mult=0.25)
        d = _one_epoch(teacher, student, ds32, fk32, [spec])
        if spec[0] == 'ofd': assert d.losses['ofd'].sources == ['bn'] * len(d.losses['ofd'].pairs)
        assert not any(k.startswith(('teacher', 'student')) for k in d.state_dict())

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

# ---- CRD under torchrun: the indices it receives are the rows of each rank's part of the batch
RANK_SCRIPT = r'''
import json, sys, torch
from cgankd.core import to_float
from cgankd.distributed import init_from_env, shutdown
from cgankd.models import create_model
from cgankd.train import train_classifier, batch_indices
from cgankd.kd import make_distiller
dist = init_from_env('cpu'); torch.set_num_threads(1)
import torch.distributed as td
def tdist_equal(p):  # the distiller's parameters stay equal on every rank (their gradients are averaged)
    q = p.detach().clone(); td.broadcast(q, 0); return torch.equal(p.detach(), q)
g = torch.Generator().manual_seed(0)
imgs, lab = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(30) % 10
fk = (torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(12) % 10)
union = to_float(torch.cat([imgs, fk[0]]))
torch.manual_seed(0); teacher, student = create_model('cnn_medium', img_size=8).eval(), create_model('cnn_small', img_size=8)
kd = make_distiller('crd,blkd', teacher, student, imgs, lab, fk, steps=4)
got = []
kd.losses['crd'].register_forward_pre_hook(lambda m, a, kw: got.append(kw['idx'].tolist()), with_kwargs=True)
kd.register_forward_pre_hook(lambda m, a, kw: torch.testing.assert_close(a[0], union[kw['idx']], rtol=0, atol=0), with_kwargs=True)
train_classifier(student, imgs, lab, 4, batch_size=8, seed=3, fakes=fk, fake_fraction=0.25, kd=kd, progress=False)
json.dump({'rank': dist.rank, 'world': dist.world, 'idx': got, 'step': int(kd.step),
           'crd_params_equal': all([tdist_equal(p) for p in kd.parameters()])},
          open(sys.argv[1] + f'/rank{dist.rank}.json', 'w'))
shutdown()
'''

def test_crd_gets_each_ranks_rows(tmp_path):
    "Two real processes (gloo): each rank's CRD receives its own part of every global batch (reals, then fakes), and the parts tile it."
    from test_distributed import ENV, _free_port
    from conftest import ROOT
    from cgankd.train import batch_indices
    (tmp_path/'rank.py').write_text(RANK_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
           f'--master_port={_free_port()}', str(tmp_path/'rank.py'), str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env={**ENV, 'PYTHONPATH': str(ROOT)})
    assert p.returncode == 0, p.stderr[-4000:]
    ranks = [json.loads((tmp_path/f'rank{r}.json').read_text()) for r in range(2)]
    assert [(r['rank'], r['world'], r['step'], len(r['idx']), r['crd_params_equal']) for r in ranks] == [(0, 2, 4, 4, True), (1, 2, 4, 4, True)]
    for step in range(4):
        real, fake = batch_indices(30, 6, step, 3, 0), 30 + batch_indices(12, 2, step, 3, 1)  # the global batch
        for r in range(2):
            assert ranks[r]['idx'][step] == torch.cat([real.tensor_split(2)[r], fake.tensor_split(2)[r]]).tolist()
        assert sorted(ranks[0]['idx'][step] + ranks[1]['idx'][step]) == sorted(torch.cat([real, fake]).tolist())

def test_cli_crd_under_torchrun(smoke_run, tmp_path):
    "`--kd crd` on 2 processes: the KD students train (the rest of the smoke run is reused) and rank 0 reports cgankd+kd."
    from test_distributed import torchrun
    out0, rep0, _ = smoke_run
    out = tmp_path/'run'; shutil.copytree(out0, out)
    p = torchrun(2, 'run', '--out', out, '--preset', 'smoke', '--quiet', '--kd', 'crd')
    trained = [l for l in p.stdout.splitlines() if l.startswith('[student]')]
    assert [l.split(' (')[0] for l in trained] == ['[student] cnn_small / cgankd+kd-crd', '[student] mlp / cgankd+kd-crd'], trained
    rep = json.loads((out/'report.json').read_text())
    assert rep['kd'] == {'label': 'crd', 'methods': [['crd', 0.8]]}
    for s, s0 in zip(rep['students'], rep0['students']):
        assert s['nokd'] == s0['nokd'] and s['cgankd'] == s0['cgankd'] and 0 < s['cgankd+kd'] <= 100, s
    assert (out/'students'/'cnn_small'/'cgankd_kd-crd'/'done.json').exists()

"Bring your own networks: an outside teacher checkpoint is evaluated and never trained, torchvision and Python students run end to end (with and without feature KD), bad networks are one-line errors, and a finished run's fakes and students leave through `cgankd generate` / `cgankd export`."
import json
from pathlib import Path
import numpy as np
import pytest
import torch
from torch import nn
from conftest import run_cli
from test_stages import FAST
pytestmark = pytest.mark.xdist_group('external')  # one worker builds this file's shared run (pytest -n: --dist loadgroup)

@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
    "A run that trains its own teacher and GAN (the source of the checkpoints reused below)."
    out = tmp_path_factory.mktemp('first')/'run'
    run_cli('run', '--out', out, *FAST)
    return out

def test_teacher_and_generator_from_checkpoints_are_not_trained(first_run, tmp_path):
    out = tmp_path/'second'
    p = run_cli('run', '--out', out, *FAST, '--teacher', first_run/'teacher'/'model.pt', '--set', 'teacher.arch="cnn_large"',
                '--generator', first_run/'gan'/'G_ema.pt')
    assert '[teacher] training' not in p.stdout and '[gan] training' not in p.stdout, p.stdout
    assert '[teacher] external --teacher' in p.stdout and 'GAN training skipped' in p.stdout
    assert not any((out/'teacher').glob('*.pt')) and not any((out/'gan').glob('*.pt'))  # no teacher/GAN weights or training checkpoints
    rep, rep1 = (json.loads((d/'report.json').read_text()) for d in (out, first_run))
    assert rep['teacher']['external'] == str((first_run/'teacher'/'model.pt').resolve()) and rep['teacher']['arch'] == 'cnn_large'
    assert rep['teacher']['test_metric'] == pytest.approx(rep1['teacher']['test_metric'], abs=1e-6)  # the same weights, evaluated again

def _bad(tmp_path, what, *extra):
    p = run_cli('run', '--out', tmp_path/'bad', *FAST, *extra, check=False)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert 'training' not in p.stdout, p.stdout  # refused before anything trains
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and what in err, err
    return err

def test_bad_external_teachers_are_clear_errors(tmp_path):
    from cgankd.models import create_model
    f = tmp_path/'t.pt'
    torch.save(create_model('cnn_large', num_classes=5).state_dict(), f)
    err = _bad(tmp_path, 'head.weight has shape (5, 256) in the file', '--teacher', f)
    assert str(f) in err and '10 classes' in err and 'expects (10, 256)' in err
    torch.save(create_model('cnn_large', in_channels=3).state_dict(), f)
    assert '1 channel(s)' in _bad(tmp_path, 'body.0.weight has shape (64, 3, 3, 3) in the file', '--teacher', f)
    torch.save(create_model('mlp').state_dict(), f)
    err = _bad(tmp_path, 'does not fit cnn_large: missing keys body.0.weight', '--teacher', f)
    assert 'unexpected keys' in err and 'more)' in err
    (tmp_path/'notes.pt').write_text('not a checkpoint')
    _bad(tmp_path, 'not a PyTorch checkpoint', '--teacher', tmp_path/'notes.pt')
    torch.save(create_model('cnn_large'), f)  # a whole pickled model
    _bad(tmp_path, 'weights_only=True) refuses this pickle', '--teacher', f)
    _bad(tmp_path, "unknown torchvision model 'resnet_nope'", '--set', 'student.archs=["torchvision:resnet_nope"]')

class PlainTeacher(nn.Module):
    "A teacher written by hand: no kd_layers, no head attribute."
    def __init__(self, n=10, c=1):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.classifier = nn.Linear(32, n)
    def forward(self, x): return self.classifier(self.convs(x).mean((2, 3)))

SMALL = {'teacher': {'steps': 20}, 'gan': {'steps': 10}, 'dre': {'steps': 10, 'feature_steps': 10},
         'student': {'steps': 4, 'batch_size': 16, 'archs': ['torchvision:resnet18']}, 'bank': {'n_fake': 100, 'max_samples': 2000}}

def test_python_teacher_and_torchvision_student_with_and_without_feature_kd(tmp_path):
    from cgankd.pipeline import run
    from cgankd.config import extend
    torch.manual_seed(0); teacher = PlainTeacher()
    logs = []
    rep = run(tmp_path/'run', 'smoke', SMALL, progress=False, log=logs.append, teacher=teacher)
    assert rep['teacher']['arch'] == 'PlainTeacher' and rep['teacher']['external'] == 'python module'
    assert not any('[teacher] training' in m for m in logs)
    assert rep['students'][0]['arch'] == 'torchvision:resnet18' and 0 <= rep['students'][0]['cgankd'] <= 100
    logs.clear()
    rep = run(tmp_path/'run', 'smoke', extend(SMALL, {'student': {'kd': [['fitnet', None]]}}), progress=False, log=logs.append, teacher=teacher)
    assert '[teacher] external teacher PlainTeacher (from Python): done, reusing' in logs
    assert any('teacher PlainTeacher has no kd_layers: using layers convs.1, convs.4 and head classifier' in m for m in logs), logs
    assert any('student torchvision:resnet18 has no kd_layers: using layers layer1, layer2, layer3, layer4 and head fc' in m for m in logs), logs
    assert rep['kd']['label'] == 'fitnet' and 'cgankd+kd' in rep['students'][0]

def test_python_student_module_and_bad_python_networks(tmp_path):
    from cgankd.pipeline import run
    from cgankd.core import CgankdError
    logs = []
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    rep = run(tmp_path/'ok', 'smoke', {**SMALL, 'student': {'steps': 4}}, progress=False, log=logs.append, students={'tiny': student})
    assert [s['arch'] for s in rep['students']] == ['tiny'] and (tmp_path/'ok'/'students'/'tiny'/'nokd'/'model.pt').exists()
    for kw, msg in [({'teacher': PlainTeacher(n=5)}, 'teacher PlainTeacher (from Python): gives outputs of shape (5,) per image, expected 10 class logits'),
                    ({'teacher': PlainTeacher(c=3)}, "fails on this run's 1-channel 8x8 images"),
                    ({'students': {'wide': lambda: PlainTeacher(n=7)}}, "student 'wide': gives outputs of shape (7,)")]:
        logs.clear()
        with pytest.raises(CgankdError, match=msg.replace('(', r'\(').replace(')', r'\)')): run(tmp_path/'bad', 'smoke', SMALL, progress=False, log=logs.append, **kw)
        assert not any('training' in m for m in logs), logs

def test_generate_round_trip(first_run, tmp_path):
    from cgankd.bank import FakeBank, Selection
    bank = FakeBank(first_run/'bank')
    run_cli('generate', '--run', first_run, '--n', 30, '--out', tmp_path/'f.npz')
    with np.load(tmp_path/'f.npz') as z:
        assert len(z['images']) == 30
        np.testing.assert_array_equal(z['images'], bank.images(z['index']))
        np.testing.assert_array_equal(z['labels'], bank.table()['label'][:30])
        np.testing.assert_array_equal(z['log_ratio'], bank.table()['log_ratio'][:30])
    sel = Selection.load(first_run/'selections', 'subsampling+filtering')
    run_cli('generate', '--run', first_run, '--n', 10, '--out', tmp_path/'s.npz', '--selection', 'subsampling+filtering')
    with np.load(tmp_path/'s.npz') as z:
        np.testing.assert_array_equal(z['index'], sel.indices[:10]); np.testing.assert_array_equal(z['labels'], sel.labels[:10])
        np.testing.assert_array_equal(z['images'], bank.images(sel.indices[:10]))
    run_cli('generate', '--run', first_run, '--n', 5, '--out', tmp_path/'folder')
    assert len(list((tmp_path/'folder'/'images').glob('*.png'))) == 5 and len((tmp_path/'folder'/'labels.csv').read_text().splitlines()) == 6
    p = run_cli('generate', '--run', first_run, '--n', 10**7, '--out', tmp_path/'x.npz', check=False)
    assert p.returncode == 2 and 'holds' in p.stderr

@pytest.mark.parametrize('fmt', ['torchscript', 'onnx'])
def test_export_matches_pytorch(first_run, tmp_path, fmt):
    from cgankd.export import load_student
    from cgankd.tasks import load_run_data
    from cgankd.core import to_float, load_json
    f = tmp_path/f'student.{fmt}'
    run_cli('export', '--run', first_run, '--student', 'cnn_small', '--format', fmt, '--out', f)
    m, cfg = load_student(first_run, 'cnn_small')
    x = to_float(torch.as_tensor(load_run_data(cfg).images_test))
    with torch.no_grad(): ref = m(x).numpy()
    if fmt == 'onnx':
        import onnxruntime as ort
        got = ort.InferenceSession(str(f), providers=['CPUExecutionProvider']).run(None, {'images': x.numpy()})[0]
    else: got = torch.jit.load(str(f))(x).detach().numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert ref.shape == (len(x), 10)

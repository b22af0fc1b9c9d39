"The four paper recipes, end to end through the real `cgankd run --recipe NAME --smoke` command, on small files written here in each real format."
import json, math, pickle
from pathlib import Path
import numpy as np
import pytest
from conftest import run_cli

def _cifar100(root, rng, k=4):
    "cifar-100-python/ with train, test and meta pickles in torchvision's (the archive's) format."
    d = root/'cifar-100-python'; d.mkdir(parents=True)
    for part, n in (('train', 32), ('test', 16)):
        with open(d/part, 'wb') as f:
            pickle.dump({'filenames': [f'{i}.png' for i in range(n)], 'batch_label': part, 'coarse_labels': [0] * n,
                         'fine_labels': [i % k for i in range(n)], 'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, f)
    with open(d/'meta', 'wb') as f: pickle.dump({'fine_label_names': [f'c{i}' for i in range(k)], 'coarse_label_names': ['all']}, f)

def _h5(path, size, test_key, labels, labels_test, rng):
    "An h5 file in the authors' layout: uint8 N x 3 x size x size images and one label per image."
    import h5py
    with h5py.File(path, 'w') as f:
        f['images_train'] = rng.integers(0, 256, (len(labels), 3, size, size), dtype=np.uint8); f['labels_train'] = labels
        f[f'images_{test_key}'] = rng.integers(0, 256, (len(labels_test), 3, size, size), dtype=np.uint8); f[f'labels_{test_key}'] = labels_test

WRITERS = {
    'cifar100': lambda root, rng: _cifar100(root, rng),
    'imagenet100': lambda root, rng: _h5(root/'ImageNet_128x128_100Class.h5', 128, 'valid', np.arange(24) % 4, np.arange(12) % 4, rng),
    'steering_angle': lambda root, rng: _h5(root/'SteeringAngle_64x64.h5', 64, 'test', rng.uniform(-88.13, 97.92, 40).astype(np.float32),
                                             rng.uniform(-80, 90, 20).astype(np.float32), rng),
    'utkface': lambda root, rng: _h5(root/'UTKFace_64x64.h5', 64, 'test', rng.integers(1, 61, 40).astype(np.float64),
                                      rng.integers(1, 61, 20).astype(np.float64), rng),
}
EXPECT = {'cifar100': ('classification', 'biggan32', [3, 32, 32]), 'imagenet100': ('classification', 'biggan_deep128', [3, 128, 128]),
          'steering_angle': ('regression', 'ccgan_sagan64', [3, 64, 64]), 'utkface': ('regression', 'ccgan_sagan64', [3, 64, 64])}

@pytest.mark.parametrize('name', list(WRITERS))
def test_recipe_smoke(name, tmp_path):
    data, out = tmp_path/'data', tmp_path/'run'
    data.mkdir(); WRITERS[name](data, np.random.default_rng(0))
    p = run_cli('run', '--recipe', name, '--data-root', data, '--smoke', '--out', out, '--quiet', timeout=1500)
    rep, cfg = json.loads((out/'report.json').read_text()), json.loads((out/'config.json').read_text())
    task, gan, shape = EXPECT[name]
    assert rep['task'] == task and rep['metric'] == ('accuracy' if task == 'classification' else 'mae')
    assert rep['data']['image_shape'] == shape  # read at the paper's size, not resized
    assert cfg['data'] == name and cfg['data_root'] == str(data) and cfg['gan']['name'] == gan
    assert cfg['teacher']['arch'] == rep['teacher']['arch'] and math.isfinite(rep['teacher']['test_metric'])
    assert [s['arch'] for s in rep['students']] == cfg['student']['archs'] and len(rep['students']) == 2
    n_test, method = rep['data']['n_test'], rep['method'].replace('+', '_')
    for s in rep['students']:
        for kind, folder in (('nokd', 'nokd'), ('cgankd', method)):  # the report's number is the trained student's own
            st = json.loads((out/'students'/s['arch']/folder/'done.json').read_text())['result']
            assert s[kind] == st['test_metric'], (s, kind, st)
            if task == 'classification':  # an accuracy over the n_test test images: a multiple of 100 / n_test
                k = s[kind] * n_test / 100; assert 0 <= s[kind] <= 100 and abs(k - round(k)) < 1e-6, (kind, s[kind])
            else: assert 0 <= s[kind] < 1000, (kind, s[kind])  # MAE in label units (labels here within 0..100)
    b = rep['bank']
    assert b['generated'] >= b['accepted_subsampling'] >= b['kept_filtering'] > 0
    assert rep['bank']['generated'] > 0 and rep['bank']['kept_filtering'] > 0
    assert (out/'gan'/'G_ema.pt').exists() and (out/'report.html').exists()
    assert f"{name}: {rep['students'][0]['arch']}" in p.stdout

def test_recipe_overrides_and_errors(tmp_path):
    p = run_cli('run', '--recipe', 'cifar10', '--out', tmp_path/'x', check=False)
    assert p.returncode == 2 and 'known recipes: cifar100, imagenet100, steering_angle, utkface' in p.stderr
    p = run_cli('run', '--recipe', 'utkface', '--data-root', tmp_path, '--smoke', '--out', tmp_path/'y', check=False)
    assert p.returncode == 2 and 'UTKFace_64x64.h5 not found' in p.stderr and 'Traceback' not in p.stderr
    p = run_cli('run', '--recipe', 'cifar100', '--smoke', '--out', tmp_path/'z', check=False)
    assert p.returncode == 2 and 'pass --data-root' in p.stderr
    bad = tmp_path/'bad'; bad.mkdir()
    _h5(bad/'SteeringAngle_64x64.h5', 64, 'test', np.full(8, 120., np.float32), np.zeros(4, np.float32), np.random.default_rng(0))
    p = run_cli('run', '--recipe', 'steering_angle', '--data-root', bad, '--smoke', '--out', tmp_path/'w', check=False)
    assert p.returncode == 2 and "field 'labels_train' has value 120" in p.stderr and 'SteeringAngle_64x64.h5' in p.stderr

"Each extension point takes one file: a model, a data reader, a generator family and a KD loss, all defined in one plugin module, run end to end through the real pipeline."
import json, subprocess, sys, textwrap
from conftest import ROOT, comparable

PLUGIN = '''
"One file adds a model, a reader, a generator family and a KD loss to cgankd."
import numpy as np, torch
from torch import nn
import torch.nn.functional as F
from cgankd.models import MODELS, ConvNet
from cgankd.data import DATASETS, ImageSet
from cgankd.gan import GANS, Generator, Discriminator
from cgankd.generators import GENERATORS, ClassGAN
from cgankd.kd import KD_LOSSES

@MODELS.register()
def tiny_cnn(in_channels, img_size, num_outputs, **kw):
    "A one-stage CNN."
    return ConvNet(in_channels, img_size, num_outputs, widths=(8,), depth=1, **kw)

@DATASETS.register('stripes')
def read_stripes(task='classification', **kw):
    "Two classes of 8x8 images: horizontal or vertical stripes, with noise."
    rng = np.random.default_rng(0)
    def make(n):
        y = np.arange(n) % 2
        base = np.tile((np.arange(8) % 2 * 200)[:, None], (1, 8))
        x = np.stack([base if c == 0 else base.T for c in y])[:, None] + rng.integers(0, 50, (n, 1, 8, 8))
        return x.clip(0, 255).astype(np.uint8), y.astype(np.int64)
    (x, y), (xt, yt) = make(64), make(32)
    return ImageSet(x, y, xt, yt, name='stripes', task=task, source={'reader': 'stripes'}).validate()

@GANS.register('narrow_biggan')
def narrow_biggan(img_size, channels, num_classes, dim_z=16, g_ch=8, d_ch=8, shared_dim=8):
    "BigGAN networks at a fixed narrow width, whatever the config says."
    return Generator(img_size, channels, num_classes, dim_z, 8, 8), Discriminator(img_size, channels, num_classes, 8)

@GENERATORS.register('narrow', task='classification')
def narrow(): "A class-conditional family on the narrow networks."; return ClassGAN('narrow_biggan')

class _L2(nn.Module):
    def forward(self, t, s, **kw): return F.mse_loss(s.logits, t.logits)

@KD_LOSSES.register('l2logits', weight=0.5, hparams={}, uses='logits', paper='(plugin test)')
def l2logits(t, s, info):
    "Mean squared error between logits."
    return _L2()
'''

def test_one_file_adds_model_reader_generator_and_kd_loss(tmp_path):
    (tmp_path/'myplugin.py').write_text(PLUGIN)
    out = tmp_path/'run'
    script = textwrap.dedent(f'''
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import myplugin
        from cgankd.pipeline import run
        rep = run({str(out)!r}, preset='smoke', progress=False, log=lambda *a: None, overrides={{
            'data': 'stripes', 'teacher': {{'arch': 'tiny_cnn', 'steps': 20}}, 'gan': {{'name': 'narrow', 'steps': 10, 'dim_z': 16}},
            'dre': {{'feature_arch': 'tiny_cnn', 'feature_steps': 10, 'steps': 10}},
            'bank': {{'n_fake': 40, 'burn_in': 4, 'max_samples': 1000, 'shard_size': 100}},
            'student': {{'archs': ['tiny_cnn'], 'steps': 10, 'kd': [['l2logits', None]]}}}})
    ''')
    p = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    rep = json.loads((out/'report.json').read_text())
    assert rep['data']['name'] == 'stripes' and rep['teacher']['arch'] == 'tiny_cnn'
    assert json.loads((out/'gan'/'done.json').read_text())['result']['name'] == 'narrow'
    assert rep['kd'] == {'label': 'l2logits', 'methods': [['l2logits', 0.5]]}
    assert set(rep['students'][0]) == {'arch', 'nokd', 'cgankd', 'cgankd+kd'}
    assert rep['teacher']['test_metric'] > 90  # stripes are easy: the plugin model really trained on the plugin data
